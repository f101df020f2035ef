#include "server/multipart.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

int multipart_boundary(const char *ct, char *boundary, size_t size) {
    if (!ct) return 0;
    const char *p = ct;
    while ((p = strcasestr(p, "boundary=")) != NULL) {
        /* A real parameter starts after ';' or whitespace, not inside another name. */
        if (p == ct || p[-1] == ';' || p[-1] == ' ' || p[-1] == '\t') break;
        p++;
    }
    if (!p) return 0;
    p += 9;
    size_t n = 0;
    if (*p == '"') {
        p++;
        while (p[n] && p[n] != '"') n++;
        if (p[n] != '"') return 0;
    } else {
        while (p[n] && p[n] != ';' && p[n] != ' ' && p[n] != '\t') n++;
    }
    if (n == 0 || n > 70 || n >= size) return 0;
    memcpy(boundary, p, n);
    boundary[n] = 0;
    return 1;
}

static const unsigned char *find(const unsigned char *hay, size_t n, const char *needle, size_t m) {
    if (m == 0 || n < m) return NULL;
    const unsigned char *end = hay + n - m;
    for (const unsigned char *p = hay; p <= end; p++) {
        p = memchr(p, needle[0], (size_t)(end - p) + 1);
        if (!p) return NULL;
        if (memcmp(p, needle, m) == 0) return p;
    }
    return NULL;
}

/* Copies the value of `key` (name= or filename=) from a Content-Disposition
 * header line [line, line_end). */
static void disposition_param(const char *line, const char *line_end, const char *key, char *out, size_t size) {
    out[0] = 0;
    size_t klen = strlen(key);
    for (const char *p = line; p + klen < line_end; p++) {
        if ((p == line || p[-1] == ';' || p[-1] == ' ') && strncasecmp(p, key, klen) == 0 && p[klen] == '=') {
            const char *v = p + klen + 1, *e;
            if (v < line_end && *v == '"') {
                v++;
                e = memchr(v, '"', (size_t)(line_end - v));
                if (!e) e = line_end;
            } else {
                e = v;
                while (e < line_end && *e != ';' && *e != ' ') e++;
            }
            size_t n = (size_t)(e - v) < size - 1 ? (size_t)(e - v) : size - 1;
            memcpy(out, v, n);
            out[n] = 0;
            return;
        }
    }
}

int multipart_parse(const unsigned char *body, size_t size, const char *boundary, multipart_part *parts,
                    int max_parts, char *err, size_t err_size) {
    char delim[80];
    int dlen = snprintf(delim, sizeof delim, "--%s", boundary);
    if (dlen <= 2 || (size_t)dlen >= sizeof delim) {
        snprintf(err, err_size, "bad multipart boundary");
        return -1;
    }
    const unsigned char *p = find(body, size, delim, (size_t)dlen);
    if (!p) {
        snprintf(err, err_size, "multipart body has no boundary line");
        return -1;
    }
    const unsigned char *end = body + size;
    int n = 0;
    for (;;) {
        p += dlen;
        if (end - p >= 2 && p[0] == '-' && p[1] == '-') return n; /* closing delimiter */
        /* The delimiter line ends with optional whitespace and CRLF. */
        while (p < end && (*p == ' ' || *p == '\t')) p++;
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n') break;
        p += 2;
        const unsigned char *hdr_end = find(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!hdr_end) break;
        if (n == max_parts) {
            snprintf(err, err_size, "more than %d multipart parts", max_parts);
            return -1;
        }
        multipart_part *part = &parts[n];
        memset(part, 0, sizeof *part);
        for (const unsigned char *line = p; line < hdr_end;) {
            const unsigned char *eol = find(line, (size_t)(hdr_end - line) + 2, "\r\n", 2);
            if (!eol) eol = hdr_end;
            if ((size_t)(eol - line) > 20 && strncasecmp((const char *)line, "Content-Disposition:", 20) == 0) {
                disposition_param((const char *)line + 20, (const char *)eol, "name", part->name, sizeof part->name);
                disposition_param((const char *)line + 20, (const char *)eol, "filename", part->filename,
                                  sizeof part->filename);
            }
            line = eol + 2;
        }
        const unsigned char *data = hdr_end + 4;
        /* The data ends at CRLF + delimiter. */
        char next[84];
        int nlen = snprintf(next, sizeof next, "\r\n%s", delim);
        const unsigned char *stop = find(data, (size_t)(end - data), next, (size_t)nlen);
        if (!stop) break;
        part->data = data;
        part->size = (size_t)(stop - data);
        n++;
        p = stop + 2;
    }
    snprintf(err, err_size, "malformed or truncated multipart body");
    return -1;
}
