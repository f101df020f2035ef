/* The central directory is authoritative (local headers may carry data
 * descriptors or padding extras, as PyTorch's writer does to align tensor
 * data to 64 bytes); a local header only tells where the data begins. */
#include "formats/zip.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/error.h"

struct zip_archive {
    char *label;
    const uint8_t *base;
    size_t size;
    zip_entry *entries;
    zip_entry **sorted;
    size_t n;
};

static uint16_t u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t u32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t u64(const uint8_t *p) { return (uint64_t)u32(p) | (uint64_t)u32(p + 4) << 32; }

enum {
    SIG_LOCAL = 0x04034b50,
    SIG_CENTRAL = 0x02014b50,
    SIG_EOCD = 0x06054b50,
    SIG_ZIP64_LOCATOR = 0x07064b50,
    SIG_ZIP64_EOCD = 0x06064b50,
};

int zip_sniff(const void *data, size_t size) { return size >= 4 && u32(data) == SIG_LOCAL; }

void zip_close(zip_archive *z) {
    if (!z) return;
    for (size_t i = 0; i < z->n; i++) free((char *)z->entries[i].name);
    free(z->entries);
    free(z->sorted);
    free(z->label);
    free(z);
}

static int compare_entries(const void *a, const void *b) {
    return strcmp((*(zip_entry *const *)a)->name, (*(zip_entry *const *)b)->name);
}

typedef struct directory {
    uint64_t count, offset, size;
} directory;

static clip_status find_directory(const zip_archive *z, directory *dir) {
    const uint8_t *b = z->base;
    size_t size = z->size;
    if (size < 22) return clip_fail(CLIP_ERR_FORMAT, "%s: %zu bytes is too short for a zip archive", z->label, size);
    /* The end record sits in the last 22 + 65535 (comment) bytes. */
    size_t lowest = size > 22 + 65535 ? size - 22 - 65535 : 0;
    size_t at = size - 22;
    for (;; at--) {
        if (u32(b + at) == SIG_EOCD && at + 22 + u16(b + at + 20) <= size) break;
        if (at == lowest)
            return clip_fail(CLIP_ERR_FORMAT, "%s: no zip end-of-central-directory record (truncated file?)", z->label);
    }
    dir->count = u16(b + at + 10);
    dir->size = u32(b + at + 12);
    dir->offset = u32(b + at + 16);
    if (dir->count == 0xffff || dir->size == 0xffffffffu || dir->offset == 0xffffffffu) {
        if (at < 20 || u32(b + at - 20) != SIG_ZIP64_LOCATOR)
            return clip_fail(CLIP_ERR_FORMAT, "%s: zip64 archive without its locator record", z->label);
        uint64_t rec = u64(b + at - 20 + 8);
        if (size < 56 || rec > size - 56 || u32(b + rec) != SIG_ZIP64_EOCD)
            return clip_fail(CLIP_ERR_FORMAT, "%s: bad zip64 end-of-central-directory offset", z->label);
        dir->count = u64(b + rec + 32);
        dir->size = u64(b + rec + 40);
        dir->offset = u64(b + rec + 48);
    }
    if (dir->offset > size || dir->size > size - dir->offset)
        return clip_fail(CLIP_ERR_FORMAT, "%s: zip central directory lies outside the file", z->label);
    if (dir->count > dir->size / 46)
        return clip_fail(CLIP_ERR_FORMAT, "%s: zip central directory claims %llu entries in %llu bytes", z->label,
                         (unsigned long long)dir->count, (unsigned long long)dir->size);
    return CLIP_OK;
}

/* The zip64 extra field holds, in order, only the values whose 32-bit
 * fields are saturated. */
