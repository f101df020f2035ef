/* The byte-level side of ftfy's mojibake repair: its single-byte codecs
 * (chardata.CHARMAP_ENCODINGS, with the "sloppy" variants) and the byte
 * transcoders restore_byte_a0 and replace_lossy_sequences. */
#include <pthread.h>
#include <stdlib.h>

#include "tokenizer/ftfy.h"
#include "tokenizer/unicode_tables.h"

/* Per codec, the characters of bytes 0x80..0xFF plus byte 0x1A, sorted for
 * binary search (the encoder direction). */
typedef struct {
    uint32_t cp;
    uint8_t byte;
} rev_entry;
enum { REV_COUNT = 129 };
static rev_entry reverse[CLIP_CHARMAP_COUNT][REV_COUNT];
static pthread_once_t reverse_once = PTHREAD_ONCE_INIT;

static int rev_cmp(const void *a, const void *b) {
    uint32_t x = ((const rev_entry *)a)->cp, y = ((const rev_entry *)b)->cp;
    return (x > y) - (x < y);
}

static void build_reverse(void) {
    for (int e = 0; e < CLIP_CHARMAP_COUNT; e++) {
        for (int b = 0; b < 128; b++) reverse[e][b] = (rev_entry){clip_charmap_decode[e][0x80 + b], (uint8_t)(0x80 + b)};
        reverse[e][128] = (rev_entry){clip_charmap_decode[e][0x1A], 0x1A};
        qsort(reverse[e], REV_COUNT, sizeof(rev_entry), rev_cmp);
    }
}

/* The byte `cp` encodes to in codec `enc`, or -1. Bytes 0x00..0x7F other
 * than 0x1A decode to themselves in every codec ftfy uses. */
static int charmap_byte(int enc, uint32_t cp) {
    if (cp < 0x80 && cp != 0x1A) return (int)cp;
    size_t lo = 0, hi = REV_COUNT;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (reverse[enc][mid].cp < cp) lo = mid + 1;
        else if (reverse[enc][mid].cp > cp) hi = mid;
        else return reverse[enc][mid].byte;
    }
    return -1;
}

int clip_charmap_possible(int enc, const uint32_t *t, size_t n) {
    pthread_once(&reverse_once, build_reverse);
    for (size_t i = 0; i < n; i++)
        if (charmap_byte(enc, t[i]) < 0) return 0;
    return 1;
}

void clip_charmap_encode(int enc, const uint32_t *t, size_t n, byte_buf *out) {
    pthread_once(&reverse_once, build_reverse);
    if (!byte_buf_reserve(out, n)) return;
    for (size_t i = 0; i < n; i++) out->v[out->n++] = (uint8_t)charmap_byte(enc, t[i]);
}

static int in(uint8_t b, uint8_t lo, uint8_t hi) { return b >= lo && b <= hi; }
static int cont(uint8_t b) { return in(b, 0x80, 0xBF); }
/* [\x80-\x84\x86-\x9f\xa1-\xbf]: a continuation byte other than 0x85, 0xA0 */
static int cont_not_85_a0(uint8_t b) { return cont(b) && b != 0x85 && b != 0xA0; }

/* Length of an ALTERED_UTF8_RE match at b[0] (0 if none): UTF-8 sequences
 * that would be valid if one byte 0x20 were the 0xA0 it probably was. */
static size_t altered_utf8_at(const uint8_t *b, size_t n) {
    uint8_t b0 = b[0];
    if (n >= 2 && (b0 == 0xC2 || b0 == 0xC3 || b0 == 0xC5 || b0 == 0xCE || b0 == 0xD0 || b0 == 0xD9) && b[1] == ' ')
        return 2;
    if (n >= 3 && (b0 == 0xE2 || b0 == 0xE3) && b[1] == ' ' && cont_not_85_a0(b[2])) return 3;
    if (n >= 3 && in(b0, 0xE0, 0xE3) && cont_not_85_a0(b[1]) && b[2] == ' ') return 3;
    if (n >= 4 && b0 == 0xF0) {
        if (b[1] == ' ' && cont(b[2]) && cont(b[3])) return 4;
        if (cont(b[1]) && b[2] == ' ' && cont(b[3])) return 4;
        if (cont(b[1]) && cont(b[2]) && b[3] == ' ') return 4;
    }
    return 0;
}

