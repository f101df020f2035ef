/* ftfy 6.3's badness heuristic (badness.BADNESS_RE): a list of short
 * character sequences that are far likelier to be mojibake than intended
 * text. The regex is matched by hand here; each alternative is a fixed
 * sequence of character classes, tried at every position. */
#include "tokenizer/ftfy.h"
#include "tokenizer/unicode_props.h"
#include "tokenizer/unicode_tables.h"

uint32_t clip_ftfy_class(uint32_t cp) {
    if (cp < 0x20 || (cp > 0x20 && cp < 0x80)) return 0;
    size_t lo = 0, hi = clip_mojibake_classes_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (clip_mojibake_classes[mid].cp < cp) lo = mid + 1;
        else if (clip_mojibake_classes[mid].cp > cp) hi = mid;
        else return clip_mojibake_classes[mid].value;
    }
    return 0;
}

static int in_list(uint32_t c, const uint32_t *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (list[i] == c) return 1;
    return 0;
}
#define IN(c, ...) in_list((c), (const uint32_t[]){__VA_ARGS__}, sizeof((const uint32_t[]){__VA_ARGS__}) / sizeof(uint32_t))

static int is_ascii_letter(uint32_t c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_lower_az(uint32_t c) { return c >= 'a' && c <= 'z'; }

enum {
    A_ACCENTED = MJ_LOWER_ACCENTED | MJ_UPPER_ACCENTED,
    A_PUNCT = MJ_START_PUNCT | MJ_END_PUNCT,
    /* [{bad}{lower_accented}{upper_accented}{box}{start_punctuation}
     *  {end_punctuation}{currency}{numeric}{law}] */
    A_SET = MJ_BAD | A_ACCENTED | MJ_BOX | A_PUNCT | MJ_CURRENCY | MJ_NUMERIC | MJ_LAW,
};

/* Does one of the alternatives match starting at t[i]? mK is the class of
 * t[i + K] (0 past the end). */
static int match_at(const uint32_t *t, size_t n, size_t i) {
    uint32_t c0 = t[i], c1 = i + 1 < n ? t[i + 1] : 0, c2 = i + 2 < n ? t[i + 2] : 0;
    uint32_t c3 = i + 3 < n ? t[i + 3] : 0;
    uint32_t m0 = clip_ftfy_class(c0), m1 = i + 1 < n ? clip_ftfy_class(c1) : 0;
    uint32_t m2 = i + 2 < n ? clip_ftfy_class(c2) : 0;
    int has1 = i + 1 < n, has2 = i + 2 < n, has3 = i + 3 < n;

    if (m0 & MJ_C1) return 1;
    if (has1) {
        if ((m0 & A_SET) && (m1 & MJ_BAD)) return 1;
        if ((m0 & MJ_BAD) && (m1 & (A_SET & ~MJ_BAD))) return 1;
        if ((m0 & (MJ_LOWER_ACCENTED | MJ_LOWER_COMMON | MJ_BOX | MJ_END_PUNCT | MJ_CURRENCY | MJ_NUMERIC)) &&
            (m1 & MJ_UPPER_ACCENTED))
            return 1;
        if ((m0 & (MJ_BOX | MJ_END_PUNCT | MJ_CURRENCY | MJ_NUMERIC)) && (m1 & MJ_LOWER_ACCENTED)) return 1;
        if ((m0 & (MJ_LOWER_ACCENTED | MJ_BOX | MJ_END_PUNCT)) && (m1 & MJ_CURRENCY)) return 1;
        if ((m0 & (MJ_UPPER_ACCENTED | MJ_BOX)) && (m1 & (MJ_NUMERIC | MJ_LAW))) return 1;
        if ((m0 & (MJ_CURRENCY | MJ_NUMERIC | MJ_BOX)) && (m1 & MJ_START_PUNCT)) return 1;
        if ((m0 & MJ_BOX) && (m1 & MJ_KAOMOJI)) return 1;
        if ((m0 & (A_ACCENTED | MJ_CURRENCY | MJ_NUMERIC | A_PUNCT | MJ_LAW)) && (m1 & MJ_BOX)) return 1;
        if ((m0 & MJ_BOX) && (m1 & MJ_END_PUNCT)) return 1;
        /* The ligature œ when not followed by an unaccented Latin letter */
        if ((c0 == 0x152 || c0 == 0x153) && !is_ascii_letter(c1)) return 1;
        /* Degree signs after capital letters */
        if ((m0 & MJ_UPPER_ACCENTED) && c1 == 0xB0) return 1;
        /* Common Windows-1252 2-character mojibake */
        if (IN(c0, 0xC2, 0xC3, 0xCE, 0xD0) &&
            ((m1 & A_PUNCT) || IN(c1, 0x20AC, 0x153, 0x160, 0x161, 0xA2, 0xA3, 0x178, 0x17E, 0xA0, 0xAD, 0xAE,
                                  0xA9, 0xB0, 0xB7, 0xBB, 0x2013, 0x2014, 0xB4)))
            return 1;
        if (c0 == 0xD7 && (c1 == 0xB2 || c1 == 0xB3)) return 1;
        if (c0 == 0xE0 && IN(c1, 0xB2, 0xB5, 0xB9, 0xBC, 0xBD, 0xBE)) return 1;
        /* MacRoman */
        if (c0 == 0x221A && IN(c1, 0xB1, 0x2202, 0x2020, 0x2260, 0xAE, 0x2122, 0xB4, 0x2264, 0x2265, 0xA5, 0xB5, 0xF8))
            return 1;
        if (c0 == 0x2248 && (c1 == 0xB0 || c1 == 0xA2)) return 1;
        /* Windows-1251 mojibake of the U+2000 range */
        if (c0 == 0x432 && c1 == 0x402) return 1;
        /* Windows-1252 encodings of 'à' and 'á', as well as \xa0 itself */
        if (c0 == 0xC3 && (c1 == 0xA0 || c1 == 0xA1)) return 1;
        if (i == 0 && (c0 == 0xC3 || c0 == 0xC2) && c1 == ' ') return 1;
        /* Windows-1257 */
        if (c0 == 0x101 && c1 == 0x20AC) return 1;
    }
    if (has2) {
        if (is_ascii_letter(c0) && (m1 & (MJ_LOWER_COMMON | MJ_UPPER_COMMON)) && (m2 & MJ_BAD)) return 1;
        if (clip_py_isspace(c0) && (m1 & MJ_UPPER_ACCENTED) && (m2 & MJ_CURRENCY)) return 1;
        if ((m0 & (A_ACCENTED | MJ_BOX | MJ_CURRENCY | MJ_END_PUNCT)) && (m1 & MJ_START_PUNCT) && (m2 & MJ_NUMERIC))
            return 1;
        if ((m0 & (A_ACCENTED | MJ_CURRENCY | MJ_NUMERIC | MJ_BOX | MJ_LAW)) && (m1 & MJ_END_PUNCT) &&
            (m2 & MJ_START_PUNCT))
            return 1;
        if (is_lower_az(c0) && (m1 & MJ_UPPER_ACCENTED) && (m2 & (MJ_START_PUNCT | MJ_CURRENCY))) return 1;
        if ((m0 & A_ACCENTED) && (m1 & A_PUNCT) && clip_py_isword(c2)) return 1;
        if (c0 == 0x201A && c1 == 0xC4 && IN(c2, 0xEC, 0xEE, 0xEF, 0xF2, 0xF4, 0xFA, 0xF9, 0xFB, 0x2020, 0xB0, 0xA2, 0x3C0))
            return 1;
        if (c0 == 0x201A && (c1 == 0xE2 || c1 == 0xF3) && IN(c2, 0xE0, 0xE4, 0xB0, 0xEA)) return 1;
        /* Windows-1251 mojibake of Latin-1 characters and/or Cyrillic */
        if (IN(c0, 0x412, 0x413, 0x420, 0x421) &&
            ((m1 & (MJ_C1 | MJ_BAD | A_PUNCT | MJ_CURRENCY)) || c1 == 0xB0 || c1 == 0xB5) &&
            IN(c2, 0x412, 0x413, 0x420, 0x421))
            return 1;
        /* [a-z]\s?[ÃÂ][ ], without the optional space */
        if (is_lower_az(c0) && (c1 == 0xC3 || c1 == 0xC2) && c2 == ' ') return 1;
        /* Â standing for itself before common punctuation */
        if ((is_lower_az(c0) || IN(c0, '.', ',', '?', '!') || (m0 & MJ_END_PUNCT)) && c1 == 0xC2 &&
            (c2 == ' ' || (m2 & A_PUNCT)))
            return 1;
        /* Windows-1253 */
        if (c0 == 0x3B2 && c1 == 0x20AC && IN(c2, 0x2122, 0xA0, 0x386, 0xAD, 0xAE, 0xB0)) return 1;
        if (IN(c0, 0x392, 0x393, 0x39E, 0x39F) &&
            ((m1 & (MJ_C1 | MJ_BAD | A_PUNCT | MJ_CURRENCY)) || c1 == 0xB0) && IN(c2, 0x392, 0x393, 0x39E, 0x39F))
            return 1;
    }
    if (has3) {
        /* [a-z]\s[ÃÂ][ ] */
        if (is_lower_az(c0) && clip_py_isspace(c1) && (c2 == 0xC3 || c2 == 0xC2) && c3 == ' ') return 1;
        /* Arabic in Windows-1252: [ØÙ][S][ØÙ][S] */
        const uint32_t s_mask = MJ_COMMON | MJ_CURRENCY | MJ_BAD | MJ_NUMERIC | MJ_START_PUNCT;
        uint32_t m3 = clip_ftfy_class(c3);
        if ((c0 == 0xD8 || c0 == 0xD9) && (c2 == 0xD8 || c2 == 0xD9) &&
            ((m1 & s_mask) || IN(c1, 0x178, 0x160, 0xAE, 0xB0, 0xB5, 0xBB)) &&
            ((m3 & s_mask) || IN(c3, 0x178, 0x160, 0xAE, 0xB0, 0xB5, 0xBB)))
            return 1;
    }
    /* ГўВЂВ.[A-Za-z ] */
    if (i + 6 < n && c0 == 0x413 && c1 == 0x45E && c2 == 0x412 && c3 == 0x402 && t[i + 4] == 0x412 &&
        t[i + 5] != '\n' && (is_ascii_letter(t[i + 6]) || t[i + 6] == ' '))
        return 1;
    return 0;
}

int clip_ftfy_is_bad(const uint32_t *t, size_t n) {
    for (size_t i = 0; i < n; i++) {
        /* Every alternative has a non-ASCII character among its first
         * three: skip positions that cannot start a match cheaply. */
        if (t[i] < 0x80 && (i + 1 >= n || t[i + 1] < 0x80) && (i + 2 >= n || t[i + 2] < 0x80)) continue;
        if (match_at(t, n, i)) return 1;
    }
    return 0;
}
