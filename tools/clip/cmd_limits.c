/* clip limits: the resource limits in force (after CLIP_LIMIT_* and any
 * leading `clip --limit NAME=VALUE`), one JSON line each, so a user who
 * hit CLIP_ERR_LIMIT sees every knob and its current value. */
#include <stdio.h>
#include <string.h>

#include "clip.h"
#include "commands.h"

int cmd_limits(int argc, char **argv) {
    if (argc > 1) {
        FILE *out = strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ? stdout : stderr;
        fputs("usage: clip [--limit NAME=VALUE]... limits\n\n"
              "Prints each resource limit as {\"name\", \"value\", \"default\", \"env\"}. Raise one for a\n"
              "single run with `clip --limit NAME=VALUE <command> ...` (before the command; VALUE is an\n"
              "integer with an optional K, M, G or T suffix) or for the process with the environment\n"
              "variable shown (CLIP_LIMIT_NAME). docs/reliability.md explains each.\n",
              out);
        return out == stdout ? 0 : 2;
    }
    const char *name, *env;
    uint64_t value, def;
    for (int i = 0; clip_limit_describe(i, &name, &env, &value, &def); i++)
        printf("{\"name\": \"%s\", \"value\": %llu, \"default\": %llu, \"env\": \"%s\"}\n", name,
               (unsigned long long)value, (unsigned long long)def, env);
    return 0;
}
