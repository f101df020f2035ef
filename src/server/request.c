#include "server/request.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/base64.h"
#include "server/multipart.h"

static int fail(int status, char *err, size_t err_size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
    return status;
}

static int add_text(api_request *r, const char *s, size_t len, char *err, size_t es) {
    if (r->n_texts == API_MAX_TEXTS) return fail(400, err, es, "more than %d texts", API_MAX_TEXTS);
    if (len > API_MAX_TEXT_BYTES) return fail(400, err, es, "a text is longer than %d bytes", API_MAX_TEXT_BYTES);
    if (memchr(s, 0, len)) return fail(400, err, es, "a text contains a NUL byte");
    char *copy = malloc(len + 1);
    if (!copy) return fail(500, err, es, "out of memory");
    memcpy(copy, s, len);
    copy[len] = 0;
    r->texts[r->n_texts++] = copy;
    return 0;
}

static int add_label(api_request *r, const char *s, size_t len, char *err, size_t es) {
    while (len && (*s == ' ' || *s == '\t' || *s == '\r')) s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r')) len--;
    if (len == 0) return 0;
    if (r->n_labels == API_MAX_LABELS) return fail(400, err, es, "more than %d labels", API_MAX_LABELS);
    if (len > 256) return fail(400, err, es, "a label is longer than 256 bytes");
    if (memchr(s, 0, len)) return fail(400, err, es, "a label contains a NUL byte");
    if (!r->labels) {
        r->labels = calloc(API_MAX_LABELS, sizeof *r->labels);
        if (!r->labels) return fail(500, err, es, "out of memory");
    }
    char *copy = malloc(len + 1);
    if (!copy) return fail(500, err, es, "out of memory");
    memcpy(copy, s, len);
    copy[len] = 0;
    r->labels[r->n_labels++] = copy;
    return 0;
}

/* One field holding several labels: "cat, dog" or one per line. */
static int add_label_list(api_request *r, const char *s, size_t len, char *err, size_t es) {
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == ',' || s[i] == '\n') {
            int st = add_label(r, s + start, i - start, err, es);
            if (st) return st;
            start = i + 1;
        }
    }
    return 0;
}

static int add_image_bytes(api_request *r, const unsigned char *data, size_t size, unsigned char *owned, char *err,
                           size_t es) {
    if (r->n_images == API_MAX_IMAGES) {
        free(owned);
        return fail(400, err, es, "more than %d images", API_MAX_IMAGES);
    }
    if (size == 0) {
        free(owned);
        return fail(400, err, es, "an image is empty");
    }
    r->images[r->n_images++] = (api_blob){data, size, owned};
    return 0;
}

static int add_image_base64(api_request *r, const char *s, char *err, size_t es) {
    if (strncmp(s, "data:", 5) == 0) { /* data:image/png;base64,.... */
        const char *comma = strchr(s, ',');
        if (!comma || !strstr(s, ";base64")) return fail(400, err, es, "image data URL is not base64");
        s = comma + 1;
    }
    unsigned char *bytes;
    size_t n;
    if (!base64_decode(s, strlen(s), &bytes, &n)) return fail(400, err, es, "image is not valid base64");
    return add_image_bytes(r, bytes, n, bytes, err, es);
}

static int parse_k_text(api_request *r, const char *s, size_t len, char *err, size_t es) {
    char buf[16];
    if (len == 0 || len >= sizeof buf) return fail(400, err, es, "k must be an integer in [1, %d]", API_MAX_K);
    memcpy(buf, s, len);
    buf[len] = 0;
    char *end;
    errno = 0;
    long k = strtol(buf, &end, 10);
    if (errno || *end || k < 1 || k > API_MAX_K) return fail(400, err, es, "k must be an integer in [1, %d]", API_MAX_K);
    r->k = (int)k;
    return 0;
}