static clip_status apply_zip64_extra(const zip_archive *z, const uint8_t *extra, size_t len, uint64_t *size,
                                     uint64_t *comp_size, uint64_t *local_offset) {
    size_t at = 0;
    while (at + 4 <= len) {
        uint16_t id = u16(extra + at), field = u16(extra + at + 2);
        if (at + 4 + field > len) break;
        if (id == 0x0001) {
            const uint8_t *p = extra + at + 4;
            size_t left = field;
            uint64_t *values[3] = {size, comp_size, local_offset};
            for (int i = 0; i < 3; i++) {
                if (*values[i] != 0xffffffffu) continue;
                if (left < 8) return clip_fail(CLIP_ERR_FORMAT, "%s: short zip64 extra field", z->label);
                *values[i] = u64(p);
                p += 8;
                left -= 8;
            }
            return CLIP_OK;
        }
        at += 4 + (size_t)field;
    }
    if (*size == 0xffffffffu || *comp_size == 0xffffffffu || *local_offset == 0xffffffffu)
        return clip_fail(CLIP_ERR_FORMAT, "%s: zip entry needs a zip64 extra field it lacks", z->label);
    return CLIP_OK;
}

static clip_status read_entry(zip_archive *z, const uint8_t *c, size_t avail, size_t *used, zip_entry *e) {
    if (avail < 46 || u32(c) != SIG_CENTRAL) return clip_fail(CLIP_ERR_FORMAT, "%s: corrupt zip central directory", z->label);
    uint16_t flags = u16(c + 8), method = u16(c + 10);
    uint32_t crc = u32(c + 16);
    uint64_t comp_size = u32(c + 20), size = u32(c + 24);
    size_t name_len = u16(c + 28), extra_len = u16(c + 30), comment_len = u16(c + 32);
    uint64_t local = u32(c + 42);
    if (46 + name_len + extra_len + comment_len > avail)
        return clip_fail(CLIP_ERR_FORMAT, "%s: corrupt zip central directory", z->label);
    *used = 46 + name_len + extra_len + comment_len;
    char *name = malloc(name_len + 1);
    if (!name) return clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", z->label);
    memcpy(name, c + 46, name_len);
    name[name_len] = '\0';
    e->name = name;
    if (memchr(name, '\0', name_len))
        return clip_fail(CLIP_ERR_FORMAT, "%s: zip entry name with a NUL byte", z->label);
    clip_status st = apply_zip64_extra(z, c + 46 + name_len, extra_len, &size, &comp_size, &local);
    if (st != CLIP_OK) return st;
    if (flags & 1) return clip_fail(CLIP_ERR_UNSUPPORTED, "%s: zip entry '%s' is encrypted", z->label, name);
    if (z->size < 30 || local > z->size - 30 || u32(z->base + local) != SIG_LOCAL)
        return clip_fail(CLIP_ERR_FORMAT, "%s: zip entry '%s': bad local header offset", z->label, name);
    uint64_t data = local + 30 + u16(z->base + local + 26) + u16(z->base + local + 28);
    if (data > z->size || comp_size > z->size - data)
        return clip_fail(CLIP_ERR_FORMAT, "%s: zip entry '%s' extends past the end of the file (truncated?)", z->label,
                         name);
    if (method == 0 && comp_size != size)
        return clip_fail(CLIP_ERR_FORMAT, "%s: stored zip entry '%s' has different sizes", z->label, name);
    e->method = method;
    e->crc32 = crc;
    e->comp_size = comp_size;
    e->size = size;
    e->data = z->base + data;
    return CLIP_OK;
}

clip_status zip_open_memory(const void *data, size_t size, const char *label, zip_archive **out) {
    *out = NULL;
    zip_archive *z = calloc(1, sizeof *z);
    if (!z || !(z->label = strdup(label ? label : "<zip>"))) {
        free(z);
        return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    }
    z->base = data;
    z->size = size;
    directory dir = {0, 0, 0};
    clip_status st = find_directory(z, &dir);
    if (st == CLIP_OK) {
        z->entries = calloc(dir.count + 1, sizeof *z->entries);
        z->sorted = calloc(dir.count + 1, sizeof *z->sorted);
        if (!z->entries || !z->sorted) st = clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", z->label);
    }
    /* The offset is only meaningful once the directory was found (found by
     * fuzz_torch: a failed search left it pointing past the file). */
    if (st == CLIP_OK && (dir.offset > size || dir.size > size - dir.offset))
        st = clip_fail(CLIP_ERR_FORMAT, "%s: central directory lies outside the file", z->label);
    const uint8_t *c = st == CLIP_OK ? z->base + dir.offset : z->base;
    size_t left = st == CLIP_OK ? (size_t)dir.size : 0;
    for (uint64_t i = 0; st == CLIP_OK && i < dir.count; i++) {
        size_t used = 0;
        st = read_entry(z, c, left, &used, &z->entries[z->n]);
        if (z->entries[z->n].name) z->n++;
        c += used;
        left -= used;
    }
    if (st == CLIP_OK) {
        for (size_t i = 0; i < z->n; i++) z->sorted[i] = &z->entries[i];
        if (z->n) qsort(z->sorted, z->n, sizeof *z->sorted, compare_entries);
        for (size_t i = 1; i < z->n; i++)
            if (strcmp(z->sorted[i - 1]->name, z->sorted[i]->name) == 0)
                st = clip_fail(CLIP_ERR_FORMAT, "%s: zip entry '%s' appears twice", z->label, z->sorted[i]->name);
    }
    if (st != CLIP_OK) {
        zip_close(z);
        return st;
    }
    *out = z;
    return CLIP_OK;
}

