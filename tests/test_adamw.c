/* AdamW against PyTorch (fixtures' grads/adamw_vit.safetensors): one step
 * of torch.optim.AdamW from the stored float32 gradients of tiny-vit, with
 * open_clip's weight-decay split (checked against the fixture's lists).
 * Tolerance per tensor: STRICT_FACTOR x the fixture's optimizer_only level
 * (the float32 step recomputed in float64) of the parameter and of the
 * update (new - old), which is where a wrong formula would show.
 * Plus the schedule (open_clip's cosine_lr / const_lr) and
 * clip_grad_norm_ on hand-computed values. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "train/adamw.h"
#include "train/trainer.h"

#define STRICT_FACTOR 4.0

static cJSON *levels;

static void load_levels(void) {
    if (!levels) levels = load_fixture_json("error_levels.json");
}

static double level_of(const char *key) {
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(levels, "adamw_vit"),
                                                      "optimizer_only");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, key),
                                                      "max_abs_diff_over_max_abs_ref");
    if (!cJSON_IsNumber(r)) {
        fprintf(stderr, "FATAL: no optimizer_only level for %s\n", key);
        exit(1);
    }
    return r->valuedouble > 0x1p-24 ? r->valuedouble : 0x1p-24;
}

static const st_tensor *need(st_file *f, const char *name) {
    const st_tensor *t = st_find(f, name);
    if (!t) {
        fprintf(stderr, "FATAL: %s: no tensor %s\n", st_path(f), name);
        exit(1);
    }
    return t;
}

/* The fixture's gradients into the trainer's buffers (token embedding
 * rebuilt from its sparse rows). */
static void load_gradients(train_param *params, size_t count, st_file *grads) {
    for (size_t i = 0; i < count; i++) {
        train_param *p = &params[i];
        char name[160];
        snprintf(name, sizeof name, "grad.%s", p->name);
        const st_tensor *t = st_find(grads, name);
        if (t) {
            CHECK((size_t)t->numel == p->numel, "%s: size", name);
            memcpy(p->grad, t->data, p->numel * sizeof(float));
            continue;
        }
        snprintf(name, sizeof name, "grad.%s.rows", p->name);
        const st_tensor *rows = need(grads, name);
        snprintf(name, sizeof name, "grad.%s.values", p->name);
        const st_tensor *values = need(grads, name);
        size_t W = (size_t)p->shape[1];
        memset(p->grad, 0, p->numel * sizeof(float));
        for (int64_t r = 0; r < rows->numel; r++)
            memcpy(p->grad + ((const int64_t *)rows->data)[r] * W, (const float *)values->data + r * W,
                   W * sizeof(float));
    }
}

static int listed(const cJSON *list, const char *name) {
    const cJSON *item;
    cJSON_ArrayForEach(item, list) if (strcmp(item->valuestring, name) == 0) return 1;
    return 0;
}

static void check_adamw_step(void) {
    st_file *grads = open_fixture("grads/grads_vit.safetensors");
    st_file *expected = open_fixture("grads/adamw_vit.safetensors");
    cJSON *decayed = cJSON_Parse(st_metadata(expected, "weight_decay_0.2"));
    cJSON *plain = cJSON_Parse(st_metadata(expected, "weight_decay_0"));
    clip_model *model = NULL;
    clip_load_options lo = {.n_threads = 1};
    if (clip_model_load(fixture_path("models/tiny-vit.safetensors"), &lo, &model) != CLIP_OK) {
        fprintf(stderr, "FATAL: %s\n", clip_last_error());
        exit(1);
    }
    clip_trainer *trainer = NULL;
    CHECK(clip_trainer_create(model, NULL, &trainer) == CLIP_OK, "trainer: %s", clip_last_error());
    size_t count;
    train_param *params = clip_trainer_params(trainer, &count);
    load_gradients(params, count, grads);
    float **old = calloc(count, sizeof *old);
    for (size_t i = 0; i < count; i++) {
        old[i] = malloc(params[i].numel * sizeof(float));
        memcpy(old[i], params[i].data, params[i].numel * sizeof(float));
        int decays = adamw_decays(&params[i]);
        CHECK(decays ? listed(decayed, params[i].name) : listed(plain, params[i].name),
              "%s: weight decay %s, the fixture says otherwise", params[i].name, decays ? "on" : "off");
    }
    CHECK(count == (size_t)(cJSON_GetArraySize(decayed) + cJSON_GetArraySize(plain)), "%zu parameters, fixture lists %d",
          count, cJSON_GetArraySize(decayed) + cJSON_GetArraySize(plain));

    adamw *opt = NULL;
    adamw_options o = {.beta1 = 0.9, .beta2 = 0.98, .eps = 1e-6, .weight_decay = 0.2};
    CHECK(adamw_create(params, count, &o, &opt) == CLIP_OK, "adamw_create: %s", clip_last_error());
    adamw_step(opt, 1e-3);
    clip_trainer_params_updated(trainer);
    double worst_param = 0, worst_update = 0;
    const char *worst_param_name = "", *worst_update_name = "";
    for (size_t i = 0; i < count; i++) {
        train_param *p = &params[i];
        char key[160];
        snprintf(key, sizeof key, "param.%s", p->name);
        const st_tensor *t = need(expected, key);
        const float *ref = t->data;
        double diff = max_abs_diff(p->data, ref, p->numel), scale = max_abs(ref, p->numel), level = level_of(key);
        CHECK(diff <= STRICT_FACTOR * level * scale, "%s: max diff %.3g > %.0f x level %.3g x %.3g", key, diff,
              STRICT_FACTOR, level, scale);
        if (diff / scale / level > worst_param) {
            worst_param = diff / scale / level;
            worst_param_name = p->name;
        }
        /* The update itself (new - old; the subtraction is exact here). */
        float *ours = malloc(p->numel * sizeof(float)), *theirs = malloc(p->numel * sizeof(float));
        for (size_t k = 0; k < p->numel; k++) {
            ours[k] = p->data[k] - old[i][k];
            theirs[k] = ref[k] - old[i][k];
        }
        snprintf(key, sizeof key, "update.%s", p->name);
        diff = max_abs_diff(ours, theirs, p->numel);
        scale = max_abs(theirs, p->numel);
        level = level_of(key);
        CHECK(diff <= STRICT_FACTOR * level * scale, "%s: max diff %.3g > %.0f x level %.3g x %.3g", key, diff,
              STRICT_FACTOR, level, scale);
        if (diff / scale / level > worst_update) {
            worst_update = diff / scale / level;
            worst_update_name = p->name;
        }
        free(ours);
        free(theirs);
        free(old[i]);
    }
    printf("AdamW step vs PyTorch: %zu parameters; worst param diff %.2f x level (%s), worst update diff %.2f x level "
           "(%s)\n",
           count, worst_param, worst_param_name, worst_update, worst_update_name);
    adamw_state state;
    CHECK(adamw_find_state(opt, "visual.proj", &state) && *state.step == 1 && state.numel == 128 * 64,
          "state by name");
    CHECK(adamw_steps(opt) == 1, "step count");
    free(old);
    adamw_free(opt);
    clip_trainer_free(trainer);
    clip_model_free(model);
    cJSON_Delete(decayed);
    cJSON_Delete(plain);
    st_close(grads);
    st_close(expected);
}

