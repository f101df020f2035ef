/* The JSON API endpoints, independent of the HTTP library: each takes the
 * parsed request and fills a reply. */
#ifndef CLIP_SERVER_API_H
#define CLIP_SERVER_API_H
#include <stddef.h>

#include "clip.h"
#include "clip_index.h"
#include "server/gate.h"
#include "server/request.h"
#include "server/thumb.h"

typedef struct api_context {
    clip_model *model;
    clip_index *index;
    const char *index_path;
    clip_model_info info;
    clip_index_info index_info;
    gate gate;
    thumb_cache thumbs;
    size_t max_body_bytes;
    int timeout_s;
} api_context;

typedef struct api_reply {
    int status;
    char *body; /* malloc'd */
    size_t size;
    const char *content_type;
    const char *allow; /* Allow header of a 405 */
} api_reply;

/* An error reply {"error": {"status": S, "message": M}}. */
void api_error(api_reply *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

void api_health(api_context *ctx, api_reply *r);
void api_info(api_context *ctx, api_reply *r);
void api_embed(api_context *ctx, const api_request *req, api_reply *r);
void api_classify(api_context *ctx, const api_request *req, api_reply *r);
void api_search(api_context *ctx, const api_request *req, api_reply *r);
/* GET /v1/thumb/ID: only ids of the index, never a path from the client. */
void api_thumb(api_context *ctx, const char *id_text, api_reply *r);

#endif
