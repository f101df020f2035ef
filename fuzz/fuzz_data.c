/* libFuzzer target: training manifests (TSV/CSV) and WebDataset tar
 * shards. The first byte picks the kind; the rest is written to a file,
 * since these sources are opened by path, then every item is read. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "data/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    static const char *suffixes[3] = {".tsv", ".csv", ".tar"};
    char path[64];
    snprintf(path, sizeof path, "/tmp/fuzz_data_%d%s", (int)getpid(), suffixes[data[0] % 3]);
    FILE *fp = fopen(path, "wb");
    if (!fp) return 0;
    fwrite(data + 1, 1, size - 1, fp);
    fclose(fp);
    clip_data *d = NULL;
    if (clip_data_open(path, NULL, &d) == CLIP_OK) {
        clip_rng rng;
        clip_rng_seed(&rng, 1);
        for (int64_t i = 0; i < clip_data_size(d) && i < 8; i++) {
            clip_image *img = NULL;
            char *caption = NULL;
            int label;
            if (clip_data_get(d, i, &rng, &img, &caption, &label) == CLIP_OK) {
                float *pixels = malloc(3 * 16 * 16 * sizeof(float));
                if (pixels) clip_augment(img, 16, 0.9f, 1.0f, &rng, pixels);
                free(pixels);
            }
            clip_image_free(img);
            free(caption);
        }
        clip_data_close(d);
    }
    unlink(path);
    return 0;
}
