#include "tokenizer/html_unescape.h"

#include <string.h>

#include "tokenizer/unicode_tables.h"
#include "tokenizer/utf8.h"

/* Python's html.unescape never needs more than this: its named-reference
 * pattern takes at most 32 characters plus ';'. */
enum { NAME_MAX_CHARS = 33 };
/* Numbers saturate here: anything above U+10FFFF gives U+FFFD. */
#define CHARREF_SATURATE 0x7FFFFFFFull

static const char *lookup(const clip_entity *table, size_t count, const char *name, size_t len) {
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *key = table[mid].name;
        int cmp = strncmp(key, name, len);
        if (cmp == 0 && key[len] != '\0') cmp = 1;
        if (cmp < 0) lo = mid + 1;
        else if (cmp > 0) hi = mid;
        else return table[mid].value;
    }
    return NULL;
}

const char *clip_html5_value(const char *name, size_t len) {
    return lookup(clip_html5_entities, clip_html5_entities_count, name, len);
}

const char *clip_ftfy_upper_value(const char *name, size_t len) {
    return lookup(clip_ftfy_upper_entities, clip_ftfy_upper_entities_count, name, len);
}

void clip_append_utf8_value(const char *value, cp_buf *out) {
    clip_utf8_decode_replace((const uint8_t *)value, strlen(value), out);
}

/* html._invalid_codepoints minus the C1 range (handled before). */
static int invalid_codepoint(uint64_t c) {
    if ((c >= 0x1 && c <= 0x8) || c == 0xB || (c >= 0xE && c <= 0x1F) || (c >= 0x7F && c <= 0x9F)) return 1;
    if (c >= 0xFDD0 && c <= 0xFDEF) return 1;
    return (c & 0xFFFE) == 0xFFFE && c <= 0x10FFFF;
}

void clip_html_charref(uint64_t num, cp_buf *out) {
    /* html._invalid_charrefs: NUL, CR and the Windows-1252 remapping of
     * 0x80..0x9F (undefined bytes stay as their C1 control). */
    if (num == 0) {
        cp_push(out, 0xFFFD);
        return;
    }
    if (num == 0x0D) {
        cp_push(out, 0x0D);
        return;
    }
    if (num >= 0x80 && num <= 0x9F) {
        cp_push(out, clip_charmap_decode[CLIP_CHARMAP_SLOPPY_1252][num]);
        return;
    }
    if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) {
        cp_push(out, 0xFFFD);
        return;
    }
    if (invalid_codepoint(num)) return;
    cp_push(out, (uint32_t)num);
}

static int is_digit(uint32_t c) { return c >= '0' && c <= '9'; }

static int hex_value(uint32_t c) {
    if (c >= '0' && c <= '9') return (int)(c - '0');
    if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
    return -1;
}

/* The class [^\t\n\f <&#;] of html.unescape's named-reference pattern. */
static int name_char(uint32_t c) {
    return c != '\t' && c != '\n' && c != '\f' && c != ' ' && c != '<' && c != '&' && c != '#' && c != ';';
}

/* Handles "&#..." at s[0]; returns characters consumed (0: no match). */
static size_t numeric_ref(const uint32_t *s, size_t n, cp_buf *out) {
    size_t k = 2;
    uint64_t num = 0;
    if (k < n && is_digit(s[k])) {
        for (; k < n && is_digit(s[k]); k++) {
            num = num * 10 + (s[k] - '0');
            if (num > CHARREF_SATURATE) num = CHARREF_SATURATE;
        }
    } else if (k + 1 < n && (s[k] == 'x' || s[k] == 'X') && hex_value(s[k + 1]) >= 0) {
        for (k++; k < n && hex_value(s[k]) >= 0; k++) {
            num = num * 16 + (uint64_t)hex_value(s[k]);
            if (num > CHARREF_SATURATE) num = CHARREF_SATURATE;
        }
    } else {
        return 0;
    }
    if (k < n && s[k] == ';') k++;
    clip_html_charref(num, out);
    return k;
}

/* Handles "&name" at s[0]; returns characters consumed (0: no match). */
static size_t named_ref(const uint32_t *s, size_t n, cp_buf *out) {
    size_t k = 1;
    while (k < n && k - 1 < 32 && name_char(s[k])) k++;
    if (k == 1) return 0;
    size_t end = k < n && s[k] == ';' ? k + 1 : k;
    size_t len = end - 1; /* the name, ';' included */
    char name[NAME_MAX_CHARS + 1];
    size_t ascii = 0; /* names are printable ASCII: only such a prefix can match */
    while (ascii < len && s[1 + ascii] >= 1 && s[1 + ascii] < 0x80) {
        name[ascii] = (char)s[1 + ascii];
        ascii++;
    }
    const char *value = ascii == len ? clip_html5_value(name, len) : NULL;
    if (value) {
        clip_append_utf8_value(value, out);
        return end;
    }
    /* The longest prefix (at least two characters) that is an entity valid
     * without ';', the rest of the match kept as text. */
    size_t x = len - 1;
    if (x > ascii) x = ascii;
    for (; x >= 2; x--) {
        value = clip_html5_value(name, x);
        if (value) {
            clip_append_utf8_value(value, out);
            cp_append(out, s + 1 + x, len - x);
            return end;
        }
    }
    cp_push(out, '&');
    cp_append(out, s + 1, len);
    return end;
}

void clip_html_unescape(const uint32_t *s, size_t n, cp_buf *out) {
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && s[j] != '&') j++;
        cp_append(out, s + i, j - i);
        if (j == n) break;
        size_t used = j + 1 < n && s[j + 1] == '#' ? numeric_ref(s + j, n - j, out) : named_ref(s + j, n - j, out);
        if (used) {
            i = j + used;
        } else {
            cp_push(out, '&');
            i = j + 1;
        }
    }
}
