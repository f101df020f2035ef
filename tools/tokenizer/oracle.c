/* Helper for check_against_python.py: runs one tokenizer stage on each
 * input line (hex-encoded UTF-8) and prints the result the same way.
 * Built by that script, not by CMake. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/html_unescape.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode_props.h"
#include "tokenizer/utf8.h"

static int print_piece(void *ctx, const uint8_t *p, size_t n) {
    (void)ctx;
    for (size_t i = 0; i < n; i++) printf("%02x", p[i]);
    printf("01"); /* separator: 0x01 never occurs in the inputs */
    return 0;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "class")) {
        for (uint32_t c = 0; c < 0x110000; c++)
            if (c < 0xD800 || c > 0xDFFF) printf("%d\n", clip_pretok_class(c));
        return 0;
    }
    static char line[1 << 20];
    while (fgets(line, sizeof line, stdin)) {
        size_t n = strcspn(line, "\n") / 2;
        uint8_t *b = malloc(n + 1);
        for (size_t i = 0; i < n; i++) {
            unsigned v;
            sscanf(line + 2 * i, "%2x", &v);
            b[i] = (uint8_t)v;
        }
        if (!strcmp(mode, "pretok")) {
            clip_pretokenize(b, n, print_piece, NULL);
        } else {
            cp_buf in = {0}, out = {0};
            byte_buf o = {0};
            clip_utf8_decode_replace(b, n, &in);
            if (!strcmp(mode, "html")) clip_html_unescape(in.v, in.n, &out);
            else clip_py_lower_append(in.v, in.n, &out);
            clip_utf8_encode_append(out.v, out.n, &o);
            for (size_t i = 0; i < o.n; i++) printf("%02x", o.v[i]);
            cp_buf_free(&in);
            cp_buf_free(&out);
            byte_buf_free(&o);
        }
        printf("\n");
        free(b);
    }
    return 0;
}
