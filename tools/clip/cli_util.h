/* Helpers shared by the subcommands: option values, JSON output, model
 * loading with the common options. */
#ifndef CLIP_TOOL_CLI_UTIL_H
#define CLIP_TOOL_CLI_UTIL_H
#include <stdint.h>
#include <stdio.h>

#include "clip.h"

/* Parses a whole decimal integer in [min, max]; prints an error naming the
 * option otherwise. Returns 1 on success. */
int cli_parse_int(const char *option, const char *text, long min, long max, long *out);
void cli_json_string(FILE *out, const char *text);
void cli_json_floats(FILE *out, const float *values, int n);
/* Takes the global `--dtype f32|bf16|int8` (or --dtype=...) out of argv
 * (before any "--"), for cli_load_model; every command that loads a model
 * accepts it. Returns 0 (after printing why) for an unknown value. */
int cli_take_dtype(int *argc, char **argv);
/* Loads a model (with the --dtype taken above), printing "clip <cmd>:
 * <message>" on failure. */
int cli_load_model(const char *command, const char *path, int threads, const char *vocab, clip_model **out);
/* Prints "clip <cmd>: <what>: <clip_last_error()>" to stderr. */
void cli_error(const char *command, const char *what);
int cli_ends_with(const char *text, const char *suffix);
/* Growable array of strings (borrowed pointers into argv). */
typedef struct cli_list {
    const char **items;
    int count, capacity;
} cli_list;
int cli_list_push(cli_list *list, const char *item);
void cli_list_free(cli_list *list);
/* Progress line on stderr, only when stderr is a terminal. */
void cli_progress(const char *label, long done, long total);

#endif
