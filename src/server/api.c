#include "server/api.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THUMB_SIZE 224

static void reply_json(api_reply *r, int status, cJSON *root) {
    char *text = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!text) {
        static const char oom[] = "{\"error\":{\"status\":500,\"message\":\"out of memory\"}}";
        r->status = 500;
        r->body = strdup(oom);
        r->size = r->body ? strlen(oom) : 0;
    } else {
        r->status = status;
        r->body = text;
        r->size = strlen(text);
    }
    r->content_type = "application/json";
}

void api_error(api_reply *r, int status, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *root = cJSON_CreateObject(), *err = cJSON_AddObjectToObject(root, "error");
    cJSON_AddNumberToObject(err, "status", status);
    cJSON_AddStringToObject(err, "message", msg);
    reply_json(r, status, root);
}

/* Floats as a raw JSON array with 9 significant digits (round-trips a
 * float32; cJSON would print 17). */
static cJSON *float_array(const float *v, int n) {
    size_t cap = (size_t)n * 18 + 3;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    size_t len = 0;
    buf[len++] = '[';
    /* JSON has no inf/NaN: a hostile index could otherwise break the output. */
    for (int i = 0; i < n; i++)
        len += (size_t)(isfinite(v[i]) ? snprintf(buf + len, cap - len, "%s%.9g", i ? "," : "", v[i])
                                       : snprintf(buf + len, cap - len, "%snull", i ? "," : ""));
    buf[len++] = ']';
    buf[len] = 0;
    cJSON *raw = cJSON_CreateRaw(buf);
    free(buf);
    return raw;
}

static int enter(api_context *ctx, api_reply *r) {
    gate_result g = gate_enter(&ctx->gate);
    if (g == GATE_ADMITTED) return 1;
    api_error(r, 503, g == GATE_QUEUE_FULL ? "server busy: the inference queue is full, retry later"
                                           : "server busy: timed out waiting for the model, retry later");
    return 0;
}

static int status_of(clip_status st) {
    switch (st) {
    case CLIP_ERR_IMAGE:
    case CLIP_ERR_FORMAT:
    case CLIP_ERR_INVALID_ARGUMENT: return 400;
    case CLIP_ERR_LIMIT: return 413;
    case CLIP_ERR_UNSUPPORTED: return 415;
    default: return 500;
    }
}

/* Decodes outside the gate so the model never waits on JPEG decoding. */
static int decode_images(const api_request *req, clip_image **imgs, api_reply *r) {
    for (int i = 0; i < req->n_images; i++) {
        clip_status st = clip_image_load_memory(req->images[i].data, req->images[i].size, NULL, &imgs[i]);
        if (st != CLIP_OK) {
            for (int j = 0; j < i; j++) clip_image_free(imgs[j]);
            api_error(r, status_of(st) == 500 ? 400 : status_of(st), "image %d: %s", i + 1, clip_last_error());
            return 0;
        }
    }
    return 1;
}

static void free_images(clip_image **imgs, int n) {
    for (int i = 0; i < n; i++) clip_image_free(imgs[i]);
}

void api_health(api_context *ctx, api_reply *r) {
    (void)ctx;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "status", "ok");
    reply_json(r, 200, root);
}

