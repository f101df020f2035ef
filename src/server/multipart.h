/* multipart/form-data (RFC 7578) over a complete, size-bounded request
 * body. Parts point into the body; nothing is copied. */
#ifndef CLIP_SERVER_MULTIPART_H
#define CLIP_SERVER_MULTIPART_H
#include <stddef.h>

#define MULTIPART_MAX_PARTS 64

typedef struct multipart_part {
    char name[64];      /* form field name */
    char filename[256]; /* "" when not a file */
    const unsigned char *data;
    size_t size;
} multipart_part;

/* Extracts the boundary from a Content-Type value into `boundary`
 * (at most 70 characters by the RFC). Returns 0 if there is none. */
int multipart_boundary(const char *content_type, char *boundary, size_t size);
/* Splits `body`; returns the number of parts, or -1 if malformed (the
 * reason in `err`). */
int multipart_parse(const unsigned char *body, size_t size, const char *boundary, multipart_part *parts,
                    int max_parts, char *err, size_t err_size);

#endif
