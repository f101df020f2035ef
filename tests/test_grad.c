/* Gradients of the contrastive loss against the fixtures' grads/ files
 * (PyTorch float32 through OpenAI's model.py): loss, logits, every
 * parameter gradient, and the BatchNorm running statistics a train-mode
 * step leaves behind; plus the trainer's own guarantees (training forward
 * == inference forward, locked towers, accumulation, the model restored).
 *
 * Tolerances (fixtures' README, "Error levels"), per tensor, with `level`
 * the fixture's float32-vs-float64 max_abs_diff_over_max_abs_ref:
 *  - strict:  max|ours - ref| <= STRICT_FACTOR * level * max|ref|;
 *  - ResNet convolution and BatchNorm gradients (below ReLU kinks, where a
 *    float32 rounding decides whether an element's gradient passes):
 *    max|ours - ref| <= KINK_MAX * max|ref| and rms ratio <= KINK_RMS;
 *  - gradients that are exactly zero in exact arithmetic (key biases):
 *    max|ours| and max|ref| <= ZERO_FACTOR * the fixture's float32 noise;
 *  - the token embedding (stored sparsely): listed rows strictly, every
 *    other row exactly zero.
 *
 * Also a helper for tests/cli_grad.sh:
 *   test_grad --images FIXTURE          image names of a grads/ file
 *   test_grad --write-tokens FIXTURE O  its tokens as int32 .npy
 *   test_grad --compare FIXTURE FILE    checks a `clip grad` output */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "formats/npy.h"
#include "harness.h"
#include "model/model_internal.h"
#include "train/trainer.h"

#define STRICT_FACTOR 4.0
#define KINK_MAX 1e-2
#define KINK_RMS 5e-3
#define ZERO_FACTOR 4.0

static cJSON *levels;

static void load_levels(void) {
    if (!levels) levels = load_fixture_json("error_levels.json");
}

static double level_of(const char *file, const char *key) {
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(levels, "grads"), file);
    const cJSON *ratio = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(g, key),
                                                          "max_abs_diff_over_max_abs_ref");
    if (!cJSON_IsNumber(ratio)) {
        fprintf(stderr, "FATAL: no error level for %s / %s\n", file, key);
        exit(1);
    }
    return ratio->valuedouble;
}

/* The analytically-zero slice of `param` ([lo, hi) elements), if any. */
static int zero_slice(const char *file, const char *param, size_t *lo, size_t *hi, double *noise) {
    const cJSON *z = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(levels, "grads_analytically_zero"), file);
    const cJSON *entry;
    size_t len = strlen(param);
    cJSON_ArrayForEach(entry, z) {
        const char *key = entry->string;
        if (strncmp(key, param, len) != 0 || (key[len] != '\0' && key[len] != '[')) continue;
        *lo = 0;
        *hi = (size_t)-1;
        if (key[len] == '[' && sscanf(key + len, "[%zu:%zu]", lo, hi) != 2) continue;
        *noise = cJSON_GetObjectItemCaseSensitive(entry, "float32_max_abs")->valuedouble;
        return 1;
    }
    return 0;
}

static const st_tensor *need(st_file *f, const char *name, st_dtype dtype) {
    const st_tensor *t = st_find(f, name);
    if (!t || t->dtype != dtype) {
        fprintf(stderr, "FATAL: %s: tensor %s missing or not %s\n", st_path(f), name, st_dtype_name(dtype));
        exit(1);
    }
    return t;
}

static double rms_ratio(const float *got, const float *ref, size_t n) {
    double d = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)got[i] - ref[i]) * ((double)got[i] - ref[i]);
        r += (double)ref[i] * ref[i];
    }
    return r > 0 ? sqrt(d / r) : (d > 0 ? INFINITY : 0);
}

/* Worst measured values per gradient group, for the summary. */
typedef struct group {
    const char *label;
    int count;
    double worst_ratio, worst_over_level, worst_rms;
    char worst_name[128];
} group;

/* GRAD_VERBOSE=1 in the environment lists every tensor. */
static void note(group *g, const char *name, double ratio, double over_level, double rms) {
    if (getenv("GRAD_VERBOSE"))
        printf("      %-52s max-diff/max|ref| %.2e = %6.2f x level, rms ratio %.2e\n", name, ratio, over_level, rms);
    g->count++;
    if (ratio > g->worst_ratio) {
        g->worst_ratio = ratio;
        snprintf(g->worst_name, sizeof g->worst_name, "%s", name);
    }
    if (over_level > g->worst_over_level) g->worst_over_level = over_level;
    if (rms > g->worst_rms) g->worst_rms = rms;
}

