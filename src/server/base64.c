#include "server/base64.h"

#include <stdint.h>
#include <stdlib.h>

static int value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62; /* '-' and '_': the URL-safe alphabet too */
    if (c == '/' || c == '_') return 63;
    return -1;
}

int base64_decode(const char *in, size_t len, unsigned char **out, size_t *out_len) {
    *out = NULL;
    *out_len = 0;
    unsigned char *buf = malloc(len / 4 * 3 + 3);
    if (!buf) return 0;
    uint32_t acc = 0;
    int bits = 0, padding = 0;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
        if (c == '=') {
            padding++;
            continue;
        }
        int v = value(c);
        if (v < 0 || padding) { /* data after padding is malformed */
            free(buf);
            return 0;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[n++] = (unsigned char)(acc >> bits);
        }
    }
    /* A lone leftover sextet cannot encode a byte. */
    if (bits >= 6 || padding > 2) {
        free(buf);
        return 0;
    }
    *out = buf;
    *out_len = n;
    return 1;
}
