#include "formats/npy.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/limits.h"

static const char NPY_MAGIC[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

size_t npy_descr_size(const char *descr) {
    static const struct { const char *name; size_t size; } known[] = {
        {"<f2", 2}, {"<f4", 4}, {"<f8", 8}, {"<i1", 1}, {"|i1", 1}, {"<i2", 2},
        {"<i4", 4}, {"<i8", 8}, {"<u1", 1}, {"|u1", 1}, {"<u2", 2}, {"<u4", 4},
        {"<u8", 8}, {"|b1", 1},
    };
    if (!descr) return 0;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(descr, known[i].name) == 0) return known[i].size;
    return 0;
}

/* numel * item_size with overflow checks; -1 on overflow or bad dims. */
static int checked_nbytes(int ndim, const int64_t *shape, size_t item, size_t *nbytes) {
    uint64_t total = item;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return -1;
        uint64_t d = (uint64_t)shape[i];
        if (d != 0 && total > UINT64_MAX / d) return -1;
        total *= d;
    }
    if (total > (uint64_t)SIZE_MAX / 2) return -1;
    *nbytes = (size_t)total;
    return 0;
}

int64_t npy_numel(const npy_array *a) {
    int64_t n = 1;
    for (int i = 0; i < a->ndim; i++) n *= a->shape[i];
    return n;
}

