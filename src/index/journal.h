/* The resume journal of a build (`OUTPUT.journal`, or `OUTPUT.journal.<rank>`
 * for each rank of a distributed build): embeddings are
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
    /* Records recovered from previous runs (idx_journal_load_all). */
    int64_t n_loaded, cap;
    char **texts;
    uint64_t *sizes;
    int64_t *mtimes_ns;
    float *vectors; /* [n_loaded, dim] */
} idx_journal;

/* The journal one process appends to: `output`.journal for a single
 * process (rank < 0), `output`.journal.<rank> for a rank of a distributed
 * build, so ranks never share a file. Malloc'd; NULL when out of memory. */
char *idx_journal_path(const char *output, int rank);
/* Loads, read-only, the intact records of every journal of `output` (the
 * single-process one and those of any rank of any earlier rank count) made
 * for the same model, kind and dimension; others are ignored. Missing
 * journals are not an error. */
clip_status idx_journal_load_all(idx_journal *j, const char *output, clip_index_kind kind, int dim,
                                 const uint8_t model_id[CLIP_MODEL_ID_BYTES]);
/* Opens `path` for appending: keeps the intact records of an earlier
 * journal for the same model, kind and dimension (dropping a torn tail),
 * and starts afresh over one for anything else. Loads nothing. */
clip_status idx_journal_open(idx_journal *j, const char *path, clip_index_kind kind, int dim,
                             const uint8_t model_id[CLIP_MODEL_ID_BYTES]);
clip_status idx_journal_append(idx_journal *j, const char *text, uint64_t size, int64_t mtime_ns,
                               const float *vector);
/* Makes every appended record durable. */
clip_status idx_journal_sync(idx_journal *j);
/* Closes and frees loaded records; removes the file when asked. */
void idx_journal_close(idx_journal *j, int remove_file);
/* Removes every journal of `output` (after its index has been written). */
void idx_journal_remove_all(const char *output);

#endif