void api_info(api_context *ctx, api_reply *r) {
    const clip_model_info *i = &ctx->info;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "version", CLIP_VERSION_STRING);
    cJSON *m = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(m, "vision", i->vision_kind == CLIP_VISION_VIT ? "vit" : "resnet");
    cJSON_AddNumberToObject(m, "embed_dim", i->embed_dim);
    cJSON_AddNumberToObject(m, "image_resolution", i->image_resolution);
    cJSON_AddNumberToObject(m, "context_length", i->context_length);
    cJSON_AddNumberToObject(m, "logit_scale", i->logit_scale);
    cJSON_AddNumberToObject(m, "parameters", (double)i->n_parameters);
    if (ctx->index) {
        const clip_index_info *x = &ctx->index_info;
        cJSON *ix = cJSON_AddObjectToObject(root, "index");
        cJSON_AddStringToObject(ix, "path", ctx->index_path ? ctx->index_path : "");
        cJSON_AddStringToObject(ix, "kind", x->kind == CLIP_INDEX_IMAGES ? "images" : "texts");
        cJSON_AddStringToObject(ix, "dtype", x->dtype == CLIP_INDEX_F16 ? "f16" : "f32");
        cJSON_AddNumberToObject(ix, "dim", x->dim);
        cJSON_AddNumberToObject(ix, "count", (double)x->count);
        cJSON_AddStringToObject(ix, "model", x->model_desc);
    } else {
        cJSON_AddNullToObject(root, "index");
    }
    cJSON *lim = cJSON_AddObjectToObject(root, "limits");
    cJSON_AddNumberToObject(lim, "max_body_bytes", (double)ctx->max_body_bytes);
    cJSON_AddNumberToObject(lim, "max_queue", ctx->gate.max_waiting);
    cJSON_AddNumberToObject(lim, "queue_wait_ms", ctx->gate.wait_ms);
    cJSON_AddNumberToObject(lim, "timeout_s", ctx->timeout_s);
    cJSON_AddNumberToObject(lim, "max_k", API_MAX_K);
    pthread_mutex_lock(&ctx->gate.lock);
    double admitted = (double)ctx->gate.admitted, rejected = (double)ctx->gate.rejected;
    pthread_mutex_unlock(&ctx->gate.lock);
    cJSON *stats = cJSON_AddObjectToObject(root, "stats");
    cJSON_AddNumberToObject(stats, "inferences", admitted);
    cJSON_AddNumberToObject(stats, "rejected_busy", rejected);
    reply_json(r, 200, root);
}

void api_embed(api_context *ctx, const api_request *req, api_reply *r) {
    if (req->n_texts + req->n_images == 0) {
        api_error(r, 400, "nothing to embed: send \"texts\" and/or \"image(s)\"");
        return;
    }
    if (req->n_labels || req->k) {
        api_error(r, 400, "/v1/embed takes only texts and images");
        return;
    }
    int dim = ctx->info.embed_dim;
    clip_image *imgs[API_MAX_IMAGES] = {0};
    if (!decode_images(req, imgs, r)) return;
    float *tf = malloc((size_t)(req->n_texts + 1) * dim * sizeof(float));
    float *imf = malloc((size_t)(req->n_images + 1) * dim * sizeof(float));
    if (!tf || !imf) {
        api_error(r, 500, "out of memory");
    } else if (enter(ctx, r)) {
        clip_status st = CLIP_OK;
        if (req->n_texts) st = clip_embed_texts(ctx->model, (const char *const *)req->texts, req->n_texts, 1, tf);
        if (st == CLIP_OK && req->n_images)
            st = clip_embed_images(ctx->model, (const clip_image *const *)imgs, req->n_images, 1, imf);
        gate_leave(&ctx->gate);
        if (st != CLIP_OK) {
            api_error(r, status_of(st), "%s", clip_last_error());
        } else {
            cJSON *root = cJSON_CreateObject();
            cJSON_AddNumberToObject(root, "dim", dim);
            cJSON *ta = cJSON_AddArrayToObject(root, "texts"), *ia = cJSON_AddArrayToObject(root, "images");
            for (int i = 0; i < req->n_texts; i++) cJSON_AddItemToArray(ta, float_array(tf + (size_t)i * dim, dim));
            for (int i = 0; i < req->n_images; i++) cJSON_AddItemToArray(ia, float_array(imf + (size_t)i * dim, dim));
            reply_json(r, 200, root);
        }
    }
    free(tf);
    free(imf);
    free_images(imgs, req->n_images);
}

