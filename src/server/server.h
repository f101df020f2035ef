/* The HTTP search service (docs/retrieval.md, "Service"): libmicrohttpd
 * threads parse and validate requests; inference passes one at a time
 * through a bounded queue (gate.h). */
#ifndef CLIP_SERVER_SERVER_H
#define CLIP_SERVER_SERVER_H
#include <signal.h>
#include <stddef.h>
#include <stdio.h>

#include "clip.h"
#include "clip_index.h"

typedef struct clip_server_options {
    const char *host;       /* numeric IPv4/IPv6 address; NULL = 127.0.0.1 */
    int port;               /* 0 = any free port (see clip_server_port) */
    int http_threads;       /* 0 = 4 */
    size_t max_body_bytes;  /* 0 = clip_limits.max_http_body (32 MiB) */
    int timeout_s;          /* idle connection timeout; 0 = 30 */
    int max_queue;          /* requests waiting for the model; 0 = 32 */
    int queue_wait_ms;      /* longest wait for the model; 0 = 15000 */
    clip_model *model;      /* borrowed */
    clip_index *index;      /* borrowed, may be NULL */
    const char *index_path; /* shown by /v1/info */
    FILE *access_log;       /* one line per request, or NULL */
} clip_server_options;

typedef struct clip_server clip_server;

/* Refuses (CLIP_ERR_INVALID_ARGUMENT) an index built with another model. */
clip_status clip_server_start(const clip_server_options *opts, clip_server **out);
int clip_server_port(const clip_server *server);
/* Stops accepting connections, lets requests in flight finish for up to
 * `grace_ms`, then closes everything and frees the server. */
void clip_server_stop(clip_server *server, int grace_ms);

/* Blocks SIGTERM, SIGINT and SIGHUP in the calling thread, so threads
 * started afterwards inherit the mask and only clip_server_wait_signal
 * sees them. Also ignores SIGPIPE (a client closing early). */
void clip_server_block_signals(sigset_t *set);
int clip_server_wait_signal(const sigset_t *set);

#endif
