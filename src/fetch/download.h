/* HTTP(S) downloads with libcurl into a ".part" file beside the target:
 * resumed with a Range request after an interruption (also one left by an
 * earlier, killed run), checked against a SHA-256 when one is known, and
 * renamed into place only when complete and correct. */
#ifndef CLIP_FETCH_DOWNLOAD_H
#define CLIP_FETCH_DOWNLOAD_H
#include "clip.h"

typedef struct download_options {
    const char *sha256;  /* 64 hex digits, or NULL */
    int progress;        /* a progress line on stderr */
    int optional;        /* a 404 is not an error: returns CLIP_ERR_IO quietly, nothing written */
    int max_attempts;    /* 0 = 5 */
} download_options;

/* Downloads `url` to `path` (parent directories created). A server's
 * X-Linked-Etag SHA-256 (Hugging Face's large files) is checked too. */
clip_status fetch_download(const char *url, const char *path, const download_options *opts);

/* mkdir -p */
clip_status fetch_make_dirs(const char *dir);

#endif
