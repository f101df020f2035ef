/* Character properties the reference's Python code consults, with the
 * Unicode data of the reference (see unicode_tables.c) or utf8proc. */
#ifndef CLIP_TOKENIZER_UNICODE_PROPS_H
#define CLIP_TOKENIZER_UNICODE_PROPS_H
#include <stddef.h>
#include <stdint.h>

#include "tokenizer/buffers.h"
#include "tokenizer/unicode_tables.h"

int clip_cp_in_ranges(uint32_t cp, const clip_cp_range *r, size_t n);

/* Python re (str patterns): \s, \w, \d. */
int clip_py_isspace(uint32_t cp);
int clip_py_isword(uint32_t cp);
int clip_py_isdecimal(uint32_t cp);

/* The `regex` module's \s: Unicode White_Space. */
int clip_is_white_space(uint32_t cp);

/* Appends Python's str.lower() of word[0..n) (full mapping, Final_Sigma),
 * exact for any run of text that holds no White_Space. */
void clip_py_lower_append(const uint32_t *word, size_t n, cp_buf *out);

/* Classes of the pre-tokenizer's regex (with re.IGNORECASE). */
enum clip_pretok_class { PT_LETTER, PT_NUMBER, PT_OTHER, PT_SPACE, PT_SKIP };
int clip_pretok_class(uint32_t cp);

#endif
