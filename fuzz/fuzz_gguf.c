/* libFuzzer target: GGUF files, through the container reader and then
 * the clip.cpp layout mapping (names, fused and transposed tensors,
 * vocabulary recovery) and the model loader. */
#include <stdint.h>

#include "fuzz_towers.h"
#include <stdlib.h>

#include "formats/gguf.h"
#include "formats/gguf_clip.h"
#include "model/model_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gguf_file *g = NULL;
    if (gguf_open_memory(data, size, "<fuzz>", &g) != CLIP_OK) return 0;
    volatile uint64_t sink = 0;
    for (size_t i = 0; i < gguf_kv_count(g); i++) {
        const gguf_kv *kv = gguf_kv_at(g, i);
        const char *s;
        size_t len;
        double d;
        for (uint64_t j = 0; j < kv->n && j < 64; j++) {
            if (gguf_arr_str(kv, j, &s, &len) && len) sink += (uint8_t)s[len - 1];
            if (gguf_arr_num(kv, j, &d)) sink += (uint64_t)(d != 0);
        }
    }
    for (size_t i = 0; i < gguf_tensor_count(g); i++) {
        const gguf_tensor_info *t = gguf_tensor_at(g, i);
        if (t->nbytes) sink += t->data[t->nbytes - 1];
    }
    gguf_close(g);
    st_file *file = NULL;
    if (gguf_clip_open_memory(data, size, "<fuzz>", &file) != CLIP_OK) return 0;
    clip_model *model = NULL;
    clip_load_options opts = {.n_threads = 1};
    if (clip_model_from_safetensors(file, "<fuzz>", &opts, &model) == CLIP_OK) {
        fuzz_run_towers(model);
        clip_model_free(model);
    }
    return 0;
}
