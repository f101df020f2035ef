#include "index/sources.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/error.h"
#include "index/format.h"
#include "index/strmap.h"

static int add(idx_sources *s, char *text, uint64_t size, int64_t mtime_ns) {
    if (s->count == s->cap) {
        int64_t cap = s->cap ? s->cap * 2 : 64;
        idx_source *grown = realloc(s->items, (size_t)cap * sizeof *grown);
        if (!grown) return 0;
        s->items = grown;
        s->cap = cap;
    }
    s->items[s->count++] = (idx_source){text, size, mtime_ns};
    return 1;
}

static int add_missing(idx_sources *s, const char *path, const char *reason) {
    if (s->n_missing == s->missing_cap) {
        int64_t cap = s->missing_cap ? s->missing_cap * 2 : 16;
        char **a = realloc(s->missing, (size_t)cap * sizeof *a);
        if (a) s->missing = a;
        char **b = realloc(s->missing_reasons, (size_t)cap * sizeof *b);
        if (b) s->missing_reasons = b;
        if (!a || !b) return 0;
        s->missing_cap = cap;
    }
    char *p = strdup(path), *r = strdup(reason);
    if (!p || !r) {
        free(p);
        free(r);
        return 0;
    }
    s->missing[s->n_missing] = p;
    s->missing_reasons[s->n_missing++] = r;
    return 1;
}

static int has_image_extension(const char *name) {
    static const char *const exts[] = {".jpg", ".jpeg", ".png", ".webp", ".bmp"};
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        size_t e = strlen(exts[i]);
        if (n > e && strcasecmp(name + n - e, exts[i]) == 0) return 1;
    }
    return 0;
}

static int64_t mtime_ns(const struct stat *sb) {
    return (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
}

static clip_status walk(idx_sources *s, const char *dir, int depth) {
    if (depth > 64) return CLIP_OK; /* deeper than any real photo library */
    DIR *d = opendir(dir);
    if (!d) {
        if (!add_missing(s, dir, strerror(errno))) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
        return CLIP_OK;
    }
    clip_status st = CLIP_OK;
    struct dirent *e;
    while (st == CLIP_OK && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue; /* ., .., and hidden files such as .DS_Store */
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        char *path = malloc(len);
        if (!path) {
            st = clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
            break;
        }
        snprintf(path, len, "%s/%s", dir, e->d_name);
        struct stat lsb, sb;
        if (lstat(path, &lsb) != 0) {
            free(path);
            continue;
        }
        if (S_ISDIR(lsb.st_mode)) {
            st = walk(s, path, depth + 1);
            free(path);
        } else if (has_image_extension(e->d_name) && stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
            if (!add(s, path, (uint64_t)sb.st_size, mtime_ns(&sb))) {
                free(path);
                st = clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
            }
        } else {
            free(path);
        }
    }
    closedir(d);
    return st;
}

static int by_text(const void *a, const void *b) {
    return strcmp(((const idx_source *)a)->text, ((const idx_source *)b)->text);
}

static clip_status from_list(idx_sources *s, const char *list) {
    FILE *fp = fopen(list, "r");
    if (!fp) return clip_fail(CLIP_ERR_IO, "%s: %s", list, strerror(errno));
    strmap seen;
    if (!strmap_init(&seen, 1024)) {
        fclose(fp);
        return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    clip_status st = CLIP_OK;
    while (st == CLIP_OK && (n = getline(&line, &cap, fp)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        if (n == 0 || line[0] == '#') continue;
        char *real = realpath(line, NULL);
        struct stat sb;
        if (!real || stat(real, &sb) != 0 || !S_ISREG(sb.st_mode)) {
            const char *why = real ? "not a regular file" : strerror(errno);
            if (!add_missing(s, line, why)) st = clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
            free(real);
            continue;
        }
        if (strmap_get(&seen, real) >= 0) { /* listed twice: index it once */
            free(real);
            continue;
        }
        if (!add(s, real, (uint64_t)sb.st_size, mtime_ns(&sb)) || !strmap_put(&seen, real, 1)) {
            free(real);
            st = clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
        }
    }
    free(line);
    strmap_free(&seen);
    fclose(fp);
    return st;
}

clip_status idx_collect_images(const char *source, idx_sources *out) {
    memset(out, 0, sizeof *out);
    struct stat sb;
    if (stat(source, &sb) != 0) return clip_fail(CLIP_ERR_IO, "%s: %s", source, strerror(errno));
    clip_status st;
    if (S_ISDIR(sb.st_mode)) {
        char *root = realpath(source, NULL);
        if (!root) return clip_fail(CLIP_ERR_IO, "%s: %s", source, strerror(errno));
        st = walk(out, root, 0);
        free(root);
        if (st == CLIP_OK) qsort(out->items, (size_t)out->count, sizeof *out->items, by_text);
    } else {
        st = from_list(out, source);
    }
    if (st != CLIP_OK) idx_sources_free(out);
    return st;
}

clip_status idx_collect_texts(const char *path, idx_sources *out) {
    memset(out, 0, sizeof *out);
    FILE *fp = fopen(path, "r");
    if (!fp) return clip_fail(CLIP_ERR_IO, "%s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int64_t line_no = 0;
    clip_status st = CLIP_OK;
    while (st == CLIP_OK && (n = getline(&line, &cap, fp)) >= 0) {
        line_no++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        if (n == 0) continue;
        if ((size_t)n > IDX_MAX_STRING || memchr(line, 0, (size_t)n)) {
            st = clip_fail(CLIP_ERR_FORMAT, "%s:%lld: caption too long or contains a NUL byte", path,
                           (long long)line_no);
            break;
        }
        char *copy = strdup(line);
        if (!copy || !add(out, copy, 0, 0)) {
            free(copy);
            st = clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
        }
    }
    free(line);
    fclose(fp);
    if (st != CLIP_OK) idx_sources_free(out);
    return st;
}

void idx_sources_free(idx_sources *s) {
    for (int64_t i = 0; i < s->count; i++) free(s->items[i].text);
    for (int64_t i = 0; i < s->n_missing; i++) {
        free(s->missing[i]);
        free(s->missing_reasons[i]);
    }
    free(s->items);
    free(s->missing);
    free(s->missing_reasons);
    memset(s, 0, sizeof *s);
}
