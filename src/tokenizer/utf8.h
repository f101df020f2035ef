/* UTF-8 conversions with Python's exact error behaviour. */
#ifndef CLIP_TOKENIZER_UTF8_H
#define CLIP_TOKENIZER_UTF8_H
#include <stddef.h>
#include <stdint.h>

#include "tokenizer/buffers.h"

/* Length of the next unit of `s` as bytes.decode('utf-8', 'replace') sees
 * it: a valid character, or the maximal subpart of an ill-formed sequence
 * (which becomes one U+FFFD). Stores the code point (or 0xFFFD) in *cp. */
size_t clip_utf8_next(const uint8_t *s, size_t n, uint32_t *cp);
/* Appends the decoded code points of s[0..n) to out (errors='replace'). */
void clip_utf8_decode_replace(const uint8_t *s, size_t n, cp_buf *out);
/* Strict decoding (Python's 'utf-8' codec, errors='strict'): returns 0 and
 * leaves out unchanged on the first error. */
int clip_utf8_decode_strict(const uint8_t *s, size_t n, cp_buf *out);
/* ftfy's 'utf-8-variants' codec: UTF-8 that also accepts CESU-8 surrogate
 * pairs and Java's C0 80 for U+0000. Returns 0 on an error. */
int clip_utf8_decode_variants(const uint8_t *s, size_t n, cp_buf *out);

/* Writes cp as UTF-8 into out (4 bytes of room), returns the length. */
size_t clip_utf8_put(uint32_t cp, uint8_t *out);
void clip_utf8_encode_append(const uint32_t *cps, size_t n, byte_buf *out);

#endif
