/* The `clip` tool end to end: every command's numbers against the fixture
 * references or against values computed from `clip embed` output. */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "formats/npy.h"
#include "harness.h"

static char vocab[4200], vit[4200], images[4200], tmp[600];

/* Runs a shell command, returns its stdout (malloc'd) and exit status. */
static char *run(const char *cmd, int *status) {
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    size_t n;
    while ((n = fread(out + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 2) out = realloc(out, cap *= 2);
    }
    out[len] = '\0';
    int rc = pclose(p);
    *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    return out;
}

/* Each stdout line as parsed JSON. */
static cJSON **lines_of(char *out, int *count) {
    cJSON **lines = calloc(256, sizeof(cJSON *));
    *count = 0;
    for (char *line = strtok(out, "\n"); line && *count < 256; line = strtok(NULL, "\n")) lines[(*count)++] = cJSON_Parse(line);
    return lines;
}

static void free_lines(cJSON **lines, int n) {
    for (int i = 0; i < n; i++) cJSON_Delete(lines[i]);
    free(lines);
}

static char *cmd(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *cmd(const char *fmt, ...) {
    static char buf[16384];
    va_list args;
    va_start(args, fmt);
    int used = snprintf(buf, sizeof buf, "%s ", getenv("CLIP_BIN"));
    vsnprintf(buf + used, sizeof buf - (size_t)used, fmt, args);
    va_end(args);
    return buf;
}

static double number(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static void embed_via_cli(const char *args, float *out, int expected_rows) {
    int status;
    char *o = run(cmd("embed -m %s --vocab %s %s", vit, vocab, args), &status);
    int n;
    cJSON **lines = lines_of(o, &n);
    CHECK(status == 0 && n == expected_rows, "embed %s: status %d, %d rows", args, status, n);
    for (int i = 0; i < n && i < expected_rows; i++) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(lines[i], "embedding");
        for (int k = 0; k < 64; k++) out[i * 64 + k] = (float)cJSON_GetArrayItem(e, k)->valuedouble;
    }
    free_lines(lines, n);
    free(o);
}

static void pixels_and_tokens(void) {
    st_file *expected = open_fixture("expected/tiny-vit.safetensors");
    st_file *pre = open_fixture("preprocess/expected_224.safetensors");
    char pixels_path[700], tokens_path[700], out_path[700];
    snprintf(pixels_path, sizeof pixels_path, "%s/pixels.npy", tmp);
    snprintf(tokens_path, sizeof tokens_path, "%s/tokens.npy", tmp);
    snprintf(out_path, sizeof out_path, "%s/out.npy", tmp);
    cJSON *names = cJSON_Parse(st_metadata(expected, "images"));
    int n = cJSON_GetArraySize(names);
    size_t per = 3 * 224 * 224;
    float *pixels = malloc(n * per * sizeof(float));
    for (int i = 0; i < n; i++) memcpy(pixels + i * per, st_find(pre, cJSON_GetArrayItem(names, i)->valuestring)->data, per * 4);
    int64_t pshape[4] = {n, 3, 224, 224};
    npy_write_f32(pixels_path, 4, pshape, pixels);
    const st_tensor *tokens = st_find(expected, "input.tokens");
    npy_write_i32(tokens_path, 2, tokens->shape, tokens->data);
    int status;
    char *o = run(cmd("embed -m %s --pixels %s --tokens %s -o %s", vit, pixels_path, tokens_path, out_path), &status);
    free(o);
    npy_array a;
    CHECK(status == 0 && npy_read(out_path, &a) == CLIP_OK, "embed --pixels --tokens -o .npy");
    if (status == 0) {
        const float *ref_i = st_find(expected, "image_features_normalized")->data;
        const float *ref_t = st_find(expected, "text_features_normalized")->data;
        int T = (int)tokens->shape[0];
        CHECK(a.ndim == 2 && a.shape[0] == n + T && a.shape[1] == 64, "embed .npy shape");
        /* 4x the fixture level of the normalised features (see test_model.c) */
        double di = max_abs_diff(a.data, ref_i, (size_t)n * 64), dt = max_abs_diff((float *)a.data + n * 64, ref_t, (size_t)T * 64);
        CHECK(di <= 4 * 4.07e-7 * max_abs(ref_i, (size_t)n * 64), "CLI image features differ by %.3g", di);
        CHECK(dt <= 4 * 5.24e-7 * max_abs(ref_t, (size_t)T * 64), "CLI text features differ by %.3g", dt);
        npy_free(&a);
    }
    /* similarity through the CLI = the reference logits */
    o = run(cmd("similarity -m %s --pixels %s --tokens %s", vit, pixels_path, tokens_path), &status);
    int lines_n;
    cJSON **lines = lines_of(o, &lines_n);
    const float *ref_logits = st_find(expected, "logits_per_image")->data;
    int T = (int)tokens->shape[0];
    double worst = 0;
    for (int i = 0; i < lines_n && i < n; i++) {
        const cJSON *logits = cJSON_GetObjectItemCaseSensitive(lines[i], "logits");
        for (int j = 0; j < T; j++) worst = fmax(worst, fabs(cJSON_GetArrayItem(logits, j)->valuedouble - ref_logits[i * T + j]));
    }
    CHECK(status == 0 && lines_n == n && worst <= 4 * 5.52e-7 * 4.73, "similarity logits differ by %.3g", worst);
    free_lines(lines, lines_n);
    free(o);
    free(pixels);
    cJSON_Delete(names);
    st_close(pre);
    st_close(expected);
}

static void softmax(const double *logits, int n, double *out) {
    double max = -1e30, sum = 0;
    for (int i = 0; i < n; i++) max = fmax(max, logits[i]);
    for (int i = 0; i < n; i++) sum += out[i] = exp(logits[i] - max);
    for (int i = 0; i < n; i++) out[i] /= sum;
}

static void applications(void) {
    const double scale = 1 / 0.07; /* exp(logit_scale) of the fixture models */
    float image[64], texts[3 * 64];
    char args[9000];
    snprintf(args, sizeof args, "--image %s/chelsea.png", images);
    embed_via_cli(args, image, 1);
    embed_via_cli("--text cat --text dog --text car", texts, 3);
    double logits[3], want[3];
    for (int j = 0; j < 3; j++) {
        double dot = 0;
        for (int k = 0; k < 64; k++) dot += image[k] * texts[j * 64 + k];
        logits[j] = scale * dot;
    }
    softmax(logits, 3, want);
    char templates[700];
    snprintf(templates, sizeof templates, "%s/plain.txt", tmp);
    FILE *fp = fopen(templates, "w");
    fputs("{}\n", fp);
    fclose(fp);
    int status, n;
    char *o = run(cmd("classify -m %s --vocab %s %s/chelsea.png --labels cat,dog,car --templates %s --no-cache", vit,
                      vocab, images, templates), &status);
    cJSON **lines = lines_of(o, &n);
    CHECK(status == 0 && n == 1, "classify ran");
    if (n == 1) {
        const cJSON *labels = cJSON_GetObjectItemCaseSensitive(lines[0], "labels");
        const char *names[3] = {"cat", "dog", "car"};
        for (int i = 0; i < cJSON_GetArraySize(labels); i++) {
            const cJSON *item = cJSON_GetArrayItem(labels, i);
            const char *label = cJSON_GetObjectItemCaseSensitive(item, "label")->valuestring;
            for (int j = 0; j < 3; j++)
                if (strcmp(label, names[j]) == 0)
                    CHECK(fabs(number(item, "prob") - want[j]) < 1e-5, "classify %s: %.6f vs %.6f", label,
                          number(item, "prob"), want[j]);
        }
    }
    free_lines(lines, n);
    free(o);
    /* ask with "{answer}" = classify by the answers */
    o = run(cmd("ask -m %s --vocab %s %s/chelsea.png --question q --answers cat,dog,car --template '{answer}'", vit,
                vocab, images), &status);
    lines = lines_of(o, &n);
    CHECK(status == 0 && n == 1, "ask ran");
    if (n == 1) {
        const cJSON *answers = cJSON_GetObjectItemCaseSensitive(lines[0], "answers");
        const cJSON *first = cJSON_GetArrayItem(answers, 0);
        int best = want[0] > want[1] ? (want[0] > want[2] ? 0 : 2) : (want[1] > want[2] ? 1 : 2);
        CHECK(fabs(number(first, "prob") - want[best]) < 1e-5, "ask best answer prob %.6f vs %.6f",
              number(first, "prob"), want[best]);
    }
    free_lines(lines, n);
    free(o);
    /* text-similarity = cosines of the text embeddings */
    o = run(cmd("text-similarity -m %s --vocab %s cat dog car", vit, vocab), &status);
    lines = lines_of(o, &n);
    CHECK(status == 0 && n == 3, "text-similarity ran");
    for (int i = 0; i < n && i < 3; i++)
        for (int j = 0; j < 3; j++) {
            double dot = 0;
            for (int k = 0; k < 64; k++) dot += texts[i * 64 + k] * texts[j * 64 + k];
            double got = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(lines[i], "cosine"), j)->valuedouble;
            CHECK(fabs(got - dot) < 1e-6, "cosine[%d][%d] %.7f vs %.7f", i, j, got, dot);
        }
    free_lines(lines, n);
    free(o);
    /* text-classify = softmax over labels of scale * cosine */
    o = run(cmd("text-classify -m %s --vocab %s cat --labels dog,car", vit, vocab), &status);
    lines = lines_of(o, &n);
    CHECK(status == 0 && n == 1, "text-classify ran");
    if (n == 1) {
        double l2[2], w2[2];
        for (int j = 0; j < 2; j++) {
            double dot = 0;
            for (int k = 0; k < 64; k++) dot += texts[k] * texts[(j + 1) * 64 + k];
            l2[j] = scale * dot;
        }
        softmax(l2, 2, w2);
        const cJSON *labels = cJSON_GetObjectItemCaseSensitive(lines[0], "labels");
        CHECK(fabs(number(cJSON_GetArrayItem(labels, 0), "prob") - w2[0]) < 1e-5, "text-classify prob");
    }
    free_lines(lines, n);
    free(o);
    /* detect --localize --draw: a box inside the image and a PNG */
    char drawn[700];
    snprintf(drawn, sizeof drawn, "%s/boxes.png", tmp);
    o = run(cmd("detect -m %s --vocab %s %s/chelsea.png --labels cat,dog --localize --threshold 0.01 --draw %s", vit,
                vocab, images, drawn), &status);
    lines = lines_of(o, &n);
    CHECK(status == 0 && n == 1, "detect ran (%d)", status);
    clip_image *img = NULL;
    CHECK(clip_image_load_file(drawn, NULL, &img) == CLIP_OK && clip_image_width(img) == 451, "detect --draw PNG");
    clip_image_free(img);
    free_lines(lines, n);
    free(o);
}

static void errors(void) {
    char bad[700];
    snprintf(bad, sizeof bad, "%s/broken.jpg", tmp);
    FILE *fp = fopen(bad, "wb");
    fwrite("\xff\xd8\xff\xe0 truncated", 1, 15, fp);
    fclose(fp);
    int status;
    char *o = run(cmd("embed -m %s --vocab %s --image %s --image %s/chelsea.png 2>%s/err.txt", vit, vocab, bad, images,
                      tmp), &status);
    int n;
    cJSON **lines = lines_of(o, &n);
    CHECK(status == 1 && n == 1, "a bad image is skipped (status %d, %d rows)", status, n);
    free_lines(lines, n);
    free(o);
    char err_path[700], message[4096] = "";
    snprintf(err_path, sizeof err_path, "%s/err.txt", tmp);
    fp = fopen(err_path, "r");
    size_t len = fread(message, 1, sizeof message - 1, fp);
    message[len] = '\0';
    fclose(fp);
    CHECK(strstr(message, "broken.jpg") != NULL, "error names the file: %s", message);
    o = run(cmd("embed -m %s/missing.safetensors --text x 2>/dev/null", tmp), &status);
    CHECK(status == 1, "missing model fails");
    free(o);
    o = run(cmd("nonsense 2>/dev/null"), &status);
    CHECK(status == 2, "unknown command exits 2");
    free(o);
    const char *commands[] = {"embed",   "similarity", "info",  "tokenize", "preprocess",      "init",
                              "train",   "eval",       "grad",  "classify", "detect",          "video",
                              "ask",     "text-similarity",     "text-classify", "index", "serve",
                              "convert", "pull",       "limits"};
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        o = run(cmd("%s --help", commands[i]), &status);
        CHECK(status == 0 && strstr(o, "usage: clip") != NULL, "%s --help", commands[i]);
        free(o);
    }
}

int main(void) {
    if (!getenv("CLIP_BIN")) {
        fprintf(stderr, "FATAL: CLIP_BIN not set\n");
        return 1;
    }
    snprintf(vocab, sizeof vocab, "%s", fixture_path("vocab/bpe_simple_vocab_16e6.txt.gz"));
    snprintf(vit, sizeof vit, "%s", fixture_path("models/tiny-vit.safetensors"));
    snprintf(images, sizeof images, "%s", fixture_path("images"));
    snprintf(tmp, sizeof tmp, "%s", scratch_dir());
    pixels_and_tokens();
    applications();
    errors();
    return test_finish("test_cli");
}
