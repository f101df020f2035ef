/* ftfy.fix_and_explain() on one segment: the fixers of ftfy 6.3.1's default
 * configuration, in its order, repeated until the text stops changing. */
#include "tokenizer/ftfy.h"

#include <stdlib.h>
#include <utf8proc.h>

#include "tokenizer/html_unescape.h"
#include "tokenizer/unicode_props.h"
#include "tokenizer/unicode_tables.h"
#include "tokenizer/utf8.h"

/* fix_and_explain() has no bound; ftfy's fixers converge in two or three
 * rounds, so this only stops adversarial ping-pong. */
enum { MAX_ROUNDS = 32 };

static int is_alnum_ascii(uint32_t c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* fixes._unescape_fixup for a match of &#?[0-9A-Za-z]{1,24}; at t[0] of
 * `len` characters (';' included). Appends the replacement; returns 0 to
 * keep the text as it is. */
static int ftfy_entity(const uint32_t *t, size_t len, cp_buf *out) {
    char name[32];
    size_t name_len = len - 1; /* without '&', with ';' */
    for (size_t k = 0; k < name_len; k++) name[k] = (char)t[1 + k];
    if (name[0] != '#') {
        const char *value = clip_html5_value(name, name_len);
        if (!value) value = clip_ftfy_upper_value(name, name_len);
        if (!value) return 0;
        clip_append_utf8_value(value, out);
        return 1;
    }
    /* html.unescape of the whole match; kept unless it consumed the ';'
     * and produced no ';' (so "&#59;" and "&#12x;" stay). */
    uint64_t num = 0;
    size_t k = 1;
    int hex = name[k] == 'x' || name[k] == 'X';
    if (hex) k++;
    if (k == name_len - 1) return 0;
    for (; k < name_len - 1; k++) {
        uint32_t c = (uint32_t)name[k];
        int v = c >= '0' && c <= '9' ? (int)(c - '0')
                : hex && c >= 'a' && c <= 'f' ? (int)(c - 'a' + 10)
                : hex && c >= 'A' && c <= 'F' ? (int)(c - 'A' + 10)
                : -1;
        if (v < 0) return 0;
        num = num * (hex ? 16 : 10) + (uint64_t)v;
        if (num > 0x7FFFFFFF) num = 0x7FFFFFFF;
    }
    size_t before = out->n;
    clip_html_charref(num, out);
    if (out->n > before && out->v[before] == ';') {
        out->n = before;
        return 0;
    }
    return 1;
}

void clip_ftfy_unescape_html(cp_buf *text, cp_buf *out) {
    const uint32_t *t = text->v;
    size_t n = text->n;
    out->n = 0;
    for (size_t i = 0; i < n;) {
        if (t[i] == '&') {
            size_t k = i + 1 + (i + 1 < n && t[i + 1] == '#');
            size_t run = 0;
            while (k + run < n && run <= 24 && is_alnum_ascii(t[k + run])) run++;
            if (run >= 1 && run <= 24 && k + run < n && t[k + run] == ';') {
                size_t len = k + run + 1 - i;
                if (!ftfy_entity(t + i, len, out)) cp_append(out, t + i, len);
                i += len;
                continue;
            }
        }
        cp_push(out, t[i++]);
    }
    cp_buf_swap(text, out);
}

void clip_ftfy_fix_c1_controls(cp_buf *text) {
    for (size_t i = 0; i < text->n; i++)
        if (text->v[i] >= 0x80 && text->v[i] <= 0x9F)
            text->v[i] = clip_charmap_decode[CLIP_CHARMAP_SLOPPY_1252][text->v[i]];
}

/* chardata.LIGATURES: Latin ligatures and legacy digraphs, split. */
static const char *ligature(uint32_t c) {
    switch (c) {
    case 0x132: return "IJ";
    case 0x133: return "ij";
    case 0x149: return "\xca\xbcn"; /* ŉ -> ʼn */
    case 0x1F1: return "DZ";
    case 0x1F2: return "Dz";
    case 0x1F3: return "dz";
    case 0x1C4: return "D\xc5\xbd"; /* DŽ */
    case 0x1C5: return "D\xc5\xbe"; /* Dž */
    case 0x1C6: return "d\xc5\xbe"; /* dž */
    case 0x1C7: return "LJ";
    case 0x1C8: return "Lj";
    case 0x1C9: return "lj";
    case 0x1CA: return "NJ";
    case 0x1CB: return "Nj";
    case 0x1CC: return "nj";
    case 0xFB00: return "ff";
    case 0xFB01: return "fi";
    case 0xFB02: return "fl";
    case 0xFB03: return "ffi";
    case 0xFB04: return "ffl";
    case 0xFB05: return "\xc5\xbft"; /* ſt */
    case 0xFB06: return "st";
    default: return NULL;
    }
}

static const clip_cp_map2 *width_entry(uint32_t c) {
    size_t lo = 0, hi = clip_width_map_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (clip_width_map[mid].cp < c) lo = mid + 1;
        else if (clip_width_map[mid].cp > c) hi = mid;
        else return &clip_width_map[mid];
    }
    return NULL;
}

