#include "index/journal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "index/format.h"

#define JRNL_MAGIC "CLIPJRNL"
#define JRNL_VERSION 1u
#define JRNL_HEADER_BYTES 48u /* magic, version, kind, dim, reserved, model id, crc, pad */
#define JRNL_RECORD_MAGIC 0x4345524au /* "JREC" */

static void header_bytes(unsigned char *h, clip_index_kind kind, int dim, const uint8_t *model_id) {
    memset(h, 0, JRNL_HEADER_BYTES);
    memcpy(h, JRNL_MAGIC, 8);
    idx_wr32(h + 8, JRNL_VERSION);
    idx_wr32(h + 12, (uint32_t)kind);
    idx_wr32(h + 16, (uint32_t)dim);
    memcpy(h + 24, model_id, CLIP_MODEL_ID_BYTES);
    idx_wr32(h + 40, (uint32_t)crc32(0, h, 40));
}

static int push_loaded(idx_journal *j, const unsigned char *payload, uint32_t text_len) {
    if (j->n_loaded == j->cap) {
        int64_t c = j->cap ? j->cap * 2 : 256;
        char **t = realloc(j->texts, (size_t)c * sizeof *t);
        if (t) j->texts = t;
        uint64_t *s = realloc(j->sizes, (size_t)c * sizeof *s);
        if (s) j->sizes = s;
        int64_t *m = realloc(j->mtimes_ns, (size_t)c * sizeof *m);
        if (m) j->mtimes_ns = m;
        float *v = realloc(j->vectors, (size_t)c * j->dim * sizeof *v);
        if (v) j->vectors = v;
        if (!t || !s || !m || !v) return 0;
        j->cap = c;
    }
    char *text = malloc((size_t)text_len + 1);
    if (!text) return 0;
    memcpy(text, payload + 20, text_len);
    text[text_len] = 0;
    int64_t i = j->n_loaded++;
    j->texts[i] = text;
    j->sizes[i] = idx_rd64(payload);
    j->mtimes_ns[i] = (int64_t)idx_rd64(payload + 8);
    memcpy(j->vectors + (size_t)i * j->dim, payload + 20 + text_len, (size_t)j->dim * sizeof(float));
    return 1;
}

/* Walks the intact records (keeping them when `keep` is set); returns the
 * offset just past the last one (0 if the journal belongs to another build
 * and must be started afresh). */
static long load_existing(idx_journal *j, FILE *fp, const unsigned char *want_header, int keep) {
    unsigned char h[JRNL_HEADER_BYTES];
    if (fread(h, 1, sizeof h, fp) != sizeof h || memcmp(h, want_header, JRNL_HEADER_BYTES) != 0) return 0;
    long good = JRNL_HEADER_BYTES;
    size_t max_payload = 20 + (size_t)IDX_MAX_STRING + (size_t)j->dim * sizeof(float);
    unsigned char *payload = malloc(max_payload);
    if (!payload) return good;
    for (;;) {
        unsigned char rh[8], crc[4];
        if (fread(rh, 1, 8, fp) != 8 || idx_rd32(rh) != JRNL_RECORD_MAGIC) break;
        uint32_t len = idx_rd32(rh + 4);
        if (len < 20 || len > max_payload || fread(payload, 1, len, fp) != len || fread(crc, 1, 4, fp) != 4) break;
        if (idx_rd32(crc) != (uint32_t)crc32(0, payload, len)) break;
        uint32_t text_len = idx_rd32(payload + 16);
        if ((size_t)text_len + 20 + (size_t)j->dim * sizeof(float) != len) break;
        if (keep && !push_loaded(j, payload, text_len)) break;
        good += 8 + (long)len + 4;
    }
    free(payload);
    return good;
}

char *idx_journal_path(const char *output, int rank) {
    size_t len = strlen(output) + 32;
    char *path = malloc(len);
    if (!path) return NULL;
    if (rank < 0) snprintf(path, len, "%s.journal", output);
    else snprintf(path, len, "%s.journal.%d", output, rank);
    return path;
}

