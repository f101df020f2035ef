/* ftfy's fix_encoding(): undo mojibake (UTF-8 decoded as a single-byte
 * codec) when the badness heuristic says the text looks broken. A port of
 * ftfy 6.3.1's _fix_encoding_one_step_and_explain() and
 * decode_inconsistent_utf8(). */
#include "tokenizer/ftfy.h"
#include "tokenizer/unicode_tables.h"
#include "tokenizer/utf8.h"

/* ftfy loops until the text stops changing; every step it takes shortens
 * the text or removes mojibake, but a bound keeps adversarial input from
 * looping forever. */
enum { MAX_STEPS = 64, MAX_DEPTH = 8 };

static int all_ascii(const uint32_t *t, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (t[i] >= 0x80) return 0;
    return 1;
}

/* Tries "encode as `enc`, then decode as UTF-8"; on success replaces
 * *text and returns 1. */
static int try_charmap(int enc, cp_buf *text) {
    byte_buf bytes = {0}, fixed_bytes = {0};
    clip_charmap_encode(enc, text->v, text->n, &bytes);
    /* Not for MacRoman, where an en dash followed by a space would match. */
    if (enc != CLIP_CHARMAP_MACROMAN && clip_altered_utf8_search(bytes.v, bytes.n)) {
        clip_restore_byte_a0(&bytes, &fixed_bytes);
        byte_buf t = bytes;
        bytes = fixed_bytes;
        fixed_bytes = t;
        fixed_bytes.n = 0;
    }
    if (enc != CLIP_CHARMAP_LATIN1 && enc != CLIP_CHARMAP_ISO8859_2 && enc != CLIP_CHARMAP_MACROMAN &&
        enc != CLIP_CHARMAP_CP437) {
        clip_replace_lossy_sequences(&bytes, &fixed_bytes);
        byte_buf t = bytes;
        bytes = fixed_bytes;
        fixed_bytes = t;
    }
    int variants = 0;
    for (size_t i = 0; i < bytes.n; i++)
        if (bytes.v[i] == 0xED || bytes.v[i] == 0xC0) variants = 1;
    cp_buf decoded = {0};
    int ok = !bytes.failed && (variants ? clip_utf8_decode_variants(bytes.v, bytes.n, &decoded)
                                        : clip_utf8_decode_strict(bytes.v, bytes.n, &decoded));
    if (ok && !decoded.failed) {
        cp_buf_swap(text, &decoded);
    } else {
        ok = 0;
        if (decoded.failed || bytes.failed) text->failed = 1;
    }
    cp_buf_free(&decoded);
    byte_buf_free(&bytes);
    byte_buf_free(&fixed_bytes);
    return ok;
}

/* The repetition inside UTF8_DETECTOR_RE at t[i]: a lead-byte lookalike and
 * its continuation lookalikes. Returns the length or 0. */
static size_t utf8_clue_at(const uint32_t *t, size_t n, size_t i) {
    uint32_t m = clip_ftfy_class(t[i]);
    size_t need = (m & MJ_UTF8_FIRST2) ? 1 : (m & MJ_UTF8_FIRST3) ? 2 : (m & MJ_UTF8_FIRST4) ? 3 : 0;
    if (!need || i + need >= n) return 0;
    for (size_t k = 1; k <= need; k++)
        if (!(clip_ftfy_class(t[i + k]) & MJ_UTF8_CONT)) return 0;
    return need + 1;
}

/* fixes.decode_inconsistent_utf8: re-decode each run that looks like UTF-8
 * mojibake on its own, when it is not the whole text and is itself bad. */
static void decode_inconsistent_utf8(cp_buf *text, int depth) {
    const uint32_t *t = text->v;
    size_t n = text->n;
    cp_buf out = {0}, piece = {0};
    size_t i = 0, copied = 0;
    while (i < n) {
        size_t len = 0;
        if (i == 0 || !(clip_ftfy_class(t[i - 1]) & MJ_UTF8_CONT_STRICT)) {
            size_t step;
            while (i + len < n && (step = utf8_clue_at(t, n, i + len)) > 0) len += step;
        }
        if (!len) {
            i++;
            continue;
        }
        if (len < n && clip_ftfy_is_bad(t + i, len)) {
            cp_append(&out, t + copied, i - copied);
            piece.n = 0;
            cp_append(&piece, t + i, len);
            clip_ftfy_fix_encoding(&piece, depth + 1);
            cp_append(&out, piece.v, piece.n);
            copied = i + len;
        }
        i += len;
    }
    if (copied) {
        cp_append(&out, t + copied, n - copied);
        if (out.failed || piece.failed) text->failed = 1;
        else cp_buf_swap(text, &out);
    }
    cp_buf_free(&out);
    cp_buf_free(&piece);
}

static int has_c1(const uint32_t *t, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (t[i] >= 0x80 && t[i] <= 0x9F) return 1;
    return 0;
}

/* One step; returns 0 when ftfy would stop here (it also stops when a step
 * leaves the text as it was, which the caller checks). */
static int fix_one_step(cp_buf *text, int depth) {
    const uint32_t *t = text->v;
    size_t n = text->n;
    if (n == 0 || all_ascii(t, n) || !clip_ftfy_is_bad(t, n)) return 0;

    int latin1_possible = 0;
    for (int enc = 0; enc < CLIP_CHARMAP_COUNT; enc++) {
        if (!clip_charmap_possible(enc, text->v, text->n)) continue;
        if (enc == CLIP_CHARMAP_LATIN1) latin1_possible = 1;
        if (try_charmap(enc, text)) return 1;
    }

    if (depth < MAX_DEPTH) {
        cp_buf before = {0};
        cp_append(&before, text->v, text->n);
        decode_inconsistent_utf8(text, depth);
        int changed = !cp_buf_equal(&before, text);
        cp_buf_free(&before);
        if (changed) return 1;
    }

    /* Latin-1 that was meant as Windows-1252. (ftfy's check for a plain
     * "windows-1252" among the possible codecs never succeeds: only the
     * sloppy variant is tried.) */
    if (latin1_possible) {
        int decodable = 1, changed = 0;
        for (size_t i = 0; i < text->n; i++) {
            uint32_t c = text->v[i];
            if (c >= 0x80 && c <= 0x9F) {
                if (!clip_cp1252_strict[c]) decodable = 0;
                else if (clip_cp1252_strict[c] != c) changed = 1;
            }
        }
        if (decodable && changed) {
            for (size_t i = 0; i < text->n; i++)
                if (text->v[i] >= 0x80 && text->v[i] <= 0x9F) text->v[i] = clip_cp1252_strict[text->v[i]];
            return 1;
        }
    }

    if (has_c1(text->v, text->n)) {
        clip_ftfy_fix_c1_controls(text);
        return 1;
    }
    return 0;
}

void clip_ftfy_fix_encoding(cp_buf *text, int depth) {
    cp_buf before = {0};
    for (int step = 0; step < MAX_STEPS && !text->failed; step++) {
        before.n = 0;
        cp_append(&before, text->v, text->n);
        if (before.failed) {
            text->failed = 1;
            break;
        }
        if (!fix_one_step(text, depth) || cp_buf_equal(&before, text)) break;
    }
    cp_buf_free(&before);
}
