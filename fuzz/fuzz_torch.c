/* libFuzzer target: PyTorch checkpoints. Inputs starting like a zip go
 * through the archive reader, the pickle interpreter and the tensor
 * placement; anything else runs the pickle interpreter alone. Tables that
 * come out are checked byte by byte and handed to the model loader. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/pickle.h"
#include "formats/tensor_file.h"
#include "model/model_internal.h"

static void touch(const st_file *file) {
    for (size_t i = 0; i < st_count(file); i++) {
        const st_tensor *t = st_at(file, i);
        volatile uint8_t sink = 0;
        for (size_t j = 0; j < t->nbytes; j += 61) sink ^= ((const uint8_t *)t->data)[j];
        if (t->nbytes) sink ^= ((const uint8_t *)t->data)[t->nbytes - 1];
        (void)sink;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 4 || memcmp(data, "PK\x03\x04", 4) != 0) {
        pk_doc *doc = NULL;
        if (pickle_load(data, size, "<fuzz>", &doc) == CLIP_OK) {
            const pk_value *root = pickle_root(doc);
            volatile int kind = root->kind;
            (void)kind;
        }
        pickle_free(doc);
        return 0;
    }
    st_file *file = NULL;
    if (tensor_file_open_memory(data, size, "<fuzz>", &file) != CLIP_OK) return 0;
    touch(file);
    clip_model *model = NULL;
    clip_load_options opts = {.n_threads = 1};
    if (clip_model_from_safetensors(file, "<fuzz>", &opts, &model) == CLIP_OK) clip_model_free(model);
    return 0;
}
