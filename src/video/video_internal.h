#ifndef CLIP_VIDEO_INTERNAL_H
#define CLIP_VIDEO_INTERNAL_H
#include <stdint.h>

#include "clip.h"

/* Called with each sampled frame (packed RGB, valid during the call). */
typedef clip_status (*video_frame_fn)(void *ctx, double time, const uint8_t *rgb, int width, int height);

/* Decodes `path` and calls `fn` for the first frame at or after each
 * multiple of 1/fps seconds, at most max_frames times. */
clip_status video_sample_frames(const char *path, double fps, int max_frames, video_frame_fn fn, void *ctx);

#endif
