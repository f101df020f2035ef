/* CLIP's pre-tokenizer, the `regex` pattern
 *   <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
 * with re.IGNORECASE, matched by hand. Its pieces never contain White_Space,
 * so it runs word by word. */
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode_props.h"
#include "tokenizer/utf8.h"

/* Simple case folding as far as the pattern's literals need it: ASCII
 * letters, and U+017F LATIN SMALL LETTER LONG S, which folds to 's' (the
 * text is lower-cased already, so 'ſ' is the one variant left). */
static uint32_t fold(uint32_t c) {
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c == 0x17F) return 's';
    return c;
}

static size_t next_cp(const uint8_t *w, size_t n, size_t i, uint32_t *c) {
    if (w[i] < 0x80) {
        *c = w[i];
        return 1;
    }
    return clip_utf8_next(w + i, n - i, c);
}

/* Byte length of `literal` matched case-insensitively at w[i], or 0. */
static size_t match_literal(const uint8_t *w, size_t n, size_t i, const char *literal) {
    size_t j = i;
    for (const char *p = literal; *p; p++) {
        if (j >= n) return 0;
        uint32_t c;
        size_t len = next_cp(w, n, j, &c);
        if (fold(c) != (uint32_t)(unsigned char)*p) return 0;
        j += len;
    }
    return j - i;
}

static inline int ascii_class(uint8_t c) {
    if ((uint8_t)((c | 0x20) - 'a') < 26) return PT_LETTER;
    if ((uint8_t)(c - '0') < 10) return PT_NUMBER;
    if (c == ' ' || (c >= 0x09 && c <= 0x0D)) return PT_SPACE;
    return PT_OTHER;
}

static inline int class_at(const uint8_t *w, size_t n, size_t i, size_t *len) {
    if (w[i] < 0x80) {
        *len = 1;
        return ascii_class(w[i]);
    }
    uint32_t c;
    *len = clip_utf8_next(w + i, n - i, &c);
    return clip_pretok_class(c);
}

int clip_pretokenize(const uint8_t *w, size_t n, clip_piece_sink sink, void *ctx) {
    size_t i = 0;
    while (i < n) {
        size_t len;
        if (w[i] == '<') {
            len = match_literal(w, n, i, "<|startoftext|>");
            if (!len) len = match_literal(w, n, i, "<|endoftext|>");
            if (len) {
                int stop = sink(ctx, w + i, len);
                if (stop) return stop;
                i += len;
                continue;
            }
        } else if (w[i] == '\'') {
            static const char *const contractions[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
            len = 0;
            for (size_t k = 0; k < 7 && !len; k++) len = match_literal(w, n, i, contractions[k]);
            if (len) {
                int stop = sink(ctx, w + i, len);
                if (stop) return stop;
                i += len;
                continue;
            }
        }
        int cls = class_at(w, n, i, &len);
        if (cls == PT_SPACE || cls == PT_SKIP) {
            i += len;
            continue;
        }
        size_t end = i + len;
        if (cls != PT_NUMBER) {
            /* [\p{L}]+ and [^\s\p{L}\p{N}]+ are greedy runs of one class. */
            while (end < n) {
                size_t l2;
                if (class_at(w, n, end, &l2) != cls) break;
                end += l2;
            }
        }
        int stop = sink(ctx, w + i, end - i);
        if (stop) return stop;
        i = end;
    }
    return 0;
}
