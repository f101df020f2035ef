/* Standard base64 (RFC 4648, '+' and '/', optional '=' padding) decoding
 * for images sent inside JSON. Whitespace is skipped, anything else that is
 * not in the alphabet is an error. */
#ifndef CLIP_SERVER_BASE64_H
#define CLIP_SERVER_BASE64_H
#include <stddef.h>

/* Decodes into a malloc'd buffer; returns 0 on malformed input. */
int base64_decode(const char *in, size_t len, unsigned char **out, size_t *out_len);

#endif
