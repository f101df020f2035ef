/* Zero-shot classification: label embeddings from prompt ensembles. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "formats/npy.h"

struct clip_classifier {
    int n_labels, dim;
    char **labels;
    float *embeddings; /* [n_labels, dim], normalised */
};

/* The template with every "{}" replaced by the label. */
static char *fill_template(const char *template, const char *label) {
    size_t tl = strlen(template), ll = strlen(label), n = 0;
    for (const char *p = strstr(template, "{}"); p; p = strstr(p + 2, "{}")) n++;
    char *out = malloc(tl + n * ll + 1);
    if (!out) return NULL;
    char *w = out;
    for (const char *p = template; *p;) {
        if (p[0] == '{' && p[1] == '}') {
            memcpy(w, label, ll);
            w += ll;
            p += 2;
        } else {
            *w++ = *p++;
        }
    }
    *w = '\0';
    return out;
}

static int count_templates(const char *const *templates, int n) {
    if (templates) return n;
    int count = 0;
    for (const char *const *t = clip_default_templates(); *t; t++) count++;
    return count;
}

static clip_status alloc_classifier(const char *const *labels, int n_labels, int dim, clip_classifier **out) {
    clip_classifier *c = calloc(1, sizeof *c);
    if (!c) return clip_fail(CLIP_ERR_NO_MEMORY, "classifier: out of memory");
    c->n_labels = n_labels;
    c->dim = dim;
    c->labels = calloc((size_t)n_labels, sizeof(char *));
    c->embeddings = malloc((size_t)n_labels * dim * sizeof(float));
    int ok = c->labels && c->embeddings;
    for (int i = 0; ok && i < n_labels; i++) ok = (c->labels[i] = strdup(labels[i])) != NULL;
    if (!ok) {
        clip_classifier_free(c);
        return clip_fail(CLIP_ERR_NO_MEMORY, "classifier: out of memory");
    }
    *out = c;
    return CLIP_OK;
}

clip_status clip_classifier_create(clip_model *model, const char *const *labels, int n_labels,
                                   const char *const *templates, int n_templates, clip_classifier **out) {
    *out = NULL;
    if (!model || !labels || n_labels <= 0 || (templates && n_templates <= 0))
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "classifier: needs a model, at least one label and template");
    if (!templates) templates = clip_default_templates();
    n_templates = count_templates(templates == clip_default_templates() ? NULL : templates, n_templates);
    clip_model_info info;
    clip_model_get_info(model, &info);
    int dim = info.embed_dim;
    clip_classifier *c;
    clip_status st = alloc_classifier(labels, n_labels, dim, &c);
    if (st != CLIP_OK) return st;
    char **prompts = calloc((size_t)n_templates, sizeof(char *));
    float *features = malloc((size_t)n_templates * dim * sizeof(float));
    if (!prompts || !features) st = clip_fail(CLIP_ERR_NO_MEMORY, "classifier: out of memory");
    for (int l = 0; l < n_labels && st == CLIP_OK; l++) {
        for (int t = 0; t < n_templates && st == CLIP_OK; t++)
            if (!(prompts[t] = fill_template(templates[t], labels[l])))
                st = clip_fail(CLIP_ERR_NO_MEMORY, "classifier: out of memory");
        if (st == CLIP_OK) st = clip_embed_texts(model, (const char *const *)prompts, n_templates, 1, features);
        if (st == CLIP_OK) {
            float *mean = c->embeddings + (size_t)l * dim;
            for (int k = 0; k < dim; k++) {
                double sum = 0;
                for (int t = 0; t < n_templates; t++) sum += features[(size_t)t * dim + k];
                mean[k] = (float)(sum / n_templates);
            }
            clip_l2_normalize(mean, 1, dim);
        }
        for (int t = 0; t < n_templates; t++) {
            free(prompts[t]);
            prompts[t] = NULL;
        }
    }
    free(prompts);
    free(features);
    if (st != CLIP_OK) {
        clip_classifier_free(c);
        return st;
    }
    *out = c;
    return CLIP_OK;
}

void clip_classifier_free(clip_classifier *c) {
    if (!c) return;
    for (int i = 0; i < c->n_labels && c->labels; i++) free(c->labels[i]);
    free(c->labels);
    free(c->embeddings);
    free(c);
}

int clip_classifier_n_labels(const clip_classifier *c) { return c->n_labels; }
const char *clip_classifier_label(const clip_classifier *c, int i) {
    return i >= 0 && i < c->n_labels ? c->labels[i] : NULL;
}
const float *clip_classifier_embeddings(const clip_classifier *c) { return c->embeddings; }

