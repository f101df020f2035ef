/* The collective steps of a distributed index build (src/dist): the ranks
 * agree on failures and on what they index, and every rank but 0 sends
 * rank 0 its share of the embeddings and of the failures. Every function
 * here must be called by every rank at the same point of the build. */
#ifndef CLIP_INDEX_SHARD_H
#define CLIP_INDEX_SHARD_H
#include <stddef.h>
#include <stdint.h>

#include "clip_index.h"
#include "index/sources.h"

/* Returns `st` where this rank failed; CLIP_OK where no rank did; and a
 * failure pointing at the other ranks' messages where only they failed, so
 * all ranks stop together instead of waiting for one that has given up. */
clip_status idx_shard_agree(clip_status st);

/* Fails on every rank, saying why, unless all ranks collected the same
 * items (paths, sizes, mtimes, missing entries) and loaded the same model:
 * ranks embed items by their position in that list. */
clip_status idx_shard_check_sources(const idx_sources *s, const uint8_t model_id[CLIP_MODEL_ID_BYTES]);

/* One rank's results. On the sender the arrays are borrowed; received
 * parts own them (idx_shard_part_free). */
typedef struct idx_shard_part {
    int64_t n_ready;
    int64_t *src;           /* source index of each embedded row */
    unsigned char *vectors; /* [n_ready] rows of row_bytes, the index's dtype */
    int64_t n_failed;
    char **failed, **reasons; /* paths that could not be decoded, and why */
    int64_t items;            /* embedded + failed by that rank */
    double seconds;           /* its time spent embedding */
    char *strings;            /* received: storage behind failed/reasons */
} idx_shard_part;

clip_status idx_shard_send(const idx_shard_part *part, size_t row_bytes);
/* Rank 0: the part of rank `from`. */
clip_status idx_shard_receive(int from, size_t row_bytes, idx_shard_part *part);
void idx_shard_part_free(idx_shard_part *part);

#endif
