/* HTML character references: Python's html.unescape and the entity table
 * lookups ftfy's stricter unescaper shares with it. */
#ifndef CLIP_TOKENIZER_HTML_UNESCAPE_H
#define CLIP_TOKENIZER_HTML_UNESCAPE_H
#include <stddef.h>
#include <stdint.h>

#include "tokenizer/buffers.h"

/* Value (UTF-8) of an HTML5 entity name (as html.entities.html5 spells it,
 * ';' included where present), or NULL. */
const char *clip_html5_value(const char *name, size_t len);
/* Value of one of ftfy's all-caps extras ("EACUTE;"), or NULL. */
const char *clip_ftfy_upper_value(const char *name, size_t len);
/* What html.unescape makes of the numeric reference &#num; (possibly
 * nothing): appends 0 or 1 code points. */
void clip_html_charref(uint64_t num, cp_buf *out);
/* Appends html.unescape(s[0..n)) to out. */
void clip_html_unescape(const uint32_t *s, size_t n, cp_buf *out);
/* Appends the code points of a UTF-8 table value. */
void clip_append_utf8_value(const char *value, cp_buf *out);

#endif