void api_classify(api_context *ctx, const api_request *req, api_reply *r) {
    if (req->n_images < 1 || req->n_labels < 1) {
        api_error(r, 400, "classify needs an image and at least one label");
        return;
    }
    if (req->n_texts || req->k) {
        api_error(r, 400, "classify takes images and labels only");
        return;
    }
    int dim = ctx->info.embed_dim, nl = req->n_labels, ni = req->n_images;
    clip_image *imgs[API_MAX_IMAGES] = {0};
    if (!decode_images(req, imgs, r)) return;
    char **prompts = calloc((size_t)nl, sizeof *prompts);
    float *tf = malloc((size_t)nl * dim * sizeof(float)), *imf = malloc((size_t)ni * dim * sizeof(float));
    float *logits = malloc((size_t)ni * nl * sizeof(float)), *probs = malloc((size_t)ni * nl * sizeof(float));
    int ok = prompts && tf && imf && logits && probs;
    for (int i = 0; ok && i < nl; i++) {
        size_t len = strlen(req->labels[i]) + 16;
        prompts[i] = malloc(len);
        if (!prompts[i]) ok = 0;
        else snprintf(prompts[i], len, "a photo of a %s", req->labels[i]);
    }
    if (!ok) {
        api_error(r, 500, "out of memory");
    } else if (enter(ctx, r)) {
        clip_status st = CLIP_OK;
        for (int i = 0; st == CLIP_OK && i < nl; i += 64) /* bounded batches keep activations small */
            st = clip_embed_texts(ctx->model, (const char *const *)prompts + i, nl - i < 64 ? nl - i : 64, 1,
                                  tf + (size_t)i * dim);
        if (st == CLIP_OK) st = clip_embed_images(ctx->model, (const clip_image *const *)imgs, ni, 1, imf);
        gate_leave(&ctx->gate);
        if (st != CLIP_OK) {
            api_error(r, status_of(st), "%s", clip_last_error());
        } else {
            clip_logits(imf, ni, tf, nl, dim, ctx->info.logit_scale, logits);
            memcpy(probs, logits, (size_t)ni * nl * sizeof(float));
            clip_softmax_rows(probs, ni, nl);
            cJSON *root = cJSON_CreateObject();
            cJSON *labels = cJSON_AddArrayToObject(root, "labels");
            for (int i = 0; i < nl; i++) cJSON_AddItemToArray(labels, cJSON_CreateString(req->labels[i]));
            cJSON_AddStringToObject(root, "prompt", "a photo of a {label}");
            cJSON *results = cJSON_AddArrayToObject(root, "results");
            for (int i = 0; i < ni; i++) {
                const float *p = probs + (size_t)i * nl;
                int best = 0;
                for (int j = 1; j < nl; j++)
                    if (p[j] > p[best]) best = j;
                cJSON *o = cJSON_CreateObject();
                cJSON_AddItemToObject(o, "probs", float_array(p, nl));
                cJSON_AddItemToObject(o, "logits", float_array(logits + (size_t)i * nl, nl));
                cJSON_AddStringToObject(o, "label", req->labels[best]);
                cJSON_AddNumberToObject(o, "prob", p[best]);
                cJSON_AddItemToArray(results, o);
            }
            reply_json(r, 200, root);
        }
    }
    for (int i = 0; prompts && i < nl; i++) free(prompts[i]);
    free(prompts);
    free(tf);
    free(imf);
    free(logits);
    free(probs);
    free_images(imgs, ni);
}

