/* The inputs of an API call, from a JSON body or a multipart form:
 *   JSON:      {"text": T} / {"texts": [T...]}, {"image": B64} / {"images": [B64...]}
 *              (B64 may be a data: URL), {"labels": [L...]}, {"k": N}
 *   multipart: fields text, image (file), labels (repeated, or one field
 *              separated by commas or newlines), k
 * Everything is validated here, before any inference, so a bad request
 * costs no model time and gets a 4xx naming the problem. */
#ifndef CLIP_SERVER_REQUEST_H
#define CLIP_SERVER_REQUEST_H
#include <stddef.h>

#define API_MAX_TEXTS 64
#define API_MAX_IMAGES 16
#define API_MAX_LABELS 1000
#define API_MAX_TEXT_BYTES 8192
#define API_MAX_K 1000

typedef struct api_blob {
    const unsigned char *data;
    size_t size;
    unsigned char *owned; /* decoded base64, else NULL (data points into the body) */
} api_blob;

typedef struct api_request {
    char *texts[API_MAX_TEXTS];
    int n_texts;
    api_blob images[API_MAX_IMAGES];
    int n_images;
    char **labels;
    int n_labels;
    int k; /* 0 when not given */
} api_request;

/* Returns 0 on success, else the HTTP status (400, 413, 415) with the
 * reason in `err`. On failure `out` holds nothing to free. */
int api_request_parse(const char *content_type, const unsigned char *body, size_t size, api_request *out,
                      char *err, size_t err_size);
void api_request_free(api_request *r);

#endif
