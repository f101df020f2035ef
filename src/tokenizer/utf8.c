#include "tokenizer/utf8.h"

static inline int cont(uint8_t b) { return (b & 0xC0) == 0x80; }

/* The second byte's valid range depends on the lead byte (no overlongs, no
 * surrogates, nothing above U+10FFFF): the same table CPython's decoder and
 * the Unicode standard's "maximal subpart" rule use. */
static inline int second_ok(uint8_t lead, uint8_t b) {
    switch (lead) {
    case 0xE0: return b >= 0xA0 && b <= 0xBF;
    case 0xED: return b >= 0x80 && b <= 0x9F;
    case 0xF0: return b >= 0x90 && b <= 0xBF;
    case 0xF4: return b >= 0x80 && b <= 0x8F;
    default: return cont(b);
    }
}

size_t clip_utf8_next(const uint8_t *s, size_t n, uint32_t *cp) {
    uint8_t b0 = s[0];
    if (b0 < 0x80) {
        *cp = b0;
        return 1;
    }
    size_t need;
    uint32_t c;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        need = 2;
        c = b0 & 0x1F;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        need = 3;
        c = b0 & 0x0F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        need = 4;
        c = b0 & 0x07;
    } else {
        *cp = 0xFFFD;
        return 1;
    }
    if (n < 2 || !second_ok(b0, s[1])) {
        *cp = 0xFFFD;
        return 1;
    }
    c = (c << 6) | (s[1] & 0x3F);
    for (size_t i = 2; i < need; i++) {
        if (i >= n || !cont(s[i])) {
            *cp = 0xFFFD;
            return i;
        }
        c = (c << 6) | (s[i] & 0x3F);
    }
    *cp = c;
    return need;
}

void clip_utf8_decode_replace(const uint8_t *s, size_t n, cp_buf *out) {
    if (!cp_buf_reserve(out, n)) return;
    uint32_t *o = out->v + out->n;
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            *o++ = s[i++];
            continue;
        }
        uint32_t cp;
        i += clip_utf8_next(s + i, n - i, &cp);
        *o++ = cp;
    }
    out->n = (size_t)(o - out->v);
}

/* Decodes one strictly valid character at s[i]; returns its length or 0. */
static size_t strict_char(const uint8_t *s, size_t n, uint32_t *cp) {
    uint32_t c;
    size_t len = clip_utf8_next(s, n, &c);
    if (c == 0xFFFD && !(len == 3 && s[0] == 0xEF && s[1] == 0xBF && s[2] == 0xBD)) return 0;
    *cp = c;
    return len;
}

int clip_utf8_decode_strict(const uint8_t *s, size_t n, cp_buf *out) {
    size_t start = out->n;
    for (size_t i = 0; i < n;) {
        uint32_t c;
        size_t len = strict_char(s + i, n - i, &c);
        if (!len) {
            out->n = start;
            return 0;
        }
        cp_push(out, c);
        i += len;
    }
    return 1;
}

/* A six-byte CESU-8 pair: ED A0-AF 80-BF ED B0-BF 80-BF. */
static int cesu8_pair(const uint8_t *s, size_t n) {
    return n >= 6 && s[0] == 0xED && s[1] >= 0xA0 && s[1] <= 0xAF && cont(s[2]) && s[3] == 0xED &&
           s[4] >= 0xB0 && s[4] <= 0xBF && cont(s[5]);
}

int clip_utf8_decode_variants(const uint8_t *s, size_t n, cp_buf *out) {
    size_t start = out->n;
    for (size_t i = 0; i < n;) {
        if (s[i] == 0xC0 && i + 1 < n && s[i + 1] == 0x80) {
            cp_push(out, 0);
            i += 2;
            continue;
        }
        if (cesu8_pair(s + i, n - i)) {
            uint32_t c = (((uint32_t)s[i + 1] & 0x0F) << 16) + (((uint32_t)s[i + 2] & 0x3F) << 10) +
                         (((uint32_t)s[i + 4] & 0x0F) << 6) + ((uint32_t)s[i + 5] & 0x3F) + 0x10000;
            cp_push(out, c);
            i += 6;
            continue;
        }
        uint32_t c;
        size_t len = strict_char(s + i, n - i, &c);
        if (!len) {
            out->n = start;
            return 0;
        }
        cp_push(out, c);
        i += len;
    }
    return 1;
}

size_t clip_utf8_put(uint32_t cp, uint8_t *out) {
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

void clip_utf8_encode_append(const uint32_t *cps, size_t n, byte_buf *out) {
    if (n > SIZE_MAX / 4 || !byte_buf_reserve(out, n * 4)) return;
    uint8_t *o = out->v + out->n;
    for (size_t i = 0; i < n; i++) o += clip_utf8_put(cps[i], o);
    out->n = (size_t)(o - out->v);
}
