#include "tokenizer/word_cache.h"

#include <stdlib.h>
#include <string.h>

/* 64K slots at most half full: captions rarely have more distinct words,
 * and a flush costs one memset. */
enum { CACHE_SLOTS = 1 << 16, CACHE_MAX_USED = CACHE_SLOTS / 2 };

void word_cache_free(word_cache *c) {
    free(c->slots);
    free(c->keys);
    free(c->vals);
    memset(c, 0, sizeof *c);
}

void word_cache_clear(word_cache *c) {
    if (c->slots) memset(c->slots, 0, (c->mask + 1) * sizeof *c->slots);
    c->used = c->keys_n = c->vals_n = 0;
}

static inline uint64_t read64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

uint64_t word_cache_hash(const uint8_t *key, size_t len) {
    const uint64_t mul = 0x9E3779B97F4A7C15ull;
    uint64_t h = (uint64_t)len * mul ^ 0x2545F4914F6CDD1Dull;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        h ^= read64(key + i);
        h *= mul;
        h ^= h >> 29;
    }
    uint64_t tail = 0;
    for (size_t k = 0; i < len; i++, k += 8) tail |= (uint64_t)key[i] << k;
    h ^= tail;
    h *= mul;
    h ^= h >> 32;
    return h ? h : 1;
}

const int32_t *word_cache_get(const word_cache *c, uint64_t hash, const uint8_t *key, size_t len, size_t *n) {
    if (!c->slots) return NULL;
    for (size_t i = hash & c->mask;; i = (i + 1) & c->mask) {
        const word_cache_slot *s = &c->slots[i];
        if (!s->hash) return NULL;
        if (s->hash == hash && s->key_len == len && memcmp(c->keys + s->key_off, key, len) == 0) {
            *n = s->val_len;
            return c->vals + s->val_off;
        }
    }
}

static int grow(void **p, size_t *cap, size_t need, size_t item) {
    if (need <= *cap) return 1;
    size_t cap2 = *cap ? *cap : 4096;
    while (cap2 < need) cap2 *= 2;
    void *q = realloc(*p, cap2 * item);
    if (!q) return 0;
    *p = q;
    *cap = cap2;
    return 1;
}

void word_cache_put(word_cache *c, uint64_t hash, const uint8_t *key, size_t len, const int32_t *ids, size_t n) {
    if (len > WORD_CACHE_MAX_KEY || n > UINT16_MAX) return;
    if (!c->slots) {
        c->slots = calloc(CACHE_SLOTS, sizeof *c->slots);
        if (!c->slots) return;
        c->mask = CACHE_SLOTS - 1;
    }
    if (c->used >= CACHE_MAX_USED) word_cache_clear(c);
    void *keys = c->keys, *vals = c->vals;
    int ok = grow(&keys, &c->keys_cap, c->keys_n + len, 1);
    c->keys = keys;
    ok = ok && grow(&vals, &c->vals_cap, c->vals_n + n, sizeof(int32_t));
    c->vals = vals;
    if (!ok) return;
    size_t i = hash & c->mask;
    while (c->slots[i].hash) i = (i + 1) & c->mask;
    memcpy(c->keys + c->keys_n, key, len);
    memcpy(c->vals + c->vals_n, ids, n * sizeof *ids);
    c->slots[i] = (word_cache_slot){hash, (uint32_t)c->keys_n, (uint32_t)c->vals_n, (uint16_t)len, (uint16_t)n};
    c->keys_n += len;
    c->vals_n += n;
    c->used++;
}
