#include "cli_util.h"

#include "fetch/resolve.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cli_parse_int(const char *option, const char *text, long min, long max, long *out) {
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno || end == text || *end != '\0' || value < min || value > max) {
        fprintf(stderr, "clip: %s expects an integer in [%ld, %ld], got '%s'\n", option, min, max, text);
        return 0;
    }
    *out = value;
    return 1;
}

void cli_json_string(FILE *out, const char *text) {
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        default:
            if (*p < 0x20) fprintf(out, "\\u%04x", *p);
            else fputc(*p, out);
        }
    }
    fputc('"', out);
}

void cli_json_floats(FILE *out, const float *values, int n) {
    fputc('[', out);
    for (int i = 0; i < n; i++) fprintf(out, "%s%.9g", i ? ", " : "", values[i]);
    fputc(']', out);
}

void cli_error(const char *command, const char *what) {
    fprintf(stderr, "clip %s: %s%s%s\n", command, what ? what : "", what ? ": " : "", clip_last_error());
}

static clip_weight_dtype weight_dtype = CLIP_WEIGHT_F32;

int cli_take_dtype(int *argc, char **argv) {
    int out = 0;
    for (int i = 0; i < *argc; i++) {
        const char *value = NULL;
        int used = 0;
        if (strcmp(argv[i], "--") == 0) {
            while (i < *argc) argv[out++] = argv[i++];
            break;
        }
        if (strcmp(argv[i], "--dtype") == 0 && i + 1 < *argc) value = argv[i + 1], used = 2;
        else if (strncmp(argv[i], "--dtype=", 8) == 0) value = argv[i] + 8, used = 1;
        if (!value) {
            argv[out++] = argv[i];
            continue;
        }
        if (!clip_weight_dtype_from_name(value, &weight_dtype)) {
            fprintf(stderr, "clip: unknown --dtype '%s' (f32, bf16, int8)\n", value);
            return 0;
        }
        i += used - 1;
    }
    *argc = out;
    argv[out] = NULL;
    return 1;
}

int cli_load_model(const char *command, const char *path, int threads, const char *vocab, clip_model **out) {
    if (!path) {
        fprintf(stderr, "clip %s: a model is required (-m MODEL)\n", command);
        return 0;
    }
    clip_load_options opts = {.n_threads = threads, .vocab_path = vocab, .weight_dtype = weight_dtype};
    /* Known names (ViT-B-32, openai/clip-vit-base-patch32, URLs) come from
     * the download cache, fetched when missing; paths pass through. */
    char *resolved = NULL;
    if (clip_resolve_model(path, &resolved) != CLIP_OK) {
        cli_error(command, NULL);
        return 0;
    }
    clip_status st = clip_model_load(resolved, &opts, out);
    free(resolved);
    if (st != CLIP_OK) {
        cli_error(command, NULL);
        return 0;
    }
    return 1;
}

int cli_ends_with(const char *text, const char *suffix) {
    size_t a = strlen(text), b = strlen(suffix);
    return a >= b && strcmp(text + a - b, suffix) == 0;
}

int cli_list_push(cli_list *list, const char *item) {
    if (list->count == list->capacity) {
        int capacity = list->capacity ? list->capacity * 2 : 8;
        const char **grown = realloc(list->items, (size_t)capacity * sizeof *grown);
        if (!grown) return 0;
        list->items = grown;
        list->capacity = capacity;
    }
    list->items[list->count++] = item;
    return 1;
}

void cli_list_free(cli_list *list) {
    free(list->items);
    memset(list, 0, sizeof *list);
}

void cli_progress(const char *label, long done, long total) {
    if (!isatty(STDERR_FILENO)) return;
    fprintf(stderr, "\r%s %ld/%ld", label, done, total);
    if (done >= total) fputc('\n', stderr);
    fflush(stderr);
}
