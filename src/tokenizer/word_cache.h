/* Pre-token -> BPE ids, so a word seen before costs one hash lookup. */
#ifndef CLIP_TOKENIZER_WORD_CACHE_H
#define CLIP_TOKENIZER_WORD_CACHE_H
#include <stddef.h>
#include <stdint.h>

/* Longest pre-token (bytes) worth caching; longer ones are rare. */
#define WORD_CACHE_MAX_KEY 64

typedef struct word_cache_slot {
    uint64_t hash; /* 0 = empty */
    uint32_t key_off, val_off;
    uint16_t key_len, val_len;
} word_cache_slot;

typedef struct word_cache {
    word_cache_slot *slots;
    size_t mask, used;
    uint8_t *keys;
    int32_t *vals;
    size_t keys_n, keys_cap, vals_n, vals_cap;
} word_cache;

void word_cache_free(word_cache *c);
void word_cache_clear(word_cache *c);
uint64_t word_cache_hash(const uint8_t *key, size_t len);
/* The cached ids (and their count) or NULL. */
const int32_t *word_cache_get(const word_cache *c, uint64_t hash, const uint8_t *key, size_t len, size_t *n);
/* Best effort: a full cache starts over, a failed allocation is ignored. */
void word_cache_put(word_cache *c, uint64_t hash, const uint8_t *key, size_t len, const int32_t *ids, size_t n);

#endif