/* A scalar's level is one sample of a rounding error, not a maximum over
 * elements, and can be arbitrarily lucky (rn_eval's loss is within 0.15
 * ulp of float64): scalars computed from the logits (loss, the
 * logit_scale gradient) get at least the logits' level. Nothing in float32
 * is nearer than half an ulp (2^-24 relative). */
static double level_for(const char *file, const char *key, size_t n) {
    double level = level_of(file, key);
    if (n == 1) {
        double logits = level_of(file, "logits_per_image");
        if (logits > level) level = logits;
    }
    return level > 0x1p-24 ? level : 0x1p-24;
}

static void strict(const char *file, const char *key, const float *got, const float *ref, size_t n, group *g) {
    double diff = max_abs_diff(got, ref, n), scale = max_abs(ref, n), level = level_for(file, key, n);
    CHECK(diff <= STRICT_FACTOR * level * scale, "%s %s: max diff %.3g > %.0f x level %.3g x max|ref| %.3g", file, key,
          diff, STRICT_FACTOR, level, scale);
    if (g) note(g, key, diff / scale, diff / scale / level, rms_ratio(got, ref, n));
}

static void compare_zero_slice(const char *file, const char *key, const float *got, const float *ref, size_t lo,
                               size_t hi, double noise, group *g) {
    double ours = max_abs(got + lo, hi - lo), theirs = max_abs(ref + lo, hi - lo);
    CHECK(ours <= ZERO_FACTOR * noise && theirs <= ZERO_FACTOR * noise,
          "%s %s[%zu:%zu]: analytically zero, max|ours| %.3g max|ref| %.3g (float32 noise %.3g)", file, key, lo, hi,
          ours, theirs, noise);
    if (g) {
        g->count++;
        if (ours / noise > g->worst_over_level) g->worst_over_level = ours / noise;
    }
}

static void compare_dense_grad(const char *file, const char *key, const float *got, const float *ref, size_t n,
                               int resnet, group *groups) {
    const char *param = key + strlen("grad.");
    int visual = strncmp(param, "visual.", 7) == 0, pool = strncmp(param, "visual.attnpool.", 16) == 0;
    size_t lo, hi;
    double noise;
    if (zero_slice(file, param, &lo, &hi, &noise)) {
        if (hi > n) hi = n;
        compare_zero_slice(file, key, got, ref, lo, hi, noise, &groups[3]);
        if (lo == 0 && hi == n) return;
        /* The rest of the tensor is compared strictly; the zero slice is
         * blanked in both so it cannot dominate. */
        float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
        memcpy(a, got, n * sizeof(float));
        memcpy(b, ref, n * sizeof(float));
        memset(a + lo, 0, (hi - lo) * sizeof(float));
        memset(b + lo, 0, (hi - lo) * sizeof(float));
        strict(file, key, a, b, n, &groups[visual ? 1 : 0]);
        free(a);
        free(b);
        return;
    }
    if (resnet && visual && !pool) {
        double diff = max_abs_diff(got, ref, n), scale = max_abs(ref, n), rms = rms_ratio(got, ref, n);
        CHECK(diff <= KINK_MAX * scale && rms <= KINK_RMS, "%s %s: max diff %.3g (%.3g of max|ref|), rms ratio %.3g",
              file, key, diff, diff / scale, rms);
        note(&groups[2], key, diff / scale, diff / scale / level_of(file, key), rms);
        return;
    }
    strict(file, key, got, ref, n, &groups[visual ? 1 : 0]);
}

/* The fixture stores the token-embedding gradient as rows + values. */
static void compare_token_embedding(const char *file, st_file *ref, const st_tensor *ours, group *g) {
    const st_tensor *rows = need(ref, "grad.token_embedding.weight.rows", ST_I64);
    const st_tensor *values = need(ref, "grad.token_embedding.weight.values", ST_F32);
    int64_t V = ours->shape[0], W = ours->shape[1], R = rows->shape[0];
    const float *dense = ours->data;
    const int64_t *ids = rows->data;
    float *picked = malloc((size_t)(R * W) * sizeof(float));
    char *listed = calloc((size_t)V, 1);
    for (int64_t r = 0; r < R; r++) {
        memcpy(picked + r * W, dense + ids[r] * W, (size_t)W * sizeof(float));
        listed[ids[r]] = 1;
    }
    strict(file, "grad.token_embedding.weight", picked, values->data, (size_t)(R * W), g);
    size_t nonzero = 0;
    for (int64_t v = 0; v < V; v++)
        if (!listed[v])
            for (int64_t i = 0; i < W; i++) nonzero += dense[v * W + i] != 0.0f;
    CHECK(nonzero == 0, "%s: %zu elements of unused token-embedding rows are not zero", file, nonzero);
    free(picked);
    free(listed);
}

