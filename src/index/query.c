/* Searching an opened index: model check, threads, serialised access to
 * the pool. */
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "index/index_internal.h"

clip_status clip_index_set_threads(clip_index *ix, int n_threads) {
    if (!ix) return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_index_set_threads: no index");
    pthread_mutex_lock(&ix->lock);
    if (n_threads <= 0) n_threads = clip_cpu_count();
    if (ix->pool && clip_pool_size(ix->pool) != n_threads) {
        clip_pool_destroy(ix->pool);
        ix->pool = NULL;
    }
    ix->n_threads = n_threads;
    pthread_mutex_unlock(&ix->lock);
    return CLIP_OK;
}

clip_status clip_index_search(clip_index *ix, const float *queries, int n, int k, clip_index_hit *hits) {
    if (!ix || n < 0 || (n > 0 && (!queries || !hits)))
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_index_search: bad arguments");
    pthread_mutex_lock(&ix->lock);
    clip_status st = CLIP_OK;
    /* Small indexes are scanned faster than workers wake up. */
    int64_t work = ix->count * (int64_t)ix->dim * (n > 0 ? n : 1);
    if (!ix->pool && work > (1 << 20)) {
        ix->pool = clip_pool_create(ix->n_threads);
        if (!ix->pool) st = clip_fail(CLIP_ERR_NO_MEMORY, "%s: cannot start search threads", ix->label);
    }
    if (st == CLIP_OK) {
        idx_matrix m = idx_index_matrix(ix);
        st = idx_search(work > (1 << 20) ? ix->pool : NULL, &m, queries, n, k, hits);
    }
    pthread_mutex_unlock(&ix->lock);
    return st;
}

static void hex(const uint8_t *id, char *out) {
    for (int i = 0; i < CLIP_MODEL_ID_BYTES; i++) snprintf(out + 2 * i, 3, "%02x", id[i]);
}

clip_status clip_index_check_model(const clip_index *ix, const clip_model *model) {
    if (!ix || !model) return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_index_check_model: bad arguments");
    uint8_t id[CLIP_MODEL_ID_BYTES];
    clip_status st = clip_model_identity(model, id);
    if (st != CLIP_OK) return st;
    if (memcmp(id, ix->model_id, sizeof id) == 0) return CLIP_OK;
    char want[2 * CLIP_MODEL_ID_BYTES + 1], got[2 * CLIP_MODEL_ID_BYTES + 1], desc[IDX_MODEL_DESC_BYTES];
    hex(ix->model_id, want);
    hex(id, got);
    idx_model_desc(model, desc, sizeof desc);
    return clip_fail(CLIP_ERR_INVALID_ARGUMENT,
                     "%s was built with another model (%s, id %s); this model is %s, id %s: "
                     "embeddings of different models are not comparable, rebuild the index with this model",
                     ix->label, ix->model_desc, want, desc, got);
}
