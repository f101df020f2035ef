/* Internal side of clip_limits: one id per limit, its current value, and
 * the CLIP_ERR_LIMIT message every refusal shares (input, limit, value and
 * how to raise it), so no reader keeps a private constant or wording. */
#ifndef CLIP_CORE_LIMITS_H
#define CLIP_CORE_LIMITS_H
#include <stdint.h>

#include "clip.h"

/* In the order of the clip_limits fields. */
typedef enum limit_id {
    LIMIT_IMAGE_PIXELS,
    LIMIT_RESIZE_WEIGHTS,
    LIMIT_RESIZED_PIXELS,
    LIMIT_VIDEO_FRAME_PIXELS,
    LIMIT_SAFETENSORS_HEADER,
    LIMIT_NPY_HEADER,
    LIMIT_TEXT_BYTES,
    LIMIT_VOCAB_BYTES,
    LIMIT_MANIFEST_LINE,
    LIMIT_DATASET_ITEMS,
    LIMIT_SHARD_MEMBER,
    LIMIT_IDX_BYTES,
    LIMIT_HTTP_BODY,
    LIMIT_PICKLE_MEMORY_RATIO,
    LIMIT_TENSOR_COPY_RATIO,
    LIMIT_ZIP_ENTRY_RATIO,
    LIMIT_COUNT
} limit_id;

/* The value in force (thread-safe; the environment is read on first use). */
uint64_t limit_value(limit_id id);
/* `value` clamped to SIZE_MAX, for byte limits compared with size_t. */
size_t limit_size(limit_id id);
/* Formats "<what> (limit NAME = VALUE; raise it with CLIP_LIMIT_NAME=N,
 * `clip --limit NAME=N` or clip_limits_set)" for clip_last_error() and
 * returns CLIP_ERR_LIMIT. `what` names the input and its size. */
clip_status limit_fail(limit_id id, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