int clip_altered_utf8_search(const uint8_t *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (b[i] >= 0xC2 && altered_utf8_at(b + i, n - i)) return 1;
    return 0;
}

/* A_GRAVE_WORD_RE = b"\xc3 (?! |quele|quela|quilo|s )": "Ã " as the word
 * "à", except before the Portuguese contractions and a second space. */
static int a_grave_word_at(const uint8_t *b, size_t n) {
    if (n < 2 || b[0] != 0xC3 || b[1] != ' ') return 0;
    const uint8_t *r = b + 2;
    size_t m = n - 2;
    static const char *const exceptions[] = {" ", "quele", "quela", "quilo", "s "};
    for (size_t k = 0; k < sizeof exceptions / sizeof *exceptions; k++) {
        size_t len = strlen(exceptions[k]);
        if (m >= len && memcmp(r, exceptions[k], len) == 0) return 0;
    }
    return 1;
}

void clip_restore_byte_a0(const byte_buf *in_bytes, byte_buf *out) {
    byte_buf step = {0};
    const uint8_t *b = in_bytes->v;
    size_t n = in_bytes->n;
    for (size_t i = 0; i < n;) {
        if (a_grave_word_at(b + i, n - i)) {
            byte_append(&step, "\xc3\xa0 ", 3);
            i += 2;
        } else {
            byte_push(&step, b[i++]);
        }
    }
    b = step.v;
    n = step.n;
    for (size_t i = 0; i < n;) {
        size_t len = b[i] >= 0xC2 ? altered_utf8_at(b + i, n - i) : 0;
        if (len) {
            for (size_t k = 0; k < len; k++) byte_push(out, b[i + k] == ' ' ? 0xA0 : b[i + k]);
            i += len;
        } else {
            byte_push(out, b[i++]);
        }
    }
    if (step.failed) out->failed = 1;
    byte_buf_free(&step);
}

/* Length of a LOSSY_UTF8_RE match at b[0] (0 if none): UTF-8 sequences in
 * which byte 0x1A (ftfy's stand-in for a lost byte) or, once, '?' replaced
 * continuation bytes. */
static size_t lossy_at(const uint8_t *b, size_t n) {
#define SUB(x) ((x) == 0x1A)
#define SUBQ(x) ((x) == 0x1A || (x) == '?')
#define SUBC(x) ((x) == 0x1A || cont(x))
#define SUBQC(x) ((x) == 0x1A || (x) == '?' || cont(x))
    uint8_t b0 = b[0];
    if (n >= 2 && in(b0, 0xC2, 0xDF) && SUB(b[1])) return 2;
    if (n >= 2 && in(b0, 0xC2, 0xC3) && b[1] == '?') return 2;
    if (n >= 6 && b0 == 0xED && in(b[1], 0xA0, 0xAF) && b[3] == 0xED && in(b[4], 0xB0, 0xBF)) {
        if (SUBQ(b[2]) && SUBQC(b[5])) return 6;
        if (SUBQC(b[2]) && SUBQ(b[5])) return 6;
    }
    if (n >= 3 && in(b0, 0xE0, 0xEF)) {
        if (SUBQ(b[1]) && SUBC(b[2])) return 3;
        if (SUBC(b[1]) && SUBQ(b[2])) return 3;
    }
    if (n >= 4 && in(b0, 0xF0, 0xF4)) {
        if (SUBQ(b[1]) && SUBC(b[2]) && SUBC(b[3])) return 4;
        if (SUBC(b[1]) && SUBQ(b[2]) && SUBC(b[3])) return 4;
        if (SUBC(b[1]) && SUBC(b[2]) && SUBQ(b[3])) return 4;
    }
    if (SUB(b0)) return 1;
    return 0;
#undef SUB
#undef SUBQ
#undef SUBC
#undef SUBQC
}

void clip_replace_lossy_sequences(const byte_buf *in_bytes, byte_buf *out) {
    const uint8_t *b = in_bytes->v;
    size_t n = in_bytes->n;
    for (size_t i = 0; i < n;) {
        size_t len = (b[i] >= 0xC2 || b[i] == 0x1A) ? lossy_at(b + i, n - i) : 0;
        if (len) {
            byte_append(out, "\xef\xbf\xbd", 3);
            i += len;
        } else {
            byte_push(out, b[i++]);
        }
    }
}
