/* Frames of a video at a fixed sampling rate, through libavformat,
 * libavcodec and libswscale, as packed RGB. */
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/limits.h"
#include "video/video_internal.h"

typedef struct decoder {
    AVFormatContext *format;
    AVCodecContext *codec;
    struct SwsContext *scaler;
    AVFrame *frame;
    AVPacket *packet;
    uint8_t *rgb;
    int stream, width, height;
} decoder;

static void decoder_close(decoder *d) {
    sws_freeContext(d->scaler);
    av_frame_free(&d->frame);
    av_packet_free(&d->packet);
    avcodec_free_context(&d->codec);
    avformat_close_input(&d->format);
    free(d->rgb);
}

static clip_status av_failure(const char *path, const char *what, int err) {
    char text[AV_ERROR_MAX_STRING_SIZE] = "";
    av_strerror(err, text, sizeof text);
    return clip_fail(CLIP_ERR_FORMAT, "%s: %s: %s", path, what, text);
}

static clip_status decoder_open(decoder *d, const char *path) {
    int err = avformat_open_input(&d->format, path, NULL, NULL);
    if (err < 0) return av_failure(path, "cannot open as a video", err);
    if ((err = avformat_find_stream_info(d->format, NULL)) < 0) return av_failure(path, "no stream information", err);
    const AVCodec *codec = NULL;
    d->stream = av_find_best_stream(d->format, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (d->stream < 0 || !codec) return clip_fail(CLIP_ERR_FORMAT, "%s: no decodable video stream", path);
    d->codec = avcodec_alloc_context3(codec);
    if (!d->codec) return clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", path);
    if ((err = avcodec_parameters_to_context(d->codec, d->format->streams[d->stream]->codecpar)) < 0 ||
        (err = avcodec_open2(d->codec, codec, NULL)) < 0)
        return av_failure(path, "cannot open the video decoder", err);
    d->width = d->codec->width;
    d->height = d->codec->height;
    if (d->width <= 0 || d->height <= 0)
        return clip_fail(CLIP_ERR_FORMAT, "%s: frame size %d x %d is empty", path, d->width, d->height);
    if ((uint64_t)d->width * (uint64_t)d->height > limit_value(LIMIT_VIDEO_FRAME_PIXELS))
        return limit_fail(LIMIT_VIDEO_FRAME_PIXELS, "%s: video frames of %d x %d pixels are over the limit", path,
                          d->width, d->height);
    d->frame = av_frame_alloc();
    d->packet = av_packet_alloc();
    d->rgb = malloc((size_t)d->width * d->height * 3);
    if (!d->frame || !d->packet || !d->rgb) return clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", path);
    return CLIP_OK;
}

/* Converts the decoded frame and hands it on when its time reaches the
 * next sampling point. */
static clip_status on_decoded(decoder *d, const char *path, double step, double *next_time, int *taken,
                              int max_frames, video_frame_fn fn, void *ctx) {
    AVRational tb = d->format->streams[d->stream]->time_base;
    int64_t pts = d->frame->best_effort_timestamp;
    double t = pts == AV_NOPTS_VALUE ? *next_time : pts * av_q2d(tb);
    if (t + 1e-9 < *next_time || *taken >= max_frames) return CLIP_OK;
    if (d->frame->width != d->width || d->frame->height != d->height)
        return clip_fail(CLIP_ERR_UNSUPPORTED, "%s: the frame size changes mid-stream", path);
    d->scaler = sws_getCachedContext(d->scaler, d->width, d->height, d->frame->format, d->width, d->height,
                                     AV_PIX_FMT_RGB24, SWS_BICUBIC, NULL, NULL, NULL);
    if (!d->scaler) return clip_fail(CLIP_ERR_UNSUPPORTED, "%s: cannot convert this pixel format to RGB", path);
    uint8_t *planes[4] = {d->rgb, NULL, NULL, NULL};
    int strides[4] = {d->width * 3, 0, 0, 0};
    sws_scale(d->scaler, (const uint8_t *const *)d->frame->data, d->frame->linesize, 0, d->height, planes, strides);
    (*taken)++;
    while (*next_time <= t + 1e-9) *next_time += step;
    return fn(ctx, t, d->rgb, d->width, d->height);
}

clip_status video_sample_frames(const char *path, double fps, int max_frames, video_frame_fn fn, void *ctx) {
    if (!(fps > 0) || fps > 1000 || max_frames <= 0)
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "video: sampling rate must be in (0, 1000] frames per second");
    av_log_set_level(AV_LOG_QUIET);
    decoder d = {0};
    clip_status st = decoder_open(&d, path);
    double step = 1.0 / fps, next_time = 0;
    int taken = 0, err = 0;
    while (st == CLIP_OK && taken < max_frames) {
        err = av_read_frame(d.format, d.packet);
        if (err == AVERROR_EOF) break;
        if (err < 0) {
            st = av_failure(path, "read failed (truncated or corrupt file?)", err);
            break;
        }
        if (d.packet->stream_index == d.stream) {
            err = avcodec_send_packet(d.codec, d.packet);
            /* A damaged packet is skipped as players do; a file that yields
             * no frame at all is reported below. */
            while (err >= 0 && st == CLIP_OK) {
                err = avcodec_receive_frame(d.codec, d.frame);
                if (err < 0) break;
                st = on_decoded(&d, path, step, &next_time, &taken, max_frames, fn, ctx);
            }
        }
        av_packet_unref(d.packet);
    }
    if (st == CLIP_OK && d.codec) { /* drain the decoder's delayed frames */
        avcodec_send_packet(d.codec, NULL);
        while (st == CLIP_OK && avcodec_receive_frame(d.codec, d.frame) >= 0)
            st = on_decoded(&d, path, step, &next_time, &taken, max_frames, fn, ctx);
    }
    if (st == CLIP_OK && taken == 0) st = clip_fail(CLIP_ERR_FORMAT, "%s: no video frame could be decoded", path);
    decoder_close(&d);
    return st;
}
