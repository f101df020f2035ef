#include "formats/model_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "formats/tensor_file.h"
#include "model/model_internal.h"

clip_status tensor_file_load_model(const char *path, const clip_load_options *opts, clip_model **out) {
    *out = NULL;
    if (!path) return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "no model path");
    char resolved[4096];
    struct stat sb;
    snprintf(resolved, sizeof resolved, "%s", path);
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        static const char *names[] = {"model.safetensors", "open_clip_model.safetensors", "clip.safetensors",
                                      "pytorch_model.bin", "open_clip_pytorch_model.bin", "model.pt"};
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            snprintf(resolved, sizeof resolved, "%s/%s", path, names[i]);
            if (stat(resolved, &sb) == 0 && S_ISREG(sb.st_mode)) break;
            snprintf(resolved, sizeof resolved, "%s", path);
        }
    }
    st_file *file = NULL;
    clip_status st = tensor_file_open(resolved, &file);
    if (st != CLIP_OK) return st;
    return clip_model_from_safetensors(file, resolved, opts, out);
}
