/* libFuzzer target: the index file reader. Anything clip_index_open_memory
 * accepts must be safe to read in full: every item string, every vector,
 * and a search over all of them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clip_index.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    clip_index *index = NULL;
    if (clip_index_open_memory(data, size, "<fuzz>", &index) != CLIP_OK) return 0;
    clip_index_info info;
    clip_index_get_info(index, &info);
    size_t sink = strlen(info.model_desc);
    float *v = malloc((size_t)info.dim * sizeof(float));
    for (int64_t i = 0; v && i < info.count; i++) {
        clip_index_item item;
        if (clip_index_get_item(index, i, &item) == CLIP_OK) sink += strlen(item.text) + item.size;
        clip_index_get_vector(index, i, v);
    }
    if (v && info.count > 0) {
        /* Four queries take the BLAS path, one the SIMD kernel. */
        float *q = calloc((size_t)4 * info.dim, sizeof(float));
        clip_index_hit hits[4 * 3];
        if (q) {
            for (int d = 0; d < info.dim; d++) q[d] = q[info.dim + d] = 1.0f / (float)(d + 1);
            clip_index_set_threads(index, 1);
            clip_index_search(index, q, 1, 3, hits);
            clip_index_search(index, q, 4, 3, hits);
            for (int i = 0; i < 3; i++)
                if (hits[i].id >= info.count) abort();
        }
        free(q);
    }
    free(v);
    clip_index_free(index);
    (void)sink;
    return 0;
}