void api_search(api_context *ctx, const api_request *req, api_reply *r) {
    if (!ctx->index) {
        api_error(r, 404, "this server has no index: start it with --index INDEX");
        return;
    }
    if (req->n_texts + req->n_images != 1 || req->n_labels) {
        api_error(r, 400, "search takes exactly one query: a \"text\" or an \"image\"");
        return;
    }
    int dim = ctx->info.embed_dim, k = req->k ? req->k : 10;
    clip_image *img = NULL;
    if (req->n_images && !decode_images(req, &img, r)) return;
    float *q = malloc((size_t)dim * sizeof(float));
    clip_index_hit *hits = malloc((size_t)k * sizeof *hits);
    if (!q || !hits) {
        api_error(r, 500, "out of memory");
    } else if (enter(ctx, r)) {
        clip_status st = req->n_texts ? clip_embed_texts(ctx->model, (const char *const *)req->texts, 1, 1, q)
                                      : clip_embed_images(ctx->model, (const clip_image *const *)&img, 1, 1, q);
        if (st == CLIP_OK) st = clip_index_search(ctx->index, q, 1, k, hits);
        gate_leave(&ctx->gate);
        if (st != CLIP_OK) {
            api_error(r, status_of(st), "%s", clip_last_error());
        } else {
            int images = ctx->index_info.kind == CLIP_INDEX_IMAGES;
            cJSON *root = cJSON_CreateObject();
            cJSON *query = cJSON_AddObjectToObject(root, "query");
            if (req->n_texts) cJSON_AddStringToObject(query, "text", req->texts[0]);
            else cJSON_AddStringToObject(query, "image", "(upload)");
            cJSON_AddNumberToObject(root, "k", k);
            cJSON_AddStringToObject(root, "kind", images ? "images" : "texts");
            cJSON *results = cJSON_AddArrayToObject(root, "results");
            for (int i = 0; i < k && hits[i].id >= 0; i++) {
                clip_index_item item;
                clip_index_get_item(ctx->index, hits[i].id, &item);
                cJSON *o = cJSON_CreateObject();
                cJSON_AddNumberToObject(o, "rank", i + 1);
                char num[32];
                if (isfinite(hits[i].score)) snprintf(num, sizeof num, "%.7g", hits[i].score);
                else snprintf(num, sizeof num, "null");
                cJSON_AddRawToObject(o, "score", num);
                cJSON_AddNumberToObject(o, "id", (double)hits[i].id);
                cJSON_AddStringToObject(o, images ? "path" : "text", item.text);
                if (images) {
                    char url[48];
                    snprintf(url, sizeof url, "/v1/thumb/%lld", (long long)hits[i].id);
                    cJSON_AddStringToObject(o, "thumb", url);
                }
                cJSON_AddItemToArray(results, o);
            }
            reply_json(r, 200, root);
        }
    }
    free(q);
    free(hits);
    clip_image_free(img);
}

void api_thumb(api_context *ctx, const char *id_text, api_reply *r) {
    if (!ctx->index || ctx->index_info.kind != CLIP_INDEX_IMAGES) {
        api_error(r, 404, "no image index loaded");
        return;
    }
    /* Digits only: no signs, spaces or paths. */
    size_t n = strlen(id_text);
    if (n == 0 || n > 18 || strspn(id_text, "0123456789") != n) {
        api_error(r, 404, "thumbnails are addressed by index id");
        return;
    }
    long long id = strtoll(id_text, NULL, 10);
    if (id < 0 || id >= ctx->index_info.count) {
        api_error(r, 404, "no item %lld in the index", id);
        return;
    }
    size_t size = 0;
    unsigned char *png = thumb_cache_get(&ctx->thumbs, id, &size);
    if (!png) {
        clip_index_item item;
        clip_index_get_item(ctx->index, id, &item);
        clip_status st = thumb_png(item.text, THUMB_SIZE, &png, &size);
        if (st != CLIP_OK) {
            /* The file moved or broke since indexing: the client can show a placeholder. */
            api_error(r, st == CLIP_ERR_IO ? 404 : 500, "thumbnail of item %lld unavailable", id);
            return;
        }
        thumb_cache_put(&ctx->thumbs, id, png, size);
    }
    r->status = 200;
    r->body = (char *)png;
    r->size = size;
    r->content_type = "image/png";
}
