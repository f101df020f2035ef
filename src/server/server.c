#include "server/server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "core/limits.h"
#include "server/api.h"
#include "server/request.h"
#include "server/web_page.h"

struct clip_server {
    struct MHD_Daemon *daemon;
    api_context api;
    int port;
    FILE *log;
    atomic_int active; /* requests between first callback and completion */
};

typedef struct request_state {
    unsigned char *body;
    size_t size, cap;
    int rejected; /* a reply was already queued during the upload */
    struct timespec start;
} request_state;

static double ms_since(const struct timespec *t0) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

static enum MHD_Result send_reply(clip_server *s, struct MHD_Connection *c, const char *method, const char *url,
                                  request_state *rs, api_reply *r) {
    struct MHD_Response *resp =
        MHD_create_response_from_buffer_with_free_callback(r->size, r->body, free);
    if (!resp) {
        free(r->body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (strcmp(r->content_type, "image/png") == 0) MHD_add_response_header(resp, "Cache-Control", "max-age=300");
    else MHD_add_response_header(resp, "Cache-Control", "no-store");
    if (r->status == 503) MHD_add_response_header(resp, "Retry-After", "1");
    if (r->allow) MHD_add_response_header(resp, "Allow", r->allow);
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    if (s->log) {
        fprintf(s->log, "%s %s %d %.1fms\n", method, url, r->status, ms_since(&rs->start));
        fflush(s->log);
    }
    return ok;
}

static enum MHD_Result send_page(struct MHD_Connection *c) {
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(clip_web_page_size, (void *)clip_web_page, MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; "
                            "script-src 'self' 'unsafe-inline'");
    enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ok;
}

static int is_get(const char *m) { return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0; }

static void route(clip_server *s, struct MHD_Connection *c, const char *url, const char *method, request_state *rs,
                  api_reply *r) {
    api_context *ctx = &s->api;
    int post = strcmp(method, "POST") == 0;
    if (strcmp(url, "/v1/health") == 0 || strcmp(url, "/v1/info") == 0) {
        if (!is_get(method)) {
            api_error(r, 405, "%s takes GET", url);
            r->allow = "GET, HEAD";
        } else if (url[4] == 'h') api_health(ctx, r);
        else api_info(ctx, r);
        return;
    }
    if (strncmp(url, "/v1/thumb/", 10) == 0) {
        if (!is_get(method)) {
            api_error(r, 405, "thumbnails take GET");
            r->allow = "GET, HEAD";
        } else api_thumb(ctx, url + 10, r);
        return;
    }
    void (*handler)(api_context *, const api_request *, api_reply *) = NULL;
    if (strcmp(url, "/v1/embed") == 0) handler = api_embed;
    else if (strcmp(url, "/v1/classify") == 0) handler = api_classify;
    else if (strcmp(url, "/v1/search") == 0) handler = api_search;
    if (!handler) {
        api_error(r, 404, "no such endpoint: %.200s", url);
        return;
    }
    if (!post) {
        api_error(r, 405, "%s takes POST", url);
        r->allow = "POST";
        return;
    }
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    api_request req;
    char err[256];
    int status = api_request_parse(ct, rs->body, rs->size, &req, err, sizeof err);
    if (status) {
        api_error(r, status, "%s", err);
        return;
    }
    handler(ctx, &req, r);
    api_request_free(&req);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size, void **con_cls) {
    (void)version;
    clip_server *s = cls;
    request_state *rs = *con_cls;
    api_reply r = {0};
    if (!rs) {
        rs = calloc(1, sizeof *rs);
        if (!rs) return MHD_NO;
        clock_gettime(CLOCK_MONOTONIC, &rs->start);
        *con_cls = rs;
        atomic_fetch_add(&s->active, 1);
        /* Refuse an announced oversized body before reading any of it. */
        const char *len = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (len && strtoull(len, NULL, 10) > s->api.max_body_bytes) {
            rs->rejected = 1;
            api_error(&r, 413, "request body larger than %zu bytes (clip serve --max-body-mb, CLIP_LIMIT_MAX_HTTP_BODY)",
                      s->api.max_body_bytes);
            return send_reply(s, c, method, url, rs, &r);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (rs->rejected) return MHD_YES; /* discard the rest */
        if (rs->size + n > s->api.max_body_bytes) {
            rs->rejected = 1;
            free(rs->body);
            rs->body = NULL;
            api_error(&r, 413, "request body larger than %zu bytes (clip serve --max-body-mb, CLIP_LIMIT_MAX_HTTP_BODY)",
                      s->api.max_body_bytes);
            return send_reply(s, c, method, url, rs, &r);
        }
        if (rs->size + n > rs->cap) {
            size_t cap = rs->cap ? rs->cap : 65536;
            while (cap < rs->size + n) cap *= 2;
            if (cap > s->api.max_body_bytes) cap = s->api.max_body_bytes;
            unsigned char *grown = realloc(rs->body, cap);
            if (!grown) return MHD_NO;
            rs->body = grown;
            rs->cap = cap;
        }
        memcpy(rs->body + rs->size, upload_data, n);
        rs->size += n;
        return MHD_YES;
    }
    if (rs->rejected) return MHD_YES;
    if ((strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0) && is_get(method)) return send_page(c);
    route(s, c, url, method, rs, &r);
    return send_reply(s, c, method, url, rs, &r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)c;
    (void)toe;
    clip_server *s = cls;
    request_state *rs = *con_cls;
    if (!rs) return;
    free(rs->body);
    free(rs);
    *con_cls = NULL;
    atomic_fetch_sub(&s->active, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    clip_server *s = cls;
    if (!s->log) return;
    vfprintf(s->log, fmt, ap);
    fflush(s->log);
}

clip_status clip_server_start(const clip_server_options *o, clip_server **out) {
    if (!o || !o->model || !out) return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_server_start: bad arguments");
    *out = NULL;
    const char *host = o->host ? o->host : "127.0.0.1";
    struct sockaddr_storage addr;
    memset(&addr, 0, sizeof addr);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&addr;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)o->port);
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)o->port);
        flags |= MHD_USE_IPv6;
    } else {
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "--host %s: not a numeric IPv4 or IPv6 address", host);
    }
    if (o->port < 0 || o->port > 65535) return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "--port %d: out of range", o->port);
    if (o->index) {
        clip_status st = clip_index_check_model(o->index, o->model);
        if (st != CLIP_OK) return st;
    }
    clip_server *s = calloc(1, sizeof *s);
    if (!s) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    s->log = o->access_log;
    atomic_init(&s->active, 0);
    api_context *a = &s->api;
    a->model = o->model;
    a->index = o->index;
    a->index_path = o->index_path;
    clip_model_get_info(o->model, &a->info);
    if (o->index) clip_index_get_info(o->index, &a->index_info);
    a->max_body_bytes = o->max_body_bytes ? o->max_body_bytes : limit_size(LIMIT_HTTP_BODY);
    a->timeout_s = o->timeout_s > 0 ? o->timeout_s : 30;
    gate_init(&a->gate, o->max_queue > 0 ? o->max_queue : 32, o->queue_wait_ms > 0 ? o->queue_wait_ms : 15000);
    thumb_cache_init(&a->thumbs, 512, (size_t)64 << 20);
    unsigned threads = o->http_threads > 0 ? (unsigned)o->http_threads : 4;
    s->daemon = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, on_request, s,
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                 MHD_OPTION_THREAD_POOL_SIZE, threads,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)a->timeout_s,
                                 MHD_OPTION_CONNECTION_LIMIT, 512u,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                 MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
                                 MHD_OPTION_END);
    if (!s->daemon) {
        gate_destroy(&a->gate);
        thumb_cache_free(&a->thumbs);
        free(s);
        return clip_fail(CLIP_ERR_IO, "cannot listen on %s port %d (in use, or not an address of this machine)",
                         host, o->port);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : o->port;
    *out = s;
    return CLIP_OK;
}

int clip_server_port(const clip_server *s) { return s ? s->port : 0; }

void clip_server_stop(clip_server *s, int grace_ms) {
    if (!s) return;
    MHD_socket listener = MHD_quiesce_daemon(s->daemon);
    for (int waited = 0; atomic_load(&s->active) > 0 && waited < grace_ms; waited += 10) usleep(10000);
    MHD_stop_daemon(s->daemon);
    if (listener != MHD_INVALID_SOCKET) close(listener);
    gate_destroy(&s->api.gate);
    thumb_cache_free(&s->api.thumbs);
    free(s);
}

void clip_server_block_signals(sigset_t *set) {
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int clip_server_wait_signal(const sigset_t *set) {
    int sig = 0;
    while (sigwait(set, &sig) != 0) {
    }
    return sig;
}
