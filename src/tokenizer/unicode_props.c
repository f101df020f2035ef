#include "tokenizer/unicode_props.h"

#include <utf8proc.h>

int clip_cp_in_ranges(uint32_t cp, const clip_cp_range *r, size_t n) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < r[mid].lo) hi = mid;
        else if (cp > r[mid].hi) lo = mid + 1;
        else return 1;
    }
    return 0;
}

int clip_is_white_space(uint32_t cp) {
    if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
    if (cp < 0x85) return 0;
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
           cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

int clip_py_isspace(uint32_t cp) {
    /* str.isspace() adds the information separators U+1C..U+1F. */
    return clip_is_white_space(cp) || (cp >= 0x1C && cp <= 0x1F);
}

int clip_py_isword(uint32_t cp) {
    if (cp < 0x80) return (cp >= '0' && cp <= '9') || (cp >= 'A' && cp <= 'Z') || (cp >= 'a' && cp <= 'z') || cp == '_';
    return clip_cp_in_ranges(cp, clip_py_word_ranges, clip_py_word_ranges_count);
}

int clip_py_isdecimal(uint32_t cp) {
    if (cp < 0x80) return cp >= '0' && cp <= '9';
    return clip_cp_in_ranges(cp, clip_py_decimal_ranges, clip_py_decimal_ranges_count);
}

static int is_cased(uint32_t cp) { return clip_cp_in_ranges(cp, clip_cased_ranges, clip_cased_ranges_count); }

static int is_case_ignorable(uint32_t cp) {
    return clip_cp_in_ranges(cp, clip_case_ignorable_ranges, clip_case_ignorable_ranges_count);
}

/* CPython's handle_capital_sigma: U+03A3 lowers to final ς when preceded by
 * a cased letter and not followed by one (case-ignorable characters are
 * skipped both ways). */
static uint32_t lower_sigma(const uint32_t *s, size_t n, size_t i) {
    size_t j = i;
    uint32_t c = 0;
    int found = 0;
    while (j > 0) {
        c = s[--j];
        if (!is_case_ignorable(c)) {
            found = 1;
            break;
        }
    }
    int final_sigma = found && is_cased(c);
    if (final_sigma) {
        for (j = i + 1; j < n; j++) {
            c = s[j];
            if (!is_case_ignorable(c)) break;
        }
        final_sigma = j == n || !is_cased(c);
    }
    return final_sigma ? 0x3C2 : 0x3C3;
}

void clip_py_lower_append(const uint32_t *s, size_t n, cp_buf *out) {
    if (!cp_buf_reserve(out, n + 8)) return;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = s[i];
        if (c < 0x80) {
            if (c >= 'A' && c <= 'Z') c += 32;
            cp_push(out, c);
        } else if (c == 0x130) {
            /* The one unconditional multi-character lowercase mapping
             * (SpecialCasing.txt) that utf8proc's simple mapping lacks. */
            cp_push(out, 'i');
            cp_push(out, 0x307);
        } else if (c == 0x3A3) {
            cp_push(out, lower_sigma(s, n, i));
        } else {
            cp_push(out, (uint32_t)utf8proc_tolower((utf8proc_int32_t)c));
        }
    }
}

int clip_pretok_class(uint32_t cp) {
    if (cp < 0x80) {
        if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') return PT_LETTER;
        if (cp >= '0' && cp <= '9') return PT_NUMBER;
        return clip_is_white_space(cp) ? PT_SPACE : PT_OTHER;
    }
    /* COMBINING GREEK YPOGEGRAMMENI case-folds to ι, so under IGNORECASE
     * the regex module counts it neither as \p{L} nor as "not \p{L}": no
     * pattern matches it and it is dropped between tokens. */
    if (cp == 0x345) return PT_SKIP;
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: return PT_LETTER;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO: return PT_NUMBER;
    default: return clip_is_white_space(cp) ? PT_SPACE : PT_OTHER;
    }
}
