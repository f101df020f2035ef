#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MESSAGE_CAPACITY = 1024 };
static _Thread_local char last_message[MESSAGE_CAPACITY];

const char *clip_last_error(void) { return last_message; }

void clip_clear_error(void) { last_message[0] = '\0'; }

void clip_free(void *ptr) { free(ptr); }

clip_status clip_fail(clip_status status, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    vsnprintf(last_message, sizeof last_message, fmt, args);
    va_end(args);
    return status;
}

clip_status clip_fail_context(clip_status status, const char *fmt, ...) {
    char prefix[MESSAGE_CAPACITY];
    char previous[MESSAGE_CAPACITY];
    va_list args;
    va_start(args, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, args);
    va_end(args);
    memcpy(previous, last_message, sizeof previous);
    size_t used = strlen(prefix);
    if (used >= sizeof last_message) used = sizeof last_message - 1;
    memcpy(last_message, prefix, used);
    size_t rest = strnlen(previous, sizeof last_message - 1 - used);
    memcpy(last_message + used, previous, rest);
    last_message[used + rest] = '\0';
    return status;
}

const char *clip_status_name(clip_status status) {
    switch (status) {
    case CLIP_OK: return "ok";
    case CLIP_ERR_INVALID_ARGUMENT: return "invalid-argument";
    case CLIP_ERR_IO: return "io";
    case CLIP_ERR_FORMAT: return "format";
    case CLIP_ERR_MISSING_TENSOR: return "missing-tensor";
    case CLIP_ERR_SHAPE: return "shape";
    case CLIP_ERR_DTYPE: return "dtype";
    case CLIP_ERR_NO_MEMORY: return "no-memory";
    case CLIP_ERR_UNSUPPORTED: return "unsupported";
    case CLIP_ERR_LIMIT: return "limit";
    case CLIP_ERR_IMAGE: return "image";
    case CLIP_ERR_VOCAB: return "vocab";
    }
    return "unknown";
}