/* Compares a step file (clip_trainer_write_step's layout) with a grads/
 * fixture; returns the number of gradients compared. */
static int compare_step_file(const char *fixture, st_file *ours) {
    char rel[128];
    snprintf(rel, sizeof rel, "grads/%s", fixture);
    st_file *ref = open_fixture(rel);
    load_levels();
    int resnet = st_find(ref, "grad.visual.attnpool.c_proj.weight") != NULL;
    group groups[5] = {{.label = "text tower, logit_scale"},
                       {.label = resnet ? "image: attention pool" : "image tower"},
                       {.label = "image: ResNet conv/BN (kinks)"},
                       {.label = "analytically zero (x noise)"},
                       {.label = "updated BatchNorm statistics"}};
    const st_tensor *loss = need(ours, "loss", ST_F32), *loss_ref = need(ref, "loss", ST_F32);
    strict(fixture, "loss", loss->data, loss_ref->data, 1, NULL);
    const st_tensor *logits = need(ours, "logits_per_image", ST_F32);
    const st_tensor *logits_ref = need(ref, "logits_per_image", ST_F32);
    CHECK(logits->numel == logits_ref->numel, "%s: logits shape", fixture);
    if (logits->numel == logits_ref->numel)
        strict(fixture, "logits_per_image", logits->data, logits_ref->data, (size_t)logits->numel, NULL);
    printf("  %s: loss %.8f (ref %.8f)\n", fixture, *(const float *)loss->data, *(const float *)loss_ref->data);

    int compared = 0, updated = 0;
    for (size_t i = 0; i < st_count(ref); i++) {
        const st_tensor *r = st_at(ref, i);
        if (strncmp(r->name, "grad.", 5) == 0) {
            if (strstr(r->name, "token_embedding.weight.values")) continue;
            if (strstr(r->name, "token_embedding.weight.rows")) {
                const st_tensor *o = need(ours, "grad.token_embedding.weight", ST_F32);
                compare_token_embedding(fixture, ref, o, &groups[0]);
                compared++;
                continue;
            }
            const st_tensor *o = st_find(ours, r->name);
            CHECK(o && o->dtype == ST_F32 && o->numel == r->numel, "%s: %s missing or misshapen in ours", fixture,
                  r->name);
            if (!o || o->numel != r->numel) continue;
            compare_dense_grad(fixture, r->name, o->data, r->data, (size_t)r->numel, resnet, groups);
            compared++;
        } else if (strncmp(r->name, "updated.", 8) == 0) {
            const st_tensor *o = st_find(ours, r->name);
            CHECK(o && o->dtype == r->dtype && o->numel == r->numel, "%s: %s missing in ours", fixture, r->name);
            if (!o || o->dtype != r->dtype || o->numel != r->numel) continue;
            if (r->dtype == ST_I64)
                CHECK(*(const int64_t *)o->data == *(const int64_t *)r->data, "%s: %s = %lld, ref %lld", fixture,
                      r->name, (long long)*(const int64_t *)o->data, (long long)*(const int64_t *)r->data);
            else
                strict(fixture, r->name, o->data, r->data, (size_t)r->numel, &groups[4]);
            updated++;
        }
    }
    int ours_grads = 0, ours_updated = 0;
    for (size_t i = 0; i < st_count(ours); i++) {
        ours_grads += strncmp(st_at(ours, i)->name, "grad.", 5) == 0;
        ours_updated += strncmp(st_at(ours, i)->name, "updated.", 8) == 0;
    }
    CHECK(ours_grads == compared, "%s: we wrote %d gradients, the reference has %d", fixture, ours_grads, compared);
    CHECK(ours_updated == updated, "%s: we wrote %d updated buffers, the reference has %d", fixture, ours_updated,
          updated);
    for (int i = 0; i < 5; i++)
        if (groups[i].count)
            printf("    %-32s %3d tensors: worst max-diff/max|ref| %.2e (%s), worst x level %.2f, worst rms %.2e\n",
                   groups[i].label, groups[i].count, groups[i].worst_ratio, groups[i].worst_name,
                   groups[i].worst_over_level, groups[i].worst_rms);
    st_close(ref);
    return compared;
}

