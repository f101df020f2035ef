/* The resume journal of a build (`OUTPUT.journal`): embeddings are
 * appended after each batch, each record with its own CRC, and synced to
 * disk every few batches. A crash loses at most the unsynced tail; a torn
 * last record fails its CRC and is dropped, so the journal never needs to
 * be rewritten. The final index replaces it when the build completes. */
#ifndef CLIP_INDEX_JOURNAL_H
#define CLIP_INDEX_JOURNAL_H
#include <stdint.h>
#include <stdio.h>

#include "clip_index.h"

typedef struct idx_journal {
    FILE *fp;
    char *path;
    int dim;
    /* Records recovered from a previous run. */
    int64_t n_loaded;
    char **texts;
    uint64_t *sizes;
    int64_t *mtimes_ns;
    float *vectors; /* [n_loaded, dim] */
} idx_journal;

/* Opens `path` for appending, first loading the intact records of an
 * earlier journal for the same model, kind and dimension (one for anything
 * else is discarded). */
clip_status idx_journal_open(idx_journal *j, const char *path, clip_index_kind kind, int dim,
                             const uint8_t model_id[CLIP_MODEL_ID_BYTES]);
clip_status idx_journal_append(idx_journal *j, const char *text, uint64_t size, int64_t mtime_ns,
                               const float *vector);
/* Makes every appended record durable. */
clip_status idx_journal_sync(idx_journal *j);
/* Closes; removes the file when the build is complete. */
void idx_journal_close(idx_journal *j, int remove_file);

#endif
