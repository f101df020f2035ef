/* A model from a checkpoint in any format tensor_file_open reads. This is
 * what clip_model_load does once src/model/model.c opens files through
 * tensor_file_open; the tools that must read every format (convert, the
 * format tests) use it directly. */
#ifndef CLIP_FORMATS_MODEL_FILE_H
#define CLIP_FORMATS_MODEL_FILE_H
#include "clip.h"

/* `path` may be a directory holding model.safetensors (Hugging Face). */
clip_status tensor_file_load_model(const char *path, const clip_load_options *opts, clip_model **out);

#endif