/* ---- inputs of a grads/ fixture ---- */

static cJSON *image_names(st_file *ref) {
    cJSON *names = cJSON_Parse(st_metadata(ref, "images"));
    if (!cJSON_IsArray(names)) {
        fprintf(stderr, "FATAL: %s: no images metadata\n", st_path(ref));
        exit(1);
    }
    return names;
}

static float *load_pixels(st_file *ref, int *n) {
    cJSON *names = image_names(ref);
    st_file *pre = open_fixture("preprocess/expected_224.safetensors");
    *n = cJSON_GetArraySize(names);
    size_t per = (size_t)3 * 224 * 224;
    float *pixels = malloc((size_t)*n * per * sizeof(float));
    for (int i = 0; i < *n; i++)
        memcpy(pixels + i * per, need(pre, cJSON_GetArrayItem(names, i)->valuestring, ST_F32)->data,
               per * sizeof(float));
    st_close(pre);
    cJSON_Delete(names);
    return pixels;
}

/* ---- the in-process checks ---- */

static clip_model *load(const char *rel) {
    clip_model *model = NULL;
    clip_load_options opts = {.n_threads = 2};
    if (clip_model_load(fixture_path(rel), &opts, &model) != CLIP_OK) {
        fprintf(stderr, "FATAL: load %s: %s\n", rel, clip_last_error());
        exit(1);
    }
    return model;
}

typedef struct step {
    float loss, *logits, *image, *text;
} step;

static void run_step(clip_trainer *t, const float *pixels, const int32_t *tokens, int n, step *s) {
    int E = clip_trainer_model(t)->info.embed_dim;
    s->logits = malloc((size_t)n * n * sizeof(float));
    s->image = malloc((size_t)n * E * sizeof(float));
    s->text = malloc((size_t)n * E * sizeof(float));
    clip_train_outputs outs = {s->logits, s->image, s->text};
    clip_status st = clip_trainer_forward_backward(t, pixels, tokens, n, &s->loss, &outs);
    CHECK(st == CLIP_OK, "forward_backward: %s", clip_last_error());
}

static void free_step(step *s) {
    free(s->logits);
    free(s->image);
    free(s->text);
}

static void check_features_match(const char *label, clip_model *m, const float *pixels, const int32_t *tokens, int n,
                                 const step *s, int check_image) {
    int E = m->info.embed_dim;
    float *image = malloc((size_t)n * E * sizeof(float)), *text = malloc((size_t)n * E * sizeof(float));
    CHECK(clip_encode_text(m, tokens, n, text) == CLIP_OK, "encode_text");
    double d = max_abs_diff(s->text, text, (size_t)n * E), scale = max_abs(text, (size_t)n * E);
    CHECK(d <= 1e-6 * scale, "%s: training text features differ from inference by %.3g", label, d);
    printf("  %s: training vs inference features: text %.2e", label, d / scale);
    if (check_image) {
        CHECK(clip_encode_image(m, pixels, n, image) == CLIP_OK, "encode_image");
        d = max_abs_diff(s->image, image, (size_t)n * E);
        scale = max_abs(image, (size_t)n * E);
        CHECK(d <= 1e-6 * scale, "%s: training image features differ from inference by %.3g", label, d);
        printf(", image %.2e", d / scale);
    }
    printf(" (of max|f|)\n");
    free(image);
    free(text);
}

/* One fixture end to end: forward + backward, written as `clip grad`
 * writes it, compared. */
