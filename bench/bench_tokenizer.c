/* Tokenizer throughput on 1,000,000 generated caption-like texts,
 * single-threaded, in CPU time: clip_tokenize (context 77, truncate) with
 * the word cache warm, then cold (every pre-token through BPE).
 *
 *   build/bench/bench_tokenizer [VOCAB] [N_TEXTS]
 *
 * VOCAB defaults to $CLIP_FIXTURES/vocab/bpe_simple_vocab_16e6.txt.gz. The
 * corpus is described in docs/tokenizer.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clip.h"
#include "tokenizer/tokenizer.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

/* xorshift64*: the same corpus on every machine and run. */
static uint32_t rnd(uint32_t n) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 33) % n;
}

#define PICK(list) list[rnd(sizeof list / sizeof *list)]

static const char *const subjects[] = {
    "man", "woman", "child", "dog", "cat", "bird", "horse", "cow", "sheep", "elephant", "giraffe", "zebra",
    "bear", "train", "bus", "car", "truck", "bicycle", "motorcycle", "airplane", "boat", "pizza", "sandwich",
    "cake", "bowl of soup", "plate of food", "laptop", "television", "clock", "vase", "teddy bear",
    "group of people", "couple", "skateboarder", "surfer", "tennis player", "baseball player", "chef",
    "street sign", "fire hydrant", "kitchen", "bathroom", "bedroom", "living room", "city street", "beach",
    "mountain", "lighthouse", "bridge", "castle", "robot", "astronaut", "painting", "sculpture"};
static const char *const adjectives[] = {
    "red", "blue", "green", "yellow", "black", "white", "small", "large", "old", "young", "happy", "wooden",
    "shiny", "colorful", "tall", "tiny", "cute", "vintage", "modern", "empty", "crowded", "snowy", "sunny",
    "rainy", "blurry", "bright", "dark", "beautiful", "giant", "fluffy"};
static const char *const verbs[] = {
    "sitting on", "standing next to", "riding", "holding", "looking at", "walking along", "parked near",
    "flying over", "lying on", "eating", "playing with", "jumping over", "leaning against", "running across",
    "reflected in", "covered with", "surrounded by", "in front of", "on top of", "under"};
static const char *const places[] = {
    "the table", "a field", "the beach", "a sidewalk", "the snow", "a wooden fence", "the river", "a park",
    "the road", "a building", "the sky", "a kitchen counter", "the grass", "a couch", "the ocean",
    "a busy street", "the mountains", "a forest", "the window", "a train station"};
static const char *const styles[] = {
    "a photo of", "an image of", "a close-up photo of", "a painting of", "a sketch of", "a rendering of",
    "a black and white photo of", "a blurry photo of", "art of", "a cropped photo of"};
static const char *const extras[] = {
    " at sunset", " at night", " in the rain", " on a cloudy day", " in 2019", " with 3 friends",
    " (HDR)", " - stock photo", " #nofilter", ", taken with a 50mm lens", " in Zürich",
    " \xe2\x80\x9cvintage\xe2\x80\x9d style", " at the caf\xc3\xa9", " &amp; friends", " near 5th Ave."};

/* One caption into buf; returns its length. */
static size_t make_caption(char *buf) {
    char *p = buf;
    switch (rnd(4)) {
    case 0: p += sprintf(p, "%s a %s %s", PICK(styles), PICK(adjectives), PICK(subjects)); break;
    case 1: p += sprintf(p, "A %s %s %s %s", PICK(adjectives), PICK(subjects), PICK(verbs), PICK(places)); break;
    case 2:
        p += sprintf(p, "Two %s %ss %s %s.", PICK(adjectives), PICK(subjects), PICK(verbs), PICK(places));
        break;
    default:
        p += sprintf(p, "the %s %s is %s %s %s", PICK(subjects), PICK(verbs), PICK(adjectives), PICK(subjects),
                     PICK(places));
    }
    if (rnd(3) == 0) p += sprintf(p, "%s", PICK(extras));
    return (size_t)(p - buf);
}

static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Tokenizes every text; returns CPU seconds, counts BPE ids in *tokens. */
static double run(clip_tokenizer *tok, const char *corpus, const size_t *offsets, size_t n, uint64_t *tokens) {
    int32_t ids[CLIP_DEFAULT_CONTEXT];
    uint64_t count = 0;
    double t0 = cpu_seconds();
    for (size_t i = 0; i < n; i++) {
        if (clip_tokenize(tok, corpus + offsets[i], offsets[i + 1] - offsets[i], CLIP_DEFAULT_CONTEXT, 1, ids) !=
            CLIP_OK) {
            fprintf(stderr, "bench_tokenizer: %s\n", clip_last_error());
            exit(1);
        }
        for (int k = 1; k < CLIP_DEFAULT_CONTEXT && ids[k] != CLIP_TOKEN_EOT; k++) count++;
    }
    *tokens = count;
    return cpu_seconds() - t0;
}

int main(int argc, char **argv) {
    char default_vocab[4096];
    const char *fixtures = getenv("CLIP_FIXTURES");
    snprintf(default_vocab, sizeof default_vocab, "%s/vocab/bpe_simple_vocab_16e6.txt.gz",
             fixtures && *fixtures ? fixtures : "../shared/fixtures");
    const char *vocab = argc > 1 ? argv[1] : default_vocab;
    size_t n = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000000;

    clip_tokenizer *tok = NULL;
    if (clip_tokenizer_load(vocab, &tok) != CLIP_OK) {
        fprintf(stderr, "bench_tokenizer: %s\n", clip_last_error());
        return 1;
    }
    size_t *offsets = malloc((n + 1) * sizeof *offsets);
    char *corpus = malloc(n * 256);
    if (!offsets || !corpus) {
        fprintf(stderr, "bench_tokenizer: out of memory\n");
        return 1;
    }
    offsets[0] = 0;
    for (size_t i = 0; i < n; i++) offsets[i + 1] = offsets[i] + make_caption(corpus + offsets[i]);
    printf("corpus: %zu captions, %.1f MB, e.g. \"%.*s\"\n", n, offsets[n] / 1e6, (int)(offsets[1] - offsets[0]),
           corpus);

    uint64_t tokens;
    run(tok, corpus, offsets, n < 10000 ? n : 10000, &tokens); /* fill the cache */
    double warm = run(tok, corpus, offsets, n, &tokens);
    printf("warm cache: %.3f s CPU, %llu BPE tokens, %.2f M tokens/s, %.0f captions/s\n", warm,
           (unsigned long long)tokens, tokens / warm / 1e6, n / warm);

    tok->cache_disabled = 1;
    size_t n_cold = n < 200000 ? n : 200000;
    double cold = run(tok, corpus, offsets, n_cold, &tokens);
    printf("cold (no cache, %zu captions): %.3f s CPU, %.2f M tokens/s, %.0f captions/s\n", n_cold, cold,
           tokens / cold / 1e6, n_cold / cold);

    free(corpus);
    free(offsets);
    clip_tokenizer_free(tok);
    return 0;
}