size_t zip_count(const zip_archive *z) { return z->n; }
const zip_entry *zip_at(const zip_archive *z, size_t i) { return i < z->n ? &z->entries[i] : NULL; }

const zip_entry *zip_find(const zip_archive *z, const char *name) {
    size_t lo = 0, hi = z->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(z->sorted[mid]->name, name);
        if (c == 0) return z->sorted[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

clip_status zip_read(const zip_archive *z, const zip_entry *e, size_t max_size, uint8_t **out, size_t *len) {
    *out = NULL;
    *len = 0;
    if (e->size > max_size)
        return clip_fail(CLIP_ERR_LIMIT, "%s: zip entry '%s' holds %llu bytes (limit %zu)", z->label, e->name,
                         (unsigned long long)e->size, max_size);
    if (e->method != 0 && e->method != 8)
        return clip_fail(CLIP_ERR_UNSUPPORTED, "%s: zip entry '%s' uses compression method %u (only stored and deflate)",
                         z->label, e->name, e->method);
    uint8_t *buf = malloc(e->size ? (size_t)e->size : 1);
    if (!buf) return clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", z->label);
    if (e->method == 0) {
        memcpy(buf, e->data, (size_t)e->size);
    } else {
        z_stream zs;
        memset(&zs, 0, sizeof zs);
        if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) {
            free(buf);
            return clip_fail(CLIP_ERR_NO_MEMORY, "%s: zlib init failed", z->label);
        }
        /* zlib counts in uInt: feed and drain in pieces for big entries. */
        uint64_t in_left = e->comp_size, out_left = e->size;
        zs.next_in = (Bytef *)e->data;
        zs.next_out = buf;
        int rc = Z_OK;
        while (rc == Z_OK) {
            if (zs.avail_in == 0 && in_left) {
                zs.avail_in = (uInt)(in_left > (1u << 30) ? (1u << 30) : in_left);
                in_left -= zs.avail_in;
            }
            if (zs.avail_out == 0 && out_left) {
                zs.avail_out = (uInt)(out_left > (1u << 30) ? (1u << 30) : out_left);
                out_left -= zs.avail_out;
            }
            rc = inflate(&zs, Z_NO_FLUSH);
            if (rc == Z_BUF_ERROR && zs.avail_in == 0 && in_left == 0) break;
            if (rc == Z_BUF_ERROR && zs.avail_out == 0 && out_left == 0) break;
        }
        int complete = rc == Z_STREAM_END && zs.total_out == e->size;
        inflateEnd(&zs);
        if (!complete) {
            free(buf);
            return clip_fail(CLIP_ERR_FORMAT, "%s: zip entry '%s': corrupt deflate data", z->label, e->name);
        }
    }
    uLong crc = crc32(0L, Z_NULL, 0);
    for (uint64_t done = 0; done < e->size;) {
        uInt piece = (uInt)(e->size - done > (1u << 30) ? (1u << 30) : e->size - done);
        crc = crc32(crc, buf + done, piece);
        done += piece;
    }
    if ((uint32_t)crc != e->crc32) {
        free(buf);
        return clip_fail(CLIP_ERR_FORMAT, "%s: zip entry '%s': CRC mismatch (corrupt file)", z->label, e->name);
    }
    *out = buf;
    *len = (size_t)e->size;
    return CLIP_OK;
}
