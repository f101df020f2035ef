#include "labels.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int push(label_list *list, const char *start, size_t len) {
    while (len && isspace((unsigned char)*start)) start++, len--;
    while (len && isspace((unsigned char)start[len - 1])) len--;
    if (!len) return 1;
    char **grown = realloc(list->items, (size_t)(list->count + 1) * sizeof(char *));
    if (!grown) return 0;
    list->items = grown;
    if (!(list->items[list->count] = strndup(start, len))) return 0;
    list->count++;
    return 1;
}

int labels_from_csv(const char *csv, label_list *out) {
    out->items = NULL;
    out->count = 0;
    const char *start = csv;
    for (const char *p = csv;; p++) {
        if (*p == ',' || *p == '\0') {
            if (!push(out, start, (size_t)(p - start))) return 0;
            if (!*p) break;
            start = p + 1;
        }
    }
    return 1;
}

int labels_from_file(const char *path, label_list *out) {
    out->items = NULL;
    out->count = 0;
    FILE *fp = fopen(path, "r");
    if (!fp) {
        perror(path);
        return 0;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int ok = 1;
    while (ok && (len = getline(&line, &cap, fp)) >= 0) {
        if (len > 4096) {
            fprintf(stderr, "%s: a line longer than 4096 bytes\n", path);
            ok = 0;
        } else {
            ok = push(out, line, (size_t)len);
        }
    }
    free(line);
    fclose(fp);
    return ok;
}

void labels_free(label_list *list) {
    for (int i = 0; i < list->count; i++) free(list->items[i]);
    free(list->items);
    list->items = NULL;
    list->count = 0;
}
