/* libFuzzer target: safetensors header and layout parsing, then the model
 * name mapping, shape inference and binding; small models that load are
 * also run through both towers once. */
#include <stdint.h>

#include "fuzz_towers.h"
#include <stdlib.h>
#include <string.h>

#include "formats/safetensors.h"
#include "model/model_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    st_file *file = NULL;
    if (st_open_memory(data, size, "<fuzz>", &file) != CLIP_OK) return 0;
    for (size_t i = 0; i < st_count(file); i++) {
        const st_tensor *t = st_at(file, i);
        volatile uint8_t sink = t->nbytes ? ((const uint8_t *)t->data)[t->nbytes - 1] : 0;
        (void)sink;
    }
    clip_model *model = NULL;
    clip_load_options opts = {.n_threads = 1};
    if (clip_model_from_safetensors(file, "<fuzz>", &opts, &model) != CLIP_OK) return 0;
    fuzz_run_towers(model);
    clip_model_free(model);
    return 0;
}
