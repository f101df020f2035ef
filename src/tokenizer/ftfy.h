/* The subset of ftfy 6.3.1's fix_text() that CLIP's basic_clean() runs
 * (default configuration): see docs/tokenizer.md for what it covers. */
#ifndef CLIP_TOKENIZER_FTFY_H
#define CLIP_TOKENIZER_FTFY_H
#include <stddef.h>
#include <stdint.h>

#include "tokenizer/buffers.h"

/* ftfy's segment cap (TextFixerConfig.max_decode_length). */
#define CLIP_FTFY_MAX_SEGMENT 1000000

/* fix_and_explain() on one segment (a line with its '\n', or a piece of at
 * most CLIP_FTFY_MAX_SEGMENT characters), in place. `unescape_html` is
 * false once a segment of the text contained '<'. */
void clip_ftfy_fix_segment(cp_buf *text, int unescape_html);

/* ftfy.fix_encoding(), in place; `depth` bounds the recursion of
 * decode_inconsistent_utf8. */
void clip_ftfy_fix_encoding(cp_buf *text, int depth);

/* badness.is_bad(): does the text look like it contains mojibake? */
int clip_ftfy_is_bad(const uint32_t *t, size_t n);
/* Bit mask of ftfy's mojibake classes (enum clip_mojibake_class). */
uint32_t clip_ftfy_class(uint32_t cp);

/* The simple per-character fixers, each replacing *text. */
void clip_ftfy_unescape_html(cp_buf *text, cp_buf *scratch);
void clip_ftfy_fix_c1_controls(cp_buf *text);
void clip_ftfy_nfc(cp_buf *text);

/* --- Codecs (ftfy_codecs.c) --- */
/* Can every character be encoded in charmap `enc` (ftfy's
 * possible_encoding)? */
int clip_charmap_possible(int enc, const uint32_t *t, size_t n);
/* Encodes (all characters must be possible). */
void clip_charmap_encode(int enc, const uint32_t *t, size_t n, byte_buf *out);
/* restore_byte_a0 / replace_lossy_sequences: bytes -> bytes. */
int clip_altered_utf8_search(const uint8_t *b, size_t n);
void clip_restore_byte_a0(const byte_buf *in, byte_buf *out);
void clip_replace_lossy_sequences(const byte_buf *in, byte_buf *out);

#endif
