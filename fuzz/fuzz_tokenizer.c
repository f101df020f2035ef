/* libFuzzer target for the tokenizer: clip_tokenize (truncating, several
 * context lengths), encode with max_ids, decode of the ids it made and of
 * arbitrary ids read from the input, and now and then the merges parser.
 * Besides crashes and sanitizer reports it checks the results agree with
 * each other. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clip.h"
#include "tokenizer/tokenizer.h"

static clip_tokenizer *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *fixtures = getenv("CLIP_FIXTURES");
    char path[4096];
    snprintf(path, sizeof path, "%s/vocab/bpe_simple_vocab_16e6.txt.gz", fixtures ? fixtures : "../shared/fixtures");
    if (clip_tokenizer_load(path, &tok) != CLIP_OK) {
        fprintf(stderr, "fuzz_tokenizer: %s (set CLIP_FIXTURES)\n", clip_last_error());
        abort();
    }
    return 0;
}

#define REQUIRE(cond)                                                                  \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "fuzz_tokenizer: %s failed at line %d\n", #cond, __LINE__); \
            abort();                                                                   \
        }                                                                              \
    } while (0)

static void check_text(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    int32_t ids[CLIP_DEFAULT_CONTEXT];
    int truncated = 0;
    REQUIRE(clip_tokenize_ex(tok, text, size, CLIP_DEFAULT_CONTEXT, 1, ids, &truncated) == CLIP_OK);
    REQUIRE(ids[0] == CLIP_TOKEN_SOT);

    int32_t *enc = NULL;
    size_t n = 0;
    REQUIRE(clip_tokenizer_encode(tok, text, size, CLIP_DEFAULT_CONTEXT - 1, &enc, &n) == CLIP_OK);
    REQUIRE(n <= CLIP_DEFAULT_CONTEXT - 1);
    REQUIRE(truncated == (n == CLIP_DEFAULT_CONTEXT - 1));
    size_t shown = truncated ? CLIP_DEFAULT_CONTEXT - 2 : n;
    REQUIRE(memcmp(ids + 1, enc, shown * sizeof *ids) == 0);
    REQUIRE(ids[shown + 1] == CLIP_TOKEN_EOT);
    for (size_t i = shown + 2; i < CLIP_DEFAULT_CONTEXT; i++) REQUIRE(ids[i] == 0);

    char *dec = NULL;
    REQUIRE(clip_tokenizer_decode(tok, enc, n, &dec) == CLIP_OK);
    clip_free(dec);
    clip_free(enc);

    /* A short context must agree with the long one on what fits. */
    int context = 1 + (size ? data[0] % 12 : 0);
    int32_t small[12];
    REQUIRE(clip_tokenize_ex(tok, text, size, context, 1, small, &truncated) == CLIP_OK);
    if (context > 2) REQUIRE(memcmp(small + 1, ids + 1, (size_t)(context - 2) * sizeof *ids) == 0);
    REQUIRE(small[truncated ? context - 1 : 0] == (truncated ? CLIP_TOKEN_EOT : CLIP_TOKEN_SOT));
}

/* Arbitrary ids, two bytes each, some outside the vocabulary. */
static void check_decode(const uint8_t *data, size_t size) {
    size_t n = size / 2;
    int32_t *ids = malloc((n + 1) * sizeof *ids);
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        ids[i] = (int32_t)(data[2 * i] | data[2 * i + 1] << 8) % 49500;
        if (ids[i] >= 49408) bad = 1;
    }
    char *text = NULL;
    size_t len = 0;
    clip_status st = clip_tokenizer_decode_len(tok, ids, n, &text, &len);
    REQUIRE(bad ? st == CLIP_ERR_INVALID_ARGUMENT && !text : st == CLIP_OK && text && text[len] == '\0');
    clip_free(text);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 0 && data[0] == 0xFE && size < 4096) {
        /* A merges file from the input (plain or gzip). */
        clip_tokenizer *t = NULL;
        if (clip_tokenizer_from_buffer(data + 1, size - 1, "fuzz", &t) == CLIP_OK) {
            int32_t ids[16];
            REQUIRE(clip_tokenize(t, "a photo of a cat", 16, 16, 1, ids) == CLIP_OK);
        }
        clip_tokenizer_free(t);
        return 0;
    }
    check_text(data, size);
    check_decode(data, size);
    return 0;
}