/* fix_latin_ligatures, fix_character_width, uncurl_quotes: three
 * character-to-characters maps, applied in ftfy's order. */
static void fix_chars(cp_buf *text, cp_buf *out) {
    out->n = 0;
    for (size_t i = 0; i < text->n; i++) {
        uint32_t c = text->v[i];
        if (c < 0x80) {
            cp_push(out, c);
            continue;
        }
        uint32_t expanded[4];
        size_t m = 0;
        const char *lig = ligature(c);
        if (lig) {
            cp_buf tmp = {0};
            clip_append_utf8_value(lig, &tmp);
            for (size_t k = 0; k < tmp.n && m < 4; k++) expanded[m++] = tmp.v[k];
            cp_buf_free(&tmp);
        } else {
            expanded[m++] = c;
        }
        for (size_t k = 0; k < m; k++) {
            uint32_t d = expanded[k];
            uint32_t w[2] = {d, 0};
            if (d == 0x3000 || (d >= 0xFF01 && d <= 0xFFEF)) {
                const clip_cp_map2 *e = width_entry(d);
                if (e) {
                    w[0] = e->out[0];
                    w[1] = e->out[1];
                }
            }
            for (int j = 0; j < 2 && (j == 0 || w[j]); j++) {
                uint32_t q = w[j];
                if (q == 0x2BC || (q >= 0x2018 && q <= 0x201B)) q = '\'';
                else if (q >= 0x201C && q <= 0x201F) q = '"';
                cp_push(out, q);
            }
        }
    }
    cp_buf_swap(text, out);
}

/* fix_line_breaks, remove_terminal_escapes, remove_control_chars. */
static void fix_breaks_and_controls(cp_buf *text, cp_buf *out) {
    const uint32_t *t = text->v;
    size_t n = text->n;
    /* Line breaks first: they may not be merged with the rest, as a '\r'
     * inside an escape sequence would then survive it. */
    out->n = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = t[i];
        if (c == '\r') {
            if (i + 1 < n && t[i + 1] == '\n') continue;
            c = '\n';
        } else if (c == 0x2028 || c == 0x2029 || c == 0x85) {
            c = '\n';
        }
        cp_push(out, c);
    }
    cp_buf_swap(text, out);
    t = text->v;
    n = text->n;
    out->n = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = t[i];
        if (c == 0x1B && i + 1 < n && t[i + 1] == '[') {
            /* ANSI_RE = "\033\[((?:\d|;)*)([a-zA-Z])" */
            size_t k = i + 2;
            while (k < n && (t[k] == ';' || clip_py_isdecimal(t[k]))) k++;
            if (k < n && ((t[k] | 0x20) >= 'a' && (t[k] | 0x20) <= 'z')) {
                i = k;
                continue;
            }
        }
        cp_push(out, c);
    }
    cp_buf_swap(text, out);
    size_t w = 0;
    for (size_t i = 0; i < text->n; i++) {
        uint32_t c = text->v[i];
        int control = c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F ||
                      (c >= 0x206A && c <= 0x206F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
        if (!control) text->v[w++] = c;
    }
    text->n = w;
}

void clip_ftfy_nfc(cp_buf *text) {
    size_t i = 0;
    while (i < text->n && text->v[i] < 0x300) i++;
    if (i == text->n) return; /* nothing below U+0300 composes or changes */
    byte_buf bytes = {0};
    clip_utf8_encode_append(text->v, text->n, &bytes);
    if (bytes.failed) {
        text->failed = 1;
        return;
    }
    utf8proc_uint8_t *nfc = NULL;
    utf8proc_ssize_t len = utf8proc_map(bytes.v, (utf8proc_ssize_t)bytes.n, &nfc, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    byte_buf_free(&bytes);
    if (len < 0) {
        /* Only on out-of-memory: the input is valid UTF-8 by construction. */
        text->failed = 1;
        return;
    }
    text->n = 0;
    clip_utf8_decode_replace(nfc, (size_t)len, text);
    free(nfc);
}

void clip_ftfy_fix_segment(cp_buf *text, int unescape_html) {
    cp_buf orig = {0}, scratch = {0};
    for (int round = 0; round < MAX_ROUNDS && !text->failed; round++) {
        orig.n = 0;
        cp_append(&orig, text->v, text->n);
        if (unescape_html) clip_ftfy_unescape_html(text, &scratch);
        clip_ftfy_fix_encoding(text, 0);
        clip_ftfy_fix_c1_controls(text);
        fix_chars(text, &scratch);
        /* fix_surrogates has nothing to do: the text came from UTF-8. */
        fix_breaks_and_controls(text, &scratch);
        clip_ftfy_nfc(text);
        if (orig.failed || scratch.failed) text->failed = 1;
        if (cp_buf_equal(&orig, text)) break;
    }
    cp_buf_free(&orig);
    cp_buf_free(&scratch);
}
