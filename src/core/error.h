/* Internal error reporting: set a thread-local message and return a status. */
#ifndef CLIP_CORE_ERROR_H
#define CLIP_CORE_ERROR_H
#include "clip.h"

/* Formats the message for clip_last_error() and returns `status`, so callers
 * can write `return clip_fail(CLIP_ERR_IO, "%s: %s", path, strerror(errno));`. */
clip_status clip_fail(clip_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prepends context ("loading model.safetensors: ") to the current message. */
clip_status clip_fail_context(clip_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void clip_clear_error(void);

#endif