static int parse_json(const unsigned char *body, size_t size, api_request *r, char *err, size_t es) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts((const char *)body, size, &end, 0);
    if (!root) return fail(400, err, es, "body is not valid JSON");
    int st = 0;
    if (!cJSON_IsObject(root)) st = fail(400, err, es, "body must be a JSON object");
    for (cJSON *f = root->child; !st && f; f = f->next) {
        const char *key = f->string ? f->string : "";
        if (strcmp(key, "text") == 0 || strcmp(key, "query") == 0) {
            if (!cJSON_IsString(f)) st = fail(400, err, es, "\"%s\" must be a string", key);
            else st = add_text(r, f->valuestring, strlen(f->valuestring), err, es);
        } else if (strcmp(key, "texts") == 0 || strcmp(key, "labels") == 0 || strcmp(key, "images") == 0) {
            if (!cJSON_IsArray(f)) {
                st = fail(400, err, es, "\"%s\" must be an array of strings", key);
                break;
            }
            for (cJSON *e = f->child; !st && e; e = e->next) {
                if (!cJSON_IsString(e)) st = fail(400, err, es, "\"%s\" must be an array of strings", key);
                else if (key[0] == 't') st = add_text(r, e->valuestring, strlen(e->valuestring), err, es);
                else if (key[0] == 'l') st = add_label(r, e->valuestring, strlen(e->valuestring), err, es);
                else st = add_image_base64(r, e->valuestring, err, es);
            }
        } else if (strcmp(key, "image") == 0) {
            if (!cJSON_IsString(f)) st = fail(400, err, es, "\"image\" must be a base64 string");
            else st = add_image_base64(r, f->valuestring, err, es);
        } else if (strcmp(key, "k") == 0) {
            double k = cJSON_IsNumber(f) ? f->valuedouble : 0;
            /* Range first: converting an out-of-range double to int is undefined. */
            if (!cJSON_IsNumber(f) || !(k >= 1 && k <= API_MAX_K) || k != (double)(int)k)
                st = fail(400, err, es, "\"k\" must be an integer in [1, %d]", API_MAX_K);
            else r->k = (int)k;
        } else {
            st = fail(400, err, es, "unknown field \"%.64s\"", key);
        }
    }
    cJSON_Delete(root);
    return st;
}

static int parse_multipart(const char *content_type, const unsigned char *body, size_t size, api_request *r,
                           char *err, size_t es) {
    char boundary[80];
    if (!multipart_boundary(content_type, boundary, sizeof boundary))
        return fail(400, err, es, "multipart body without a boundary");
    multipart_part parts[MULTIPART_MAX_PARTS];
    int n = multipart_parse(body, size, boundary, parts, MULTIPART_MAX_PARTS, err, es);
    if (n < 0) return 400;
    int st = 0;
    for (int i = 0; !st && i < n; i++) {
        const multipart_part *p = &parts[i];
        if (strcmp(p->name, "image") == 0 || strcmp(p->name, "file") == 0 || strcmp(p->name, "images") == 0)
            st = add_image_bytes(r, p->data, p->size, NULL, err, es);
        else if (strcmp(p->name, "text") == 0 || strcmp(p->name, "query") == 0 || strcmp(p->name, "texts") == 0)
            st = add_text(r, (const char *)p->data, p->size, err, es);
        else if (strcmp(p->name, "labels") == 0 || strcmp(p->name, "label") == 0)
            st = add_label_list(r, (const char *)p->data, p->size, err, es);
        else if (strcmp(p->name, "k") == 0)
            st = parse_k_text(r, (const char *)p->data, p->size, err, es);
        else
            st = fail(400, err, es, "unknown form field \"%.64s\"", p->name);
    }
    return st;
}

int api_request_parse(const char *content_type, const unsigned char *body, size_t size, api_request *out, char *err,
                      size_t err_size) {
    memset(out, 0, sizeof *out);
    int st;
    if (!content_type || size == 0) {
        st = fail(400, err, err_size, "empty request body");
    } else if (strncasecmp(content_type, "application/json", 16) == 0) {
        st = parse_json(body, size, out, err, err_size);
    } else if (strncasecmp(content_type, "multipart/form-data", 19) == 0) {
        st = parse_multipart(content_type, body, size, out, err, err_size);
    } else {
        st = fail(415, err, err_size, "Content-Type must be application/json or multipart/form-data");
    }
    if (st) api_request_free(out);
    return st;
}

void api_request_free(api_request *r) {
    for (int i = 0; i < r->n_texts; i++) free(r->texts[i]);
    for (int i = 0; i < r->n_images; i++) free(r->images[i].owned);
    for (int i = 0; i < r->n_labels; i++) free(r->labels[i]);
    free(r->labels);
    memset(r, 0, sizeof *r);
}