static void check_fixture(const char *model_rel, const char *fixture, int bn_train) {
    printf("%s, %s (BatchNorm %s)\n", model_rel, fixture, bn_train ? "train" : "eval");
    char rel[128];
    snprintf(rel, sizeof rel, "grads/%s", fixture);
    st_file *ref = open_fixture(rel);
    int n;
    float *pixels = load_pixels(ref, &n);
    const int32_t *tokens = need(ref, "input.tokens", ST_I32)->data;
    clip_model *m = load(model_rel);
    clip_trainer_options opts = {.bn_train = bn_train};
    clip_trainer *t = NULL;
    CHECK(clip_trainer_create(m, &opts, &t) == CLIP_OK, "trainer: %s", clip_last_error());
    if (t) {
        step s;
        run_step(t, pixels, tokens, n, &s);
        char path[700];
        snprintf(path, sizeof path, "%s/%s", scratch_dir(), fixture);
        int with_buffers = bn_train && m->info.vision_kind == CLIP_VISION_RESNET;
        CHECK(clip_trainer_write_step(t, s.loss, s.logits, n, with_buffers, path) == CLIP_OK, "write: %s",
              clip_last_error());
        st_file *ours = open_fixture(path);
        int compared = compare_step_file(fixture, ours);
        size_t count;
        clip_trainer_params(t, &count);
        CHECK(compared == (int)count, "%s: %d gradients compared, the model has %zu parameters", fixture, compared,
              count);
        st_close(ours);
        remove(path);
        /* Train-mode BatchNorm normalises differently from inference. */
        check_features_match(fixture, m, pixels, tokens, n, &s, !(bn_train && m->info.vision_kind == CLIP_VISION_RESNET));
        free_step(&s);
    }
    clip_trainer_free(t);
    clip_model_free(m);
    free(pixels);
    st_close(ref);
}

static double grad_diff(clip_trainer *a, clip_trainer *b, const char *name, double factor) {
    train_param *p = clip_trainer_find_param(a, name), *q = clip_trainer_find_param(b, name);
    if (!p || !q || !p->grad || !q->grad) return INFINITY;
    double worst = 0, scale = 0;
    for (size_t i = 0; i < p->numel; i++) {
        double d = fabs(p->grad[i] - factor * q->grad[i]);
        if (d > worst) worst = d;
        if (fabs(q->grad[i]) > scale) scale = fabs(q->grad[i]);
    }
    return scale > 0 ? worst / scale : worst;
}

/* Locked towers, accumulation, restoring the model, the logit-scale clamp. */
static void check_trainer_behaviour(void) {
    printf("trainer behaviour (tiny-vit)\n");
    st_file *ref = open_fixture("grads/grads_vit.safetensors");
    int n;
    float *pixels = load_pixels(ref, &n);
    const int32_t *tokens = need(ref, "input.tokens", ST_I32)->data;
    clip_model *m = load("models/tiny-vit.safetensors");
    int E = m->info.embed_dim;
    float *before = malloc((size_t)n * E * sizeof(float)), *after = malloc((size_t)n * E * sizeof(float));
    clip_encode_image(m, pixels, n, before);
    const float *file_proj = m->vit.proj;

    clip_trainer *full = NULL, *locked = NULL;
    clip_trainer_options lock_text = {.lock_text = 1};
    CHECK(clip_trainer_create(m, NULL, &full) == CLIP_OK, "trainer: %s", clip_last_error());
    step s1, s2;
    run_step(full, pixels, tokens, n, &s1);
    run_step(full, pixels, tokens, n, &s2);
    /* Gradients accumulate: two identical steps give twice one step. */
    clip_model *m2 = load("models/tiny-vit.safetensors");
    CHECK(clip_trainer_create(m2, &lock_text, &locked) == CLIP_OK, "trainer: %s", clip_last_error());
    clip_trainer *once = NULL;
    clip_model *m3 = load("models/tiny-vit.safetensors");
    CHECK(clip_trainer_create(m3, NULL, &once) == CLIP_OK, "trainer: %s", clip_last_error());
    step s3, s4;
    run_step(once, pixels, tokens, n, &s3);
    run_step(locked, pixels, tokens, n, &s4);
    size_t count;
    train_param *params = clip_trainer_params(full, &count);
    double worst_accum = 0, worst_locked = 0;
    const char *worst_name = "";
    int text_grads = 0;
    for (size_t i = 0; i < count; i++) {
        double d = grad_diff(full, once, params[i].name, 2.0);
        if (d > worst_accum) {
            worst_accum = d;
            worst_name = params[i].name;
        }
        train_param *lp = clip_trainer_find_param(locked, params[i].name);
        if (params[i].tower == TRAIN_TOWER_TEXT) {
            text_grads += lp->grad != NULL || lp->requires_grad;
        } else {
            d = grad_diff(locked, once, params[i].name, 1.0);
            if (d > worst_locked) worst_locked = d;
        }
    }
    CHECK(worst_accum <= 1e-6, "accumulated gradients differ from 2x one step by %.3g (%s)", worst_accum, worst_name);
    CHECK(text_grads == 0, "%d text parameters have gradients with the text tower locked", text_grads);
    CHECK(worst_locked <= 1e-5, "image gradients with the text tower locked differ by %.3g", worst_locked);
    CHECK(fabsf(s4.loss - s3.loss) <= 1e-6f * s3.loss, "locked-text loss %.9g vs %.9g", s4.loss, s3.loss);
    printf("  accumulation: worst |2 g1 - (g1 + g1)| %.2e (%s); text locked: image grads within %.2e, loss %.9g vs %.9g\n",
           worst_accum, worst_name, worst_locked, s4.loss, s3.loss);

    /* open_clip's clamp of the scale after a step. */
    train_param *ls = clip_trainer_find_param(full, "logit_scale");
    ls->data[0] = 7.0f;
    clip_trainer_params_updated(full);
    CHECK(fabsf(ls->data[0] - logf(100.0f)) < 1e-6f && fabsf(m->info.logit_scale - 100.0f) < 1e-3f,
          "logit_scale clamp: %.7g (model scale %.7g)", ls->data[0], m->info.logit_scale);
    ls->data[0] = -1.0f;
    clip_trainer_params_updated(full);
    CHECK(ls->data[0] == 0.0f, "logit_scale clamp at 0: %.7g", ls->data[0]);

    /* Updates reach inference; freeing the trainer restores the file's weights. */
    train_param *proj = clip_trainer_find_param(full, "visual.proj");
    for (size_t i = 0; i < proj->numel; i++) proj->data[i] *= 2.0f;
    clip_trainer_params_updated(full);
    clip_encode_image(m, pixels, n, after);
    CHECK(fabsf(after[0] - 2.0f * before[0]) <= 1e-5f * fabsf(before[0]), "an update is not seen by inference");
    clip_trainer_free(full);
    CHECK(m->vit.proj == file_proj, "the model's weight pointers were not restored");
    clip_encode_image(m, pixels, n, after);
    CHECK(memcmp(before, after, (size_t)n * E * sizeof(float)) == 0, "inference after free differs from before");
    CHECK(fabsf(m->info.logit_scale - 1.0f / 0.07f) < 1e-3f, "logit scale not restored: %g", m->info.logit_scale);

    free_step(&s1);
    free_step(&s2);
    free_step(&s3);
    free_step(&s4);
    clip_trainer_free(locked);
    clip_trainer_free(once);
    clip_model_free(m);
    clip_model_free(m2);
    clip_model_free(m3);
    free(before);
    free(after);
    free(pixels);
    st_close(ref);
}