void npy_free(npy_array *a) {
    if (!a) return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* ---------------------------------------------------------------- writer */

clip_status npy_write(const char *path, const char *descr, int ndim,
                      const int64_t *shape, const void *data) {
    size_t item = npy_descr_size(descr);
    if (!item)
        return clip_fail(CLIP_ERR_DTYPE, "%s: unsupported npy dtype '%s'", path,
                         descr ? descr : "(null)");
    size_t nbytes;
    if (ndim < 0 || ndim > NPY_MAX_DIMS || (ndim > 0 && !shape) ||
        checked_nbytes(ndim, shape, item, &nbytes) != 0 || (nbytes && !data))
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "%s: invalid npy shape", path);

    char header[512];
    int len = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    /* numpy's repr of the shape tuple: "(2, 3)", "(4,)", "()". */
    for (int i = 0; i < ndim; i++)
        len += snprintf(header + len, sizeof header - (size_t)len, "%s%" PRId64, i ? ", " : "", shape[i]);
    len += snprintf(header + len, sizeof header - (size_t)len, "%s), }", ndim == 1 ? "," : "");
    /* numpy pads with spaces so the data starts 64-byte aligned, ending in '\n'. */
    size_t preamble = 10, total = preamble + (size_t)len + 1;
    size_t padded = (total + 63) / 64 * 64;
    size_t header_len = padded - preamble;
    memset(header + len, ' ', header_len - (size_t)len - 1);
    header[header_len - 1] = '\n';

    unsigned char pre[10];
    memcpy(pre, NPY_MAGIC, 6);
    pre[6] = 1;
    pre[7] = 0;
    pre[8] = (unsigned char)(header_len & 0xff);
    pre[9] = (unsigned char)(header_len >> 8);

    atomic_file af;
    clip_status st = atomic_file_open(&af, path);
    if (st != CLIP_OK) return st;
    if (fwrite(pre, 1, sizeof pre, af.fp) != sizeof pre ||
        fwrite(header, 1, header_len, af.fp) != header_len ||
        (nbytes && fwrite(data, 1, nbytes, af.fp) != nbytes)) {
        st = clip_fail(CLIP_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        atomic_file_abort(&af);
        return st;
    }
    return atomic_file_commit(&af);
}

clip_status npy_write_f32(const char *path, int ndim, const int64_t *shape, const float *data) {
    return npy_write(path, "<f4", ndim, shape, data);
}
clip_status npy_write_i32(const char *path, int ndim, const int64_t *shape, const int32_t *data) {
    return npy_write(path, "<i4", ndim, shape, data);
}
clip_status npy_write_i64(const char *path, int ndim, const int64_t *shape, const int64_t *data) {
    return npy_write(path, "<i8", ndim, shape, data);
}

/* ---------------------------------------------------------------- reader */

typedef struct cursor {
    const char *p, *end;
} cursor;

static void skip_space(cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static int accept(cursor *c, char ch) {
    skip_space(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

static int parse_string(cursor *c, char *buf, size_t cap) {
    skip_space(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return -1;
    char quote = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != quote) {
        if (n + 1 >= cap) return -1;
        buf[n++] = *c->p++;
    }
    if (c->p >= c->end) return -1;
    c->p++;
    buf[n] = '\0';
    return 0;
}

static int parse_word(cursor *c, const char *word) {
    skip_space(c);
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0) return 0;
    c->p += n;
    return 1;
}

static int parse_shape(cursor *c, int *ndim, int64_t *shape) {
    if (!accept(c, '(')) return -1;
    *ndim = 0;
    for (;;) {
        if (accept(c, ')')) return 0;
        if (*ndim >= NPY_MAX_DIMS) return -1;
        skip_space(c);
        int64_t v = 0;
        int digits = 0;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            if (v > (INT64_MAX - 9) / 10) return -1;
            v = v * 10 + (*c->p++ - '0');
            digits++;
        }
        if (!digits) return -1;
        /* Python 2 era numpy wrote longs as "3L". */
        if (c->p < c->end && *c->p == 'L') c->p++;
        shape[(*ndim)++] = v;
        if (!accept(c, ',')) {
            if (!accept(c, ')')) return -1;
            /* "(3)" is an int, not a tuple; numpy never writes it. */
            return *ndim == 1 ? -1 : 0;
        }
    }
}

/* Parses the header dict in `text` (length n). */
static clip_status parse_header(const char *text, size_t n, const char *label, npy_array *out) {
    cursor c = {text, text + n};
    int have_descr = 0, have_order = 0, have_shape = 0;
    if (!accept(&c, '{')) return clip_fail(CLIP_ERR_FORMAT, "%s: npy header is not a dict", label);
    for (;;) {
        if (accept(&c, '}')) break;
        char key[32];
        if (parse_string(&c, key, sizeof key) != 0 || !accept(&c, ':'))
            return clip_fail(CLIP_ERR_FORMAT, "%s: malformed npy header", label);
        if (strcmp(key, "descr") == 0 && !have_descr) {
            if (parse_string(&c, out->descr, sizeof out->descr) != 0)
                return clip_fail(CLIP_ERR_FORMAT, "%s: malformed npy descr", label);
            have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0 && !have_order) {
            if (parse_word(&c, "True"))
                return clip_fail(CLIP_ERR_UNSUPPORTED, "%s: Fortran-order npy arrays are not supported", label);
            if (!parse_word(&c, "False"))
                return clip_fail(CLIP_ERR_FORMAT, "%s: malformed npy fortran_order", label);
            have_order = 1;
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            if (parse_shape(&c, &out->ndim, out->shape) != 0)
                return clip_fail(CLIP_ERR_FORMAT, "%s: malformed npy shape (at most %d dims)", label,
                                 NPY_MAX_DIMS);
            have_shape = 1;
        } else {
            return clip_fail(CLIP_ERR_FORMAT, "%s: unexpected or repeated npy header key '%s'", label, key);
        }
        if (!accept(&c, ',')) {
            if (!accept(&c, '}')) return clip_fail(CLIP_ERR_FORMAT, "%s: malformed npy header", label);
            break;
        }
    }
    skip_space(&c);
    if (c.p != c.end) return clip_fail(CLIP_ERR_FORMAT, "%s: trailing bytes after npy header", label);
    if (!have_descr || !have_order || !have_shape)
        return clip_fail(CLIP_ERR_FORMAT, "%s: npy header lacks descr, fortran_order or shape", label);
    if (!npy_descr_size(out->descr))
        return clip_fail(CLIP_ERR_DTYPE, "%s: unsupported npy dtype '%s'", label, out->descr);
    return CLIP_OK;
}

/* Validates the preamble and header in `head` (the first `avail` bytes of
 * a `total`-byte file). Sets *data_offset and out->nbytes. */
static clip_status read_header(const unsigned char *head, size_t avail, uint64_t total,
                               const char *label, npy_array *out, size_t *data_offset) {
    if (avail < 10 || memcmp(head, NPY_MAGIC, 6) != 0)
        return clip_fail(CLIP_ERR_FORMAT, "%s: not an npy file (bad magic)", label);
    unsigned major = head[6];
    size_t header_len, preamble;
    if (major == 1) {
        preamble = 10;
        header_len = (size_t)head[8] | (size_t)head[9] << 8;
    } else if (major == 2 || major == 3) {
        if (avail < 12) return clip_fail(CLIP_ERR_FORMAT, "%s: truncated npy preamble", label);
        preamble = 12;
        header_len = (size_t)head[8] | (size_t)head[9] << 8 | (size_t)head[10] << 16 | (size_t)head[11] << 24;
    } else {
        return clip_fail(CLIP_ERR_UNSUPPORTED, "%s: npy format version %u.%u not supported", label, major,
                         head[7]);
    }
    if (header_len > limit_value(LIMIT_NPY_HEADER))
        return limit_fail(LIMIT_NPY_HEADER, "%s: npy header of %zu bytes is over the limit", label, header_len);
    if (preamble + header_len > total || preamble + header_len > avail)
        return clip_fail(CLIP_ERR_FORMAT, "%s: truncated npy header", label);
    clip_status st = parse_header((const char *)head + preamble, header_len, label, out);
    if (st != CLIP_OK) return st;
    if (checked_nbytes(out->ndim, out->shape, npy_descr_size(out->descr), &out->nbytes) != 0)
        return clip_fail(CLIP_ERR_FORMAT, "%s: npy shape overflows", label);
    *data_offset = preamble + header_len;
    uint64_t have = total - *data_offset;
    if (have != out->nbytes)
        return clip_fail(CLIP_ERR_FORMAT, "%s: npy data is %" PRIu64 " bytes, shape and dtype need %zu", label,
                         have, out->nbytes);
    return CLIP_OK;
}

clip_status npy_read_memory(const void *bytes, size_t size, const char *label, npy_array *out) {
    memset(out, 0, sizeof *out);
    size_t offset = 0;
    clip_status st = read_header(bytes, size, size, label, out, &offset);
    if (st != CLIP_OK) {
        memset(out, 0, sizeof *out);
        return st;
    }
    out->data = malloc(out->nbytes ? out->nbytes : 1);
    if (!out->data) {
        memset(out, 0, sizeof *out);
        return clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory for %zu bytes", label, size);
    }
    if (out->nbytes) memcpy(out->data, (const unsigned char *)bytes + offset, out->nbytes);
    return CLIP_OK;
}

clip_status npy_read(const char *path, npy_array *out) {
    memset(out, 0, sizeof *out);
    FILE *fp = fopen(path, "rb");
    if (!fp) return clip_fail(CLIP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(fp);
        return clip_fail(CLIP_ERR_IO, "%s: not a regular file", path);
    }
    uint64_t total = (uint64_t)sb.st_size;
    /* The preamble (at most 12 bytes) and the longest header allowed. */
    uint64_t max_head = limit_value(LIMIT_NPY_HEADER);
    max_head = max_head > SIZE_MAX - 12 ? SIZE_MAX : max_head + 12;
    size_t want = total < max_head ? (size_t)total : (size_t)max_head;
    unsigned char *head = malloc(want ? want : 1);
    if (!head) {
        fclose(fp);
        return clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    size_t got = fread(head, 1, want, fp);
    size_t offset = 0;
    clip_status st = read_header(head, got, total, path, out, &offset);
    free(head);
    if (st == CLIP_OK) {
        out->data = malloc(out->nbytes ? out->nbytes : 1);
        if (!out->data) {
            st = clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory for %zu bytes", path, out->nbytes);
        } else if (fseeko(fp, (off_t)offset, SEEK_SET) != 0 ||
                   fread(out->data, 1, out->nbytes, fp) != out->nbytes) {
            st = clip_fail(CLIP_ERR_IO, "%s: short read of npy data", path);
        }
    }
    fclose(fp);
    if (st != CLIP_OK) npy_free(out);
    return st;
}
