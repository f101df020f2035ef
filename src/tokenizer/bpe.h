/* Byte-pair encoding of one pre-token, by merge rank (CLIP's
 * SimpleTokenizer.bpe). */
#ifndef CLIP_TOKENIZER_BPE_H
#define CLIP_TOKENIZER_BPE_H
#include <stddef.h>
#include <stdint.h>

/* (left id, right id) -> (rank, merged id), open addressing. */
typedef struct bpe_merges {
    uint64_t *keys; /* left << 32 | right; UINT64_MAX = empty */
    int32_t *rank, *merged;
    size_t mask, count;
} bpe_merges;

int bpe_merges_init(bpe_merges *m, size_t expected);
void bpe_merges_free(bpe_merges *m);
/* A later merge of the same pair replaces the earlier (Python dict). */
int bpe_merges_put(bpe_merges *m, int32_t left, int32_t right, int32_t rank, int32_t merged);
/* Rank of the pair or -1; *merged gets the merged symbol's id. */
int32_t bpe_merges_get(const bpe_merges *m, int32_t left, int32_t right, int32_t *merged);

/* Reusable work space for bpe_encode. */
typedef struct bpe_scratch {
    int32_t *sym, *prev, *next;
    struct bpe_heap_entry *heap, *batch;
    size_t cap, heap_cap, batch_cap;
} bpe_scratch;

void bpe_scratch_free(bpe_scratch *s);
/* Merges `symbols` (n >= 1 initial ids, the last already with "</w>") and
 * writes the final ids to out (room for n). Returns the count, or 0 when
 * out of memory. Applies, like the reference, the lowest-ranked pair
 * present at each step to all its occurrences left to right. */
size_t bpe_encode(const bpe_merges *m, bpe_scratch *s, const int32_t *symbols, size_t n, int32_t *out);

#endif