static void check_locked_parameters_untouched(void) {
    clip_model *model = NULL;
    clip_load_options lo = {.n_threads = 1};
    if (clip_model_load(fixture_path("models/tiny-vit.safetensors"), &lo, &model) != CLIP_OK) exit(1);
    clip_trainer_options topts = {.lock_image = 1};
    clip_trainer *trainer = NULL;
    CHECK(clip_trainer_create(model, &topts, &trainer) == CLIP_OK, "trainer: %s", clip_last_error());
    size_t count;
    train_param *params = clip_trainer_params(trainer, &count);
    train_param *conv = clip_trainer_find_param(trainer, "visual.conv1.weight");
    float before = conv->data[0];
    adamw *opt = NULL;
    adamw_options o = {.weight_decay = 0.2};
    CHECK(adamw_create(params, count, &o, &opt) == CLIP_OK, "adamw_create");
    adamw_step(opt, 1e-3);
    /* A locked tower's parameters have no gradient and no state: even
     * weight decay must leave them alone (PyTorch skips grad-less params). */
    CHECK(conv->data[0] == before && !conv->grad, "a locked parameter changed");
    adamw_state state;
    CHECK(!adamw_find_state(opt, "visual.conv1.weight", &state) && adamw_find_state(opt, "ln_final.bias", &state),
          "optimizer state of locked / trained parameters");
    adamw_free(opt);
    clip_trainer_free(trainer);
    clip_model_free(model);
}

static void check_schedule_and_clipping(void) {
    /* open_clip cosine_lr(base 1e-3, warmup 10, steps 110). */
    CHECK(fabs(lr_cosine(1e-3, 10, 110, 0) - 1e-4) < 1e-15, "warm-up step 0");
    CHECK(fabs(lr_cosine(1e-3, 10, 110, 9) - 1e-3) < 1e-15, "warm-up step 9");
    CHECK(fabs(lr_cosine(1e-3, 10, 110, 10) - 1e-3) < 1e-15, "cosine start");
    CHECK(fabs(lr_cosine(1e-3, 10, 110, 60) - 5e-4) < 1e-15, "cosine middle");
    CHECK(fabs(lr_cosine(1e-3, 10, 110, 110)) < 1e-15, "cosine end");
    CHECK(fabs(lr_constant(2e-4, 4, 1) - 1e-4) < 1e-15 && lr_constant(2e-4, 4, 100) == 2e-4, "constant");

    float a[3] = {3, 0, 0}, b[2] = {0, 4};
    train_param p[3] = {{.numel = 3, .grad = a}, {.numel = 2, .grad = b}, {.numel = 5, .grad = NULL}};
    double norm = grad_clip_norm(p, 3, 0);
    CHECK(fabs(norm - 5.0) < 1e-12 && a[0] == 3.0f, "norm only: %g", norm);
    norm = grad_clip_norm(p, 3, 10.0);
    CHECK(fabs(norm - 5.0) < 1e-12 && a[0] == 3.0f, "no clipping under the limit");
    norm = grad_clip_norm(p, 3, 1.0);
    float coef = (float)(1.0 / (5.0 + 1e-6));
    CHECK(fabs(norm - 5.0) < 1e-12 && a[0] == 3.0f * coef && b[1] == 4.0f * coef, "clipped to norm 1: %g %g", a[0],
          b[1]);
    grad_scale(p, 3, 0.5f);
    CHECK(a[0] == 1.5f * coef, "scale");
}

int main(void) {
    load_levels();
    check_adamw_step();
    check_locked_parameters_untouched();
    check_schedule_and_clipping();
    cJSON_Delete(levels);
    return test_finish("test_adamw");
}