static uint64_t hash_str(uint64_t h, const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; ; p++) {
        h ^= *p;
        h *= 0x100000001b3ull;
        if (!*p) break;
    }
    return h;
}

static int make_dirs(const char *path) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return 0;
        *p = '/';
    }
    return mkdir(buf, 0755) == 0 || errno == EEXIST;
}

clip_status clip_classifier_create_cached(clip_model *model, const char *const *labels, int n_labels,
                                          const char *const *templates, int n_templates, const char *cache_dir,
                                          clip_classifier **out) {
    *out = NULL;
    if (!model || !labels || n_labels <= 0)
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "classifier: needs a model and at least one label");
    char dir[4096];
    const char *home = getenv("HOME");
    if (cache_dir) snprintf(dir, sizeof dir, "%s/classifiers", cache_dir);
    else if (getenv("CLIP_CACHE")) snprintf(dir, sizeof dir, "%s/classifiers", getenv("CLIP_CACHE"));
    else snprintf(dir, sizeof dir, "%s/.cache/clip/classifiers", home ? home : "/tmp");
    char fingerprint[33];
    clip_model_fingerprint(model, fingerprint);
    uint64_t h = hash_str(0xcbf29ce484222325ull, fingerprint);
    for (int i = 0; i < n_labels; i++) h = hash_str(h, labels[i]);
    const char *const *tpl = templates ? templates : clip_default_templates();
    int nt = count_templates(templates, n_templates);
    h = hash_str(h, "|templates|");
    for (int i = 0; i < nt; i++) h = hash_str(h, tpl[i]);
    char path[4200];
    snprintf(path, sizeof path, "%s/%016llx.npy", dir, (unsigned long long)h);
    clip_model_info info;
    clip_model_get_info(model, &info);
    npy_array cached;
    if (npy_read(path, &cached) == CLIP_OK) {
        int fits = strcmp(cached.descr, "<f4") == 0 && cached.ndim == 2 && cached.shape[0] == n_labels &&
                   cached.shape[1] == info.embed_dim;
        if (fits) {
            clip_status st = alloc_classifier(labels, n_labels, info.embed_dim, out);
            if (st == CLIP_OK) memcpy((*out)->embeddings, cached.data, cached.nbytes);
            npy_free(&cached);
            return st;
        }
        npy_free(&cached);
    }
    clip_status st = clip_classifier_create(model, labels, n_labels, templates, n_templates, out);
    if (st == CLIP_OK && make_dirs(dir)) {
        int64_t shape[2] = {n_labels, info.embed_dim};
        npy_write_f32(path, 2, shape, (*out)->embeddings); /* a cache: failing to store it is not an error */
        clip_clear_error();
    }
    return st;
}

void clip_classify_features(const clip_classifier *c, const float *features, int n, float logit_scale, float *probs) {
    clip_logits(features, n, c->embeddings, c->n_labels, c->dim, logit_scale, probs);
    clip_softmax_rows(probs, n, c->n_labels);
}

void clip_classify_multilabel(const clip_classifier *c, const clip_classifier *background, const float *features,
                              int n, float logit_scale, float *probs) {
    int L = c->n_labels, B = background->n_labels;
    float *label_logits = malloc((size_t)L * sizeof(float)), *bg_logits = malloc((size_t)B * sizeof(float));
    if (!label_logits || !bg_logits) {
        for (size_t i = 0; i < (size_t)n * L; i++) probs[i] = NAN;
        free(label_logits);
        free(bg_logits);
        return;
    }
    for (int i = 0; i < n; i++) {
        const float *f = features + (size_t)i * c->dim;
        clip_logits(f, 1, c->embeddings, L, c->dim, logit_scale, label_logits);
        clip_logits(f, 1, background->embeddings, B, c->dim, logit_scale, bg_logits);
        for (int j = 0; j < L; j++) {
            double max = label_logits[j];
            for (int k = 0; k < B; k++) if (bg_logits[k] > max) max = bg_logits[k];
            double den = exp(label_logits[j] - max);
            double num = den;
            for (int k = 0; k < B; k++) den += exp(bg_logits[k] - max);
            probs[(size_t)i * L + j] = (float)(num / den);
        }
    }
    free(label_logits);
    free(bg_logits);
}

clip_status clip_classifier_create_background(clip_model *model, clip_classifier **out) {
    const char *const *prompts = clip_default_background_prompts();
    int n = 0;
    while (prompts[n]) n++;
    const char *plain[1] = {"{}"};
    return clip_classifier_create(model, prompts, n, plain, 1, out);
}
