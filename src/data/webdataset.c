/* WebDataset shards as img2dataset writes them: uncompressed tar files of
 * KEY.jpg (or .png/.webp) + KEY.txt pairs. Tar headers are parsed with
 * libarchive over the memory-mapped shard; image bytes are then used in
 * place (or copied when libarchive hands out its own buffer). */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/limits.h"
#include "data/data_internal.h"


static clip_status map_shard(const char *path, shard_map *out) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return clip_fail(CLIP_ERR_IO, "%s: cannot open shard", path);
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size == 0) {
        close(fd);
        return clip_fail(CLIP_ERR_FORMAT, "%s: not a non-empty file", path);
    }
    void *base = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (base == MAP_FAILED) return clip_fail(CLIP_ERR_IO, "%s: mmap failed", path);
    out->base = base;
    out->size = (size_t)sb.st_size;
    out->path = strdup(path);
    return out->path ? CLIP_OK : clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
}

static int is_image_ext(const char *ext) {
    return strcmp(ext, "jpg") == 0 || strcmp(ext, "jpeg") == 0 || strcmp(ext, "png") == 0 || strcmp(ext, "webp") == 0;
}

/* Reads a member's bytes: a pointer into the mapping when libarchive gives
 * one in a single block, else a copy in *owned. */
static clip_status member_bytes(struct archive *a, const shard_map *shard, const char *name,
                                const unsigned char **data, size_t *size, unsigned char **owned) {
    const void *block;
    size_t block_size;
    la_int64_t offset;
    unsigned char *copy = NULL;
    size_t total = 0, cap = 0;
    const uint64_t max = limit_value(LIMIT_SHARD_MEMBER);
    *owned = NULL;
    *data = NULL;
    int r;
    while ((r = archive_read_data_block(a, &block, &block_size, &offset)) == ARCHIVE_OK) {
        const unsigned char *b = block;
        int inside = b >= shard->base && b + block_size <= shard->base + shard->size;
        if (total == 0 && offset == 0 && inside && !copy) {
            *data = b;
            total = block_size;
            continue;
        }
        /* More than one block: assemble a copy, grown as the blocks come
         * so a small member never costs the whole limit. */
        if (offset < 0 || (uint64_t)offset + block_size > max || total > max) {
            free(copy);
            return limit_fail(LIMIT_SHARD_MEMBER, "%s: member %s is larger than the limit", shard->path, name);
        }
        size_t need = (size_t)offset + block_size;
        if (need > cap || !copy) {
            size_t grown_cap = cap * 2 > need ? cap * 2 : need;
            if (grown_cap > max) grown_cap = (size_t)max;
            if (grown_cap < total) grown_cap = total; /* total <= max: checked above */
            unsigned char *grown = realloc(copy, grown_cap ? grown_cap : 1);
            if (!grown) {
                free(copy);
                return clip_fail(CLIP_ERR_NO_MEMORY, "%s: member %s: out of memory", shard->path, name);
            }
            /* The first copy takes the block pointed at so far. */
            if (!copy && total) memcpy(grown, *data, total);
            size_t filled = copy ? cap : total;
            if (grown_cap > filled) memset(grown + filled, 0, grown_cap - filled);
            copy = grown;
            cap = grown_cap;
        }
        memcpy(copy + offset, block, block_size);
        if ((size_t)offset + block_size > total) total = (size_t)offset + block_size;
    }
    if (r != ARCHIVE_EOF) {
        free(copy);
        return clip_fail(CLIP_ERR_FORMAT, "%s: member %s: %s", shard->path, name, archive_error_string(a));
    }
    if (copy) {
        *owned = copy;
        *data = copy;
    }
    *size = total;
    return CLIP_OK;
}

typedef struct pending_key {
    char key[512];
    const unsigned char *image;
    size_t image_size;
    unsigned char *owned;
    char *caption;
} pending_key;

static clip_status flush_key(clip_data *d, pending_key *p, int64_t *capacity, const char *shard) {
    if (!p->key[0]) return CLIP_OK;
    clip_status st = CLIP_OK;
    if (p->image && p->caption && (uint64_t)d->size >= limit_value(LIMIT_DATASET_ITEMS)) {
        st = limit_fail(LIMIT_DATASET_ITEMS, "%s: more than %lld items", shard, (long long)d->size);
        free(p->owned);
        free(p->caption);
    } else if (p->image && p->caption) {
        if (d->size == *capacity) {
            *capacity = *capacity ? *capacity * 2 : 1024;
            wds_item *items = realloc(d->items, (size_t)*capacity * sizeof *items);
            if (!items) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
            d->items = items;
        }
        wds_item *item = &d->items[d->size++];
        size_t label_len = strlen(shard) + strlen(p->key) + 2;
        item->label = malloc(label_len);
        if (item->label) snprintf(item->label, label_len, "%s:%s", shard, p->key);
        item->image = p->image;
        item->image_size = p->image_size;
        item->owned_image = p->owned;
        item->caption = p->caption;
        if (!item->label) st = clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    } else { /* an image without caption (or the reverse) is not a pair */
        free(p->owned);
        free(p->caption);
    }
    memset(p, 0, sizeof *p);
    return st;
}

