/* libFuzzer target: .npy arrays, which `clip embed` (token and pixel
 * inputs), `clip grad` and the classifier's prompt cache read from
 * users' files. The buffer is read both from memory and through a file
 * (npy_read reads the header and the data in separate steps); the two
 * must agree, and an accepted array must survive a write and a read back
 * unchanged. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/npy.h"

static int same_array(const npy_array *a, const npy_array *b) {
    if (strcmp(a->descr, b->descr) != 0 || a->ndim != b->ndim || a->nbytes != b->nbytes) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return a->nbytes == 0 || memcmp(a->data, b->data, a->nbytes) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/fuzz_npy_%d.npy", (int)getpid());
    FILE *fp = fopen(path, "wb");
    if (!fp) return 0;
    fwrite(data, 1, size, fp);
    fclose(fp);
    npy_array from_memory, from_file;
    clip_status a = npy_read_memory(data, size, "<fuzz>", &from_memory);
    clip_status b = npy_read(path, &from_file);
    if (a != b) abort(); /* the same bytes, two readers: one verdict */
    if (a == CLIP_OK) {
        if (!same_array(&from_memory, &from_file)) abort();
        if (from_memory.nbytes != (size_t)npy_numel(&from_memory) * npy_descr_size(from_memory.descr)) abort();
        npy_array again;
        if (npy_write(path, from_memory.descr, from_memory.ndim, from_memory.shape, from_memory.data) == CLIP_OK &&
            npy_read(path, &again) == CLIP_OK) {
            if (!same_array(&from_memory, &again)) abort();
            npy_free(&again);
        }
        npy_free(&from_memory);
        npy_free(&from_file);
    }
    unlink(path);
    return 0;
}
