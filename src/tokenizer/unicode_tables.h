/* Tables generated from Python 3.11 by tools/tokenizer/gen_unicode_tables.py:
 * the data the reference tokenizer's Python code took from its standard
 * library (HTML5 entities, codecs, str/re character properties) and ftfy's
 * mojibake character classes. */
#ifndef CLIP_TOKENIZER_UNICODE_TABLES_H
#define CLIP_TOKENIZER_UNICODE_TABLES_H
#include <stddef.h>
#include <stdint.h>

typedef struct clip_entity {
    const char *name;  /* without the leading '&', with ';' where HTML5 has it */
    const char *value; /* UTF-8 */
} clip_entity;

typedef struct clip_cp_pair {
    uint32_t cp, value;
} clip_cp_pair;

/* One code point to one or two (out[1] == 0 when one). */
typedef struct clip_cp_map2 {
    uint32_t cp, out[2];
} clip_cp_map2;

typedef struct clip_cp_range {
    uint32_t lo, hi;
} clip_cp_range;

/* Sorted by name (byte order). */
extern const clip_entity clip_html5_entities[];
extern const size_t clip_html5_entities_count;
/* ftfy's all-caps extras such as "EACUTE;" -> "É". */
extern const clip_entity clip_ftfy_upper_entities[];
extern const size_t clip_ftfy_upper_entities_count;

/* ftfy's CHARMAP_ENCODINGS, in the order it tries them. */
enum {
    CLIP_CHARMAP_LATIN1,
    CLIP_CHARMAP_SLOPPY_1252,
    CLIP_CHARMAP_SLOPPY_1251,
    CLIP_CHARMAP_SLOPPY_1250,
    CLIP_CHARMAP_SLOPPY_1253,
    CLIP_CHARMAP_SLOPPY_1254,
    CLIP_CHARMAP_SLOPPY_1257,
    CLIP_CHARMAP_ISO8859_2,
    CLIP_CHARMAP_MACROMAN,
    CLIP_CHARMAP_CP437,
    CLIP_CHARMAP_COUNT
};
extern const uint32_t clip_charmap_decode[CLIP_CHARMAP_COUNT][256];
extern const uint32_t clip_cp1252_strict[256];

/* Sorted by cp. */
extern const clip_cp_map2 clip_width_map[];
extern const size_t clip_width_map_count;

/* Sorted, disjoint. */
extern const clip_cp_range clip_py_word_ranges[];    /* re's \w */
extern const size_t clip_py_word_ranges_count;
extern const clip_cp_range clip_py_decimal_ranges[]; /* re's \d */
extern const size_t clip_py_decimal_ranges_count;
extern const clip_cp_range clip_cased_ranges[];
extern const size_t clip_cased_ranges_count;
extern const clip_cp_range clip_case_ignorable_ranges[];
extern const size_t clip_case_ignorable_ranges_count;

/* ftfy's mojibake classes: value = bit mask of enum clip_mojibake_class. */
enum clip_mojibake_class {
    MJ_COMMON = 1u << 0,
    MJ_C1 = 1u << 1,
    MJ_BAD = 1u << 2,
    MJ_LAW = 1u << 3,
    MJ_CURRENCY = 1u << 4,
    MJ_START_PUNCT = 1u << 5,
    MJ_END_PUNCT = 1u << 6,
    MJ_NUMERIC = 1u << 7,
    MJ_KAOMOJI = 1u << 8,
    MJ_UPPER_ACCENTED = 1u << 9,
    MJ_LOWER_ACCENTED = 1u << 10,
    MJ_UPPER_COMMON = 1u << 11,
    MJ_LOWER_COMMON = 1u << 12,
    MJ_BOX = 1u << 13,
    MJ_UTF8_FIRST2 = 1u << 14,
    MJ_UTF8_FIRST3 = 1u << 15,
    MJ_UTF8_FIRST4 = 1u << 16,
    MJ_UTF8_CONT = 1u << 17,
    MJ_UTF8_CONT_STRICT = 1u << 18,
};
extern const clip_cp_pair clip_mojibake_classes[];
extern const size_t clip_mojibake_classes_count;

#endif