static clip_status scan_shard(clip_data *d, const shard_map *shard, int64_t *capacity) {
    struct archive *a = archive_read_new();
    if (!a) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    archive_read_support_format_tar(a);
    clip_status st = CLIP_OK;
    if (archive_read_open_memory(a, shard->base, shard->size) != ARCHIVE_OK) {
        st = clip_fail(CLIP_ERR_FORMAT, "%s: not a tar file: %s", shard->path, archive_error_string(a));
        archive_read_free(a);
        return st;
    }
    pending_key p = {0};
    struct archive_entry *entry;
    int r;
    while (st == CLIP_OK && (r = archive_read_next_header(a, &entry)) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(entry);
        if (!name || archive_entry_filetype(entry) != AE_IFREG) continue;
        const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
        const char *dot = strchr(base, '.'); /* WebDataset: the key ends at the first dot of the basename */
        if (!dot || dot - name >= (long)sizeof p.key) continue;
        char key[512];
        snprintf(key, sizeof key, "%.*s", (int)(dot - name), name);
        const char *ext = dot + 1;
        if (strcmp(key, p.key) != 0) {
            st = flush_key(d, &p, capacity, shard->path);
            snprintf(p.key, sizeof p.key, "%s", key);
        }
        if (st != CLIP_OK) break;
        /* The header's size is refused before any byte is read or copied. */
        if ((is_image_ext(ext) || strcmp(ext, "txt") == 0) && archive_entry_size_is_set(entry) &&
            (uint64_t)archive_entry_size(entry) > limit_value(LIMIT_SHARD_MEMBER)) {
            st = limit_fail(LIMIT_SHARD_MEMBER, "%s: member %s of %lld bytes is over the limit", shard->path, name,
                            (long long)archive_entry_size(entry));
            break;
        }
        if (is_image_ext(ext) && !p.image) {
            st = member_bytes(a, shard, name, &p.image, &p.image_size, &p.owned);
        } else if (strcmp(ext, "txt") == 0 && !p.caption) {
            const unsigned char *text;
            size_t size;
            unsigned char *owned;
            st = member_bytes(a, shard, name, &text, &size, &owned);
            if (st == CLIP_OK) {
                if (size > CLIP_DATA_MAX_CAPTION) size = CLIP_DATA_MAX_CAPTION;
                /* an empty member has no bytes at all: its caption is "" */
                p.caption = text ? strndup((const char *)text, size) : strdup("");
                free(owned);
                if (!p.caption) st = clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
            }
        }
    }
    if (st == CLIP_OK && r != ARCHIVE_EOF)
        st = clip_fail(CLIP_ERR_FORMAT, "%s: %s (truncated or corrupt tar)", shard->path, archive_error_string(a));
    if (st == CLIP_OK) st = flush_key(d, &p, capacity, shard->path);
    else {
        free(p.owned);
        free(p.caption);
    }
    archive_read_free(a);
    return st;
}

static int compare_strings(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Shard paths from "a.tar,b.tar" or every *.tar of a folder (sorted). */
static clip_status list_shards(const char *spec, char ***out, int *n) {
    *out = NULL;
    *n = 0;
    struct stat sb;
    char **list = NULL;
    int count = 0, cap = 0;
    if (stat(spec, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        DIR *dir = opendir(spec);
        if (!dir) return clip_fail(CLIP_ERR_IO, "%s: cannot list", spec);
        struct dirent *e;
        while ((e = readdir(dir))) {
            size_t len = strlen(e->d_name);
            if (len < 5 || strcmp(e->d_name + len - 4, ".tar") != 0) continue;
            if (count == cap) {
                cap = cap ? cap * 2 : 16;
                char **grown = realloc(list, (size_t)cap * sizeof(char *));
                if (!grown) break;
                list = grown;
            }
            size_t need = strlen(spec) + len + 2;
            if ((list[count] = malloc(need))) snprintf(list[count++], need, "%s/%s", spec, e->d_name);
        }
        closedir(dir);
        if (count) qsort(list, (size_t)count, sizeof(char *), compare_strings);
    } else {
        char *copy = strdup(spec);
        for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            if (count == cap) {
                cap = cap ? cap * 2 : 16;
                char **grown = realloc(list, (size_t)cap * sizeof(char *));
                if (!grown) break;
                list = grown;
            }
            list[count++] = strdup(tok);
        }
        free(copy);
    }
    if (count == 0) {
        free(list);
        return clip_fail(CLIP_ERR_FORMAT, "%s: no .tar shards", spec);
    }
    *out = list;
    *n = count;
    return CLIP_OK;
}

clip_status data_open_webdataset(const char *spec, clip_data *d) {
    d->kind = DATA_WEBDATASET;
    char **paths;
    int n;
    clip_status st = list_shards(spec, &paths, &n);
    if (st != CLIP_OK) return st;
    d->shards = calloc((size_t)n, sizeof *d->shards);
    if (!d->shards) st = clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    int64_t capacity = 0;
    for (int i = 0; i < n && st == CLIP_OK; i++) {
        st = map_shard(paths[i], &d->shards[i]);
        if (st == CLIP_OK) {
            d->n_shards++;
            st = scan_shard(d, &d->shards[i], &capacity);
        }
    }
    for (int i = 0; i < n; i++) free(paths[i]);
    free(paths);
    return st;
}

void data_free_webdataset(clip_data *d) {
    if (d->kind != DATA_WEBDATASET) return;
    for (int64_t i = 0; i < d->size; i++) {
        free(d->items[i].owned_image);
        free(d->items[i].caption);
        free(d->items[i].label);
    }
    free(d->items);
    for (int i = 0; i < d->n_shards; i++) {
        munmap((void *)d->shards[i].base, d->shards[i].size);
        free(d->shards[i].path);
    }
    free(d->shards);
}
