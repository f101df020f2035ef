/* Applications against OpenAI's reference: with the template "{}" a
 * classifier's label embeddings are the reference's normalised text
 * features of those texts, and classification probabilities are the softmax
 * of the reference logits over those columns. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* Reference logits are good to ~1e-6 relative (fixture levels); the
 * tolerance allows 4x the largest such level of the compared tensors. */
#define FEATURE_TOLERANCE 4e-6
#define PROB_TOLERANCE 2e-5

static int text_index(cJSON *texts, const char *text) {
    for (int i = 0; i < cJSON_GetArraySize(texts); i++)
        if (strcmp(cJSON_GetArrayItem(texts, i)->valuestring, text) == 0) return i;
    fprintf(stderr, "FATAL: '%s' not among the expected texts\n", text);
    exit(1);
}

int main(void) {
    setenv("CLIP_VOCAB", fixture_path("vocab/bpe_simple_vocab_16e6.txt.gz"), 1);
    setenv("CLIP_CACHE", scratch_dir(), 1);
    st_file *expected = open_fixture("expected/tiny-vit.safetensors");
    cJSON *texts = cJSON_Parse(st_metadata(expected, "texts"));
    const float *ref_text = st_find(expected, "text_features_normalized")->data;
    const float *ref_image = st_find(expected, "image_features_normalized")->data;
    const float *ref_logits = st_find(expected, "logits_per_image")->data;
    int n_texts = cJSON_GetArraySize(texts), E = 64;

    clip_model *model = NULL;
    clip_load_options opts = {.n_threads = 2};
    if (clip_model_load(fixture_path("models/tiny-vit.safetensors"), &opts, &model) != CLIP_OK) {
        fprintf(stderr, "FATAL: %s\n", clip_last_error());
        return 1;
    }
    clip_model_info info;
    clip_model_get_info(model, &info);
    const char *labels[3] = {"a photo of a cat", "a photo of a dog", "a diagram"};
    int columns[3];
    for (int i = 0; i < 3; i++) columns[i] = text_index(texts, labels[i]);
    const char *plain[1] = {"{}"};

    for (int cached = 0; cached < 3; cached++) { /* plain, cache miss (stores), cache hit (loads) */
        clip_classifier *c = NULL;
        clip_status st = cached ? clip_classifier_create_cached(model, labels, 3, plain, 1, NULL, &c)
                                : clip_classifier_create(model, labels, 3, plain, 1, &c);
        CHECK(st == CLIP_OK, "classifier (cached=%d): %s", cached, clip_last_error());
        if (!c) continue;
        for (int l = 0; l < 3; l++) {
            double d = max_abs_diff(clip_classifier_embeddings(c) + l * E, ref_text + columns[l] * E, (size_t)E);
            CHECK(d <= FEATURE_TOLERANCE, "label '%s' embedding differs from the reference by %.3g", labels[l], d);
        }
        /* Probabilities for every image = softmax of the reference logits' columns. */
        int n_images = (int)st_find(expected, "image_features_normalized")->shape[0];
        float probs[3];
        double worst = 0;
        for (int i = 0; i < n_images; i++) {
            clip_classify_features(c, ref_image + (size_t)i * E, 1, info.logit_scale, probs);
            double max = -1e30, sum = 0, want[3];
            for (int l = 0; l < 3; l++) max = fmax(max, ref_logits[i * n_texts + columns[l]]);
            for (int l = 0; l < 3; l++) sum += want[l] = exp(ref_logits[i * n_texts + columns[l]] - max);
            for (int l = 0; l < 3; l++) worst = fmax(worst, fabs(probs[l] - want[l] / sum));
        }
        CHECK(worst <= PROB_TOLERANCE, "classification probabilities differ from the reference softmax by %.3g", worst);
        printf("  classifier (cached=%d): probabilities within %.2e of the reference softmax\n", cached, worst);
        clip_classifier_free(c);
    }

    /* A template ensemble is the normalised mean of the normalised prompts. */
    const char *tpl[2] = {"a photo of a {}", "{}"};
    const char *one[1] = {"cat"};
    clip_classifier *ens = NULL;
    CHECK(clip_classifier_create(model, one, 1, tpl, 2, &ens) == CLIP_OK, "ensemble: %s", clip_last_error());
    const char *prompts[2] = {"a photo of a cat", "cat"};
    float f[128], mean[64];
    clip_embed_texts(model, prompts, 2, 1, f);
    for (int k = 0; k < E; k++) mean[k] = (f[k] + f[E + k]) / 2;
    clip_l2_normalize(mean, 1, E);
    CHECK(ens && max_abs_diff(clip_classifier_embeddings(ens), mean, (size_t)E) <= 1e-6, "ensemble mean");
    clip_classifier_free(ens);

    /* Multi-label against backgrounds: each label's probability is a
     * two-way-or-more softmax computed here by hand. */
    const char *bg[2] = {"a photo.", "an image."};
    clip_classifier *labels_c = NULL, *bg_c = NULL;
    clip_classifier_create(model, labels, 3, plain, 1, &labels_c);
    clip_classifier_create(model, bg, 2, plain, 1, &bg_c);
    if (labels_c && bg_c) {
        float multi[3];
        clip_classify_multilabel(labels_c, bg_c, ref_image, 1, info.logit_scale, multi);
        for (int l = 0; l < 3; l++) {
            double s = 0, sb[2];
            for (int k = 0; k < E; k++) s += ref_image[k] * clip_classifier_embeddings(labels_c)[l * E + k];
            for (int b = 0; b < 2; b++) {
                sb[b] = 0;
                for (int k = 0; k < E; k++) sb[b] += ref_image[k] * clip_classifier_embeddings(bg_c)[b * E + k];
            }
            double el = exp(info.logit_scale * s);
            double want = el / (el + exp(info.logit_scale * sb[0]) + exp(info.logit_scale * sb[1]));
            CHECK(fabs(multi[l] - want) <= 1e-5, "multi-label prob %d: %.6f vs %.6f", l, multi[l], want);
        }
    }
    clip_classifier_free(labels_c);
    clip_classifier_free(bg_c);

    /* Text similarity: the reference's normalised text features' Gram matrix. */
    float cosine[9];
    CHECK(clip_text_similarity(model, labels, 3, cosine) == CLIP_OK, "text similarity: %s", clip_last_error());
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++) {
            double want = 0;
            for (int k = 0; k < E; k++) want += ref_text[columns[a] * E + k] * ref_text[columns[b] * E + k];
            CHECK(fabs(cosine[a * 3 + b] - want) <= FEATURE_TOLERANCE, "cosine[%d][%d] %.7f vs %.7f", a, b,
                  cosine[a * 3 + b], want);
        }

    /* Ask: statements "{answer}" alone reduce to classifying by the answers. */
    float ask_probs[3];
    CHECK(clip_ask(model, ref_image, "ignored", labels, 3, "{answer}", ask_probs) == CLIP_OK, "ask: %s",
          clip_last_error());
    double max = -1e30, sum = 0, want[3];
    for (int l = 0; l < 3; l++) max = fmax(max, ref_logits[columns[l]]);
    for (int l = 0; l < 3; l++) sum += want[l] = exp(ref_logits[columns[l]] - max);
    for (int l = 0; l < 3; l++)
        CHECK(fabs(ask_probs[l] - want[l] / sum) <= PROB_TOLERANCE, "ask prob %d: %.6f vs %.6f", l, ask_probs[l],
              want[l] / sum);
    CHECK(clip_ask(model, ref_image, "q", labels, 3, "no placeholder", ask_probs) == CLIP_ERR_INVALID_ARGUMENT,
          "ask rejects a template without {answer}");

    clip_model_free(model);
    cJSON_Delete(texts);
    st_close(expected);
    return test_finish("test_apps");
}