/* A journal's name: "<base>.journal" or "<base>.journal.<digits>". */
static int is_journal_name(const char *name, const char *base) {
    size_t n = strlen(base);
    if (strncmp(name, base, n) != 0 || strncmp(name + n, ".journal", 8) != 0) return 0;
    const char *rest = name + n + 8;
    if (*rest == 0) return 1;
    if (*rest++ != '.' || *rest == 0) return 0;
    for (; *rest; rest++)
        if (*rest < '0' || *rest > '9') return 0;
    return 1;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Paths of every journal of `output`, sorted (so every reader visits them
 * in the same order); found by listing its folder because an earlier
 * distributed build may have run with any number of ranks. */
static clip_status list_journals(const char *output, char ***paths, int *count) {
    *paths = NULL;
    *count = 0;
    const char *slash = strrchr(output, '/');
    const char *base = slash ? slash + 1 : output;
    size_t dir_len = slash ? (size_t)(slash - output) : 0;
    char *dir = malloc(dir_len + 2);
    if (!dir) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    if (slash) {
        memcpy(dir, output, dir_len);
        dir[dir_len] = 0;
        if (dir_len == 0) strcpy(dir, "/");
    } else {
        strcpy(dir, ".");
    }
    DIR *d = opendir(dir);
    if (!d) { /* no folder, no journals: the index write will report it */
        free(dir);
        return CLIP_OK;
    }
    clip_status st = CLIP_OK;
    int cap = 0;
    struct dirent *e;
    while (st == CLIP_OK && (e = readdir(d)) != NULL) {
        if (!is_journal_name(e->d_name, base)) continue;
        if (*count == cap) {
            cap = cap ? cap * 2 : 8;
            char **grown = realloc(*paths, (size_t)cap * sizeof *grown);
            if (!grown) {
                st = clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
                break;
            }
            *paths = grown;
        }
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        char *path = malloc(len);
        if (!path) {
            st = clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
            break;
        }
        snprintf(path, len, "%s/%s", dir, e->d_name);
        (*paths)[(*count)++] = path;
    }
    closedir(d);
    free(dir);
    if (*count > 1) qsort(*paths, (size_t)*count, sizeof **paths, by_name);
    return st;
}

static void free_paths(char **paths, int count) {
    for (int i = 0; i < count; i++) free(paths[i]);
    free(paths);
}

clip_status idx_journal_load_all(idx_journal *j, const char *output, clip_index_kind kind, int dim,
                                 const uint8_t model_id[CLIP_MODEL_ID_BYTES]) {
    memset(j, 0, sizeof *j);
    j->dim = dim;
    unsigned char want[JRNL_HEADER_BYTES];
    header_bytes(want, kind, dim, model_id);
    char **paths;
    int count;
    clip_status st = list_journals(output, &paths, &count);
    for (int i = 0; st == CLIP_OK && i < count; i++) {
        FILE *fp = fopen(paths[i], "rb");
        if (!fp) continue; /* removed meanwhile: nothing to resume from it */
        load_existing(j, fp, want, 1);
        fclose(fp);
    }
    free_paths(paths, count);
    return st;
}

void idx_journal_remove_all(const char *output) {
    char **paths;
    int count;
    list_journals(output, &paths, &count);
    for (int i = 0; i < count; i++) unlink(paths[i]);
    free_paths(paths, count);
}

clip_status idx_journal_open(idx_journal *j, const char *path, clip_index_kind kind, int dim,
                             const uint8_t model_id[CLIP_MODEL_ID_BYTES]) {
    memset(j, 0, sizeof *j);
    j->dim = dim;
    j->path = strdup(path);
    if (!j->path) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    unsigned char want[JRNL_HEADER_BYTES];
    header_bytes(want, kind, dim, model_id);
    long keep = 0;
    FILE *old = fopen(path, "rb");
    if (old) {
        keep = load_existing(j, old, want, 0);
        fclose(old);
    }
    if (keep == 0) {
        clip_status st = atomic_write_buffer(path, want, sizeof want);
        if (st != CLIP_OK) {
            idx_journal_close(j, 0);
            return clip_fail_context(st, "creating the build journal: ");
        }
        keep = JRNL_HEADER_BYTES;
    } else if (truncate(path, keep) != 0) { /* drop a torn tail before appending */
        clip_status st = clip_fail(CLIP_ERR_IO, "%s: %s", path, strerror(errno));
        idx_journal_close(j, 0);
        return st;
    }
    j->fp = fopen(path, "ab");
    if (!j->fp) {
        clip_status st = clip_fail(CLIP_ERR_IO, "%s: %s", path, strerror(errno));
        idx_journal_close(j, 0);
        return st;
    }
    return CLIP_OK;
}

clip_status idx_journal_append(idx_journal *j, const char *text, uint64_t size, int64_t mtime_ns,
                               const float *vector) {
    size_t text_len = strlen(text);
    if (text_len > IDX_MAX_STRING) return clip_fail(CLIP_ERR_LIMIT, "%.64s...: longer than %u bytes", text, IDX_MAX_STRING);
    uint32_t len = (uint32_t)(20 + text_len + (size_t)j->dim * sizeof(float));
    unsigned char *rec = malloc((size_t)len + 12);
    if (!rec) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    unsigned char *p = rec + 8;
    idx_wr32(rec, JRNL_RECORD_MAGIC);
    idx_wr32(rec + 4, len);
    idx_wr64(p, size);
    idx_wr64(p + 8, (uint64_t)mtime_ns);
    idx_wr32(p + 16, (uint32_t)text_len);
    memcpy(p + 20, text, text_len);
    memcpy(p + 20 + text_len, vector, (size_t)j->dim * sizeof(float));
    idx_wr32(p + len, (uint32_t)crc32(0, p, len));
    size_t n = fwrite(rec, 1, (size_t)len + 12, j->fp);
    free(rec);
    if (n != (size_t)len + 12) return clip_fail(CLIP_ERR_IO, "%s: write failed", j->path);
    return CLIP_OK;
}

clip_status idx_journal_sync(idx_journal *j) {
    if (fflush(j->fp) != 0 || fdatasync(fileno(j->fp)) != 0)
        return clip_fail(CLIP_ERR_IO, "%s: %s", j->path, strerror(errno));
    return CLIP_OK;
}

void idx_journal_close(idx_journal *j, int remove_file) {
    if (j->fp) fclose(j->fp);
    if (remove_file && j->path) unlink(j->path);
    for (int64_t i = 0; i < j->n_loaded; i++) free(j->texts[i]);
    free(j->texts);
    free(j->sizes);
    free(j->mtimes_ns);
    free(j->vectors);
    free(j->path);
    memset(j, 0, sizeof *j);
}
