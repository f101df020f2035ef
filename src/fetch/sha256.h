/* SHA-256 (FIPS 180-4), streaming: checksums of downloaded models. */
#ifndef CLIP_FETCH_SHA256_H
#define CLIP_FETCH_SHA256_H
#include <stddef.h>
#include <stdint.h>

typedef struct sha256_ctx {
    uint32_t state[8];
    uint64_t length;
    uint8_t block[64];
    size_t used;
} sha256_ctx;

void sha256_init(sha256_ctx *ctx);
void sha256_update(sha256_ctx *ctx, const void *data, size_t len);
/* 64 lowercase hex digits and a NUL. */
void sha256_final_hex(sha256_ctx *ctx, char hex[65]);
/* Of a whole file; 0 when it cannot be read. */
int sha256_file_hex(const char *path, char hex[65]);

#endif
