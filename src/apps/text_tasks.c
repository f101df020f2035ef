/* Tasks on the text tower alone, and answer scoring for visual questions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

clip_status clip_text_similarity(clip_model *model, const char *const *texts, int n, float *cosine) {
    if (!model || !texts || n <= 0 || !cosine)
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "text similarity: needs at least one text");
    clip_model_info info;
    clip_model_get_info(model, &info);
    float *features = malloc((size_t)n * info.embed_dim * sizeof(float));
    if (!features) return clip_fail(CLIP_ERR_NO_MEMORY, "text similarity: out of memory");
    clip_status st = clip_embed_texts(model, texts, n, 1, features);
    if (st == CLIP_OK) clip_logits(features, n, features, n, info.embed_dim, 1.0f, cosine);
    free(features);
    return st;
}

static const char default_statement[] = "{question} {answer}";

/* The template with {question} and {answer} substituted. */
static char *make_statement(const char *template, const char *question, const char *answer) {
    size_t cap = strlen(template) + 1;
    for (const char *p = template; (p = strchr(p, '{')); p++) cap += strlen(question) + strlen(answer);
    char *out = malloc(cap), *w = out;
    if (!out) return NULL;
    for (const char *p = template; *p;) {
        if (strncmp(p, "{question}", 10) == 0) {
            w = stpcpy(w, question);
            p += 10;
        } else if (strncmp(p, "{answer}", 8) == 0) {
            w = stpcpy(w, answer);
            p += 8;
        } else {
            *w++ = *p++;
        }
    }
    *w = '\0';
    return out;
}

clip_status clip_ask(clip_model *model, const float *image_feature, const char *question, const char *const *answers,
                     int n_answers, const char *statement_template, float *probs) {
    if (!model || !image_feature || !question || !answers || n_answers <= 0 || !probs)
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "ask: needs an image feature, a question and answers");
    const char *template = statement_template ? statement_template : default_statement;
    if (!strstr(template, "{answer}"))
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "ask: the statement template '%s' has no {answer}", template);
    clip_model_info info;
    clip_model_get_info(model, &info);
    char **statements = calloc((size_t)n_answers, sizeof(char *));
    float *features = malloc((size_t)n_answers * info.embed_dim * sizeof(float));
    clip_status st = (statements && features) ? CLIP_OK : clip_fail(CLIP_ERR_NO_MEMORY, "ask: out of memory");
    for (int i = 0; i < n_answers && st == CLIP_OK; i++)
        if (!(statements[i] = make_statement(template, question, answers[i])))
            st = clip_fail(CLIP_ERR_NO_MEMORY, "ask: out of memory");
    if (st == CLIP_OK) st = clip_embed_texts(model, (const char *const *)statements, n_answers, 1, features);
    if (st == CLIP_OK) {
        clip_logits(image_feature, 1, features, n_answers, info.embed_dim, info.logit_scale, probs);
        clip_softmax_rows(probs, 1, n_answers);
    }
    for (int i = 0; statements && i < n_answers; i++) free(statements[i]);
    free(statements);
    free(features);
    return st;
}
