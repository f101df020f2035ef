/* libFuzzer target: HTTP request bodies as the server parses them (JSON,
 * multipart/form-data, base64 images). Input: a Content-Type line, then
 * the body. */
#include <stdint.h>
#include <string.h>

#include "server/multipart.h"
#include "server/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nl = memchr(data, '\n', size < 256 ? size : 256);
    if (!nl) return 0;
    char content_type[257];
    size_t ct_len = (size_t)(nl - data);
    memcpy(content_type, data, ct_len);
    content_type[ct_len] = 0;
    const uint8_t *body = nl + 1;
    size_t body_size = size - ct_len - 1;
    api_request req;
    char err[256];
    if (api_request_parse(content_type, body, body_size, &req, err, sizeof err) == 0) {
        size_t sink = 0;
        for (int i = 0; i < req.n_texts; i++) sink += strlen(req.texts[i]);
        for (int i = 0; i < req.n_labels; i++) sink += strlen(req.labels[i]);
        for (int i = 0; i < req.n_images; i++) sink += req.images[i].data[req.images[i].size - 1];
        (void)sink;
        api_request_free(&req);
    }
    /* The multipart splitter on its own, with whatever boundary the line names. */
    char boundary[80];
    if (multipart_boundary(content_type, boundary, sizeof boundary)) {
        multipart_part parts[MULTIPART_MAX_PARTS];
        int n = multipart_parse(body, body_size, boundary, parts, MULTIPART_MAX_PARTS, err, sizeof err);
        for (int i = 0; i < n; i++)
            if (parts[i].size && parts[i].data[parts[i].size - 1] == 0xff) err[0] = 0;
    }
    return 0;
}
