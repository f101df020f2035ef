/* TSV / CSV manifests: image path and caption per line (open_clip's
 * "filepath<TAB>title" layout; a header row naming the columns is
 * recognised). Relative paths are resolved against the manifest's folder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/limits.h"
#include "data/data_internal.h"

/* Splits one line into fields; CSV fields may be quoted with "" escapes. */
static int split_fields(char *line, char sep, char **fields, int max_fields) {
    int n = 0;
    char *p = line;
    while (n < max_fields) {
        if (sep == ',' && *p == '"') {
            char *w = ++p;
            fields[n++] = w;
            while (*p) {
                if (*p == '"' && p[1] == '"') {
                    *w++ = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    *w++ = *p++;
                }
            }
            *w = '\0';
            while (*p && *p != sep) p++;
        } else {
            fields[n++] = p;
            while (*p && *p != sep) p++;
        }
        if (*p != sep) break;
        *p++ = '\0';
    }
    return n;
}

static int is_name(const char *field, const char *const *names) {
    for (; *names; names++)
        if (strcasecmp(field, *names) == 0) return 1;
    return 0;
}

clip_status data_open_manifest(const char *path, clip_data *d) {
    FILE *fp = fopen(path, "r");
    if (!fp) return clip_fail(CLIP_ERR_IO, "%s: cannot open manifest", path);
    char sep = strcmp(path + strlen(path) - 4, ".csv") == 0 ? ',' : '\t';
    const char *slash = strrchr(path, '/');
    int dir_len = slash ? (int)(slash - path) : 0;
    static const char *const path_names[] = {"filepath", "path", "image", "image_path", "file", "url", NULL};
    static const char *const caption_names[] = {"title", "caption", "text", NULL};
    int path_col = 0, caption_col = 1;
    int64_t capacity = 0, line_no = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    clip_status st = CLIP_OK;
    d->kind = DATA_MANIFEST;
    while (st == CLIP_OK && (len = getline(&line, &cap, fp)) >= 0) {
        line_no++;
        if ((uint64_t)len > limit_value(LIMIT_MANIFEST_LINE)) {
            st = limit_fail(LIMIT_MANIFEST_LINE, "%s:%lld: line of %lld bytes is over the limit", path,
                            (long long)line_no, (long long)len);
            break;
        }
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        if (len == 0) continue;
        char *fields[16];
        int n = split_fields(line, sep, fields, 16);
        if (line_no == 1 && is_name(fields[0], path_names) + (n > 1 && is_name(fields[1], caption_names)) > 0) {
            for (int i = 0; i < n; i++) {
                if (is_name(fields[i], path_names)) path_col = i;
                if (is_name(fields[i], caption_names)) caption_col = i;
            }
            continue;
        }
        if (n <= path_col || n <= caption_col || !*fields[path_col]) {
            st = clip_fail(CLIP_ERR_FORMAT, "%s:%lld: expected an image path and a caption separated by %s", path,
                           (long long)line_no, sep == ',' ? "a comma" : "a tab");
            break;
        }
        if ((uint64_t)d->size >= limit_value(LIMIT_DATASET_ITEMS)) {
            st = limit_fail(LIMIT_DATASET_ITEMS, "%s:%lld: more than %lld items", path, (long long)line_no,
                            (long long)d->size);
            break;
        }
        if (d->size == capacity) {
            capacity = capacity ? capacity * 2 : 1024;
            char **paths = realloc(d->paths, (size_t)capacity * sizeof(char *));
            if (paths) d->paths = paths;
            char **captions = realloc(d->captions, (size_t)capacity * sizeof(char *));
            if (captions) d->captions = captions;
            if (!paths || !captions) {
                st = clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", path);
                break;
            }
        }
        const char *item = fields[path_col];
        size_t need = strlen(item) + (size_t)dir_len + 2;
        char *full = malloc(need);
        if (full) {
            if (item[0] == '/' || dir_len == 0) snprintf(full, need, "%s", item);
            else snprintf(full, need, "%.*s/%s", dir_len, path, item);
        }
        char *caption = strdup(fields[caption_col]);
        if (!full || !caption) {
            free(full);
            free(caption);
            st = clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", path);
            break;
        }
        d->paths[d->size] = full;
        d->captions[d->size] = caption;
        d->size++;
    }
    free(line);
    fclose(fp);
    return st;
}