/* ---- helper modes for cli_grad.sh ---- */

static int print_images(const char *fixture) {
    char rel[128];
    snprintf(rel, sizeof rel, "grads/%s", fixture);
    st_file *ref = open_fixture(rel);
    cJSON *names = image_names(ref);
    const cJSON *name;
    cJSON_ArrayForEach(name, names) printf("%s\n", name->valuestring);
    cJSON_Delete(names);
    st_close(ref);
    return 0;
}

static int write_tokens(const char *fixture, const char *out) {
    char rel[128];
    snprintf(rel, sizeof rel, "grads/%s", fixture);
    st_file *ref = open_fixture(rel);
    const st_tensor *t = need(ref, "input.tokens", ST_I32);
    clip_status st = npy_write_i32(out, 2, t->shape, t->data);
    if (st != CLIP_OK) fprintf(stderr, "%s: %s\n", out, clip_last_error());
    st_close(ref);
    return st == CLIP_OK ? 0 : 1;
}

static int compare_cli_output(const char *fixture, const char *path) {
    st_file *ours = open_fixture(path);
    compare_step_file(fixture, ours);
    st_close(ours);
    cJSON_Delete(levels);
    return test_finish("test_grad --compare");
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--images") == 0) return print_images(argv[2]);
    if (argc == 4 && strcmp(argv[1], "--write-tokens") == 0) return write_tokens(argv[2], argv[3]);
    if (argc == 4 && strcmp(argv[1], "--compare") == 0) return compare_cli_output(argv[2], argv[3]);
    if (argc != 1) {
        fprintf(stderr, "usage: test_grad [--images F | --write-tokens F OUT.npy | --compare F FILE]\n");
        return 2;
    }
    check_fixture("models/tiny-vit.safetensors", "grads_vit.safetensors", 1);
    check_fixture("models/tiny-vit-hf", "grads_vit.safetensors", 1);
    check_fixture("models/tiny-rn.safetensors", "grads_rn_eval.safetensors", 0);
    check_fixture("models/tiny-rn.safetensors", "grads_rn_train.safetensors", 1);
    check_trainer_behaviour();
    cJSON_Delete(levels);
    return test_finish("test_grad");
}
