/* `clip embed` under mpirun: each rank embeds a contiguous block of the
 * inputs, and rank 0 gathers the rows of every rank, in rank order, so its
 * result is what one process embedding every input would have. */
#ifndef CLIP_TOOL_EMBED_SHARD_H
#define CLIP_TOOL_EMBED_SHARD_H
#include <stdint.h>

#include "embed_inputs.h"

typedef struct embed_shard_stats {
    int ranks;
    int64_t *inputs;  /* [ranks] inputs each rank handled */
    double *seconds;  /* [ranks] its seconds embedding */
    int failures;     /* summed over ranks */
} embed_shard_stats;

/* Every rank calls this with its own result; on rank 0 `result` grows to
 * hold every rank's rows and `stats` is filled. Returns 0 on success, or
 * prints why and returns 1. */
int embed_shard_gather(embed_result *result, int inputs, int failures, double seconds, embed_shard_stats *stats);
void embed_shard_stats_free(embed_shard_stats *stats);

#endif
