/* clip.cpp's GGUF layout (github.com/monatis/clip.cpp, convert_hf_to_gguf.py)
 * read into an OpenAI-named table; docs/formats.md lists the mapping. */
#ifndef CLIP_FORMATS_GGUF_CLIP_H
#define CLIP_FORMATS_GGUF_CLIP_H
#include <stddef.h>

#include "formats/safetensors.h"

/* clip.cpp stores no logit scale; this is CLIP's trained value, ln(100). */
#define GGUF_CLIP_DEFAULT_LOGIT_SCALE 4.605170185988091
/* Our additions to clip.cpp's keys (clip.cpp ignores them). */
#define GGUF_KEY_LOGIT_SCALE "clip.logit_scale"
#define GGUF_KEY_MERGES "tokenizer.ggml.merges"
/* Where the table carries the vocabulary (as clip.c's own files do: this
 * equals CLIP_EMBEDDED_VOCAB_TENSOR; the merges text, here uncompressed). */
#define GGUF_CLIP_VOCAB_TENSOR "clip.tokenizer.merges_gz"

/* Tensors stored F32/F16/BF16/Q8_0/Q4_0 as they are (the fused in_proj
 * tensors and transposed projections are assembled in owned buffers);
 * metadata gives the head counts ("transformer_heads", "vision_heads"),
 * clip.source_format = "gguf", and the vocabulary from
 * tokenizer.ggml.merges or, failing that, recovered from
 * tokenizer.ggml.tokens. `data` must outlive the table. */
clip_status gguf_clip_open_memory(const void *data, size_t size, const char *label, st_file **out);

#endif
