#include "embed_inputs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "formats/npy.h"

void embed_request_add(embed_request *r, embed_kind kind, const char *value) {
    if (r->count == r->capacity) {
        int capacity = r->capacity ? r->capacity * 2 : 16;
        embed_kind *kinds = realloc(r->kinds, (size_t)capacity * sizeof *kinds);
        if (kinds) r->kinds = kinds;
        const char **values = realloc(r->values, (size_t)capacity * sizeof *values);
        if (values) r->values = values;
        if (!kinds || !values) return;
        r->capacity = capacity;
    }
    r->kinds[r->count] = kind;
    r->values[r->count++] = value;
}

void embed_request_free(embed_request *r) {
    free(r->kinds);
    free(r->values);
    memset(r, 0, sizeof *r);
}

void embed_result_free(embed_result *r) {
    for (int i = 0; i < r->count; i++) free(r->labels[i]);
    free(r->labels);
    free(r->features);
    free(r->is_image);
    free(r->ok);
    memset(r, 0, sizeof *r);
}

/* One tower's pending rows, flushed through the model when full. */
typedef struct pending {
    int is_image, row_floats_or_ids, capacity, count;
    void *inputs; /* float pixels or int32 ids, capacity rows */
    int *result_rows;
} pending;

typedef struct runner {
    clip_model *model;
    embed_result *result;
    int result_capacity, normalize, failures;
    const char *command;
    pending images, texts;
} runner;

static int add_row(runner *r, const char *label, int is_image) {
    embed_result *res = r->result;
    if (res->count == r->result_capacity) {
        int capacity = r->result_capacity ? r->result_capacity * 2 : 64;
        float *features = realloc(res->features, (size_t)capacity * res->dim * sizeof(float));
        if (features) res->features = features;
        char **labels = realloc(res->labels, (size_t)capacity * sizeof(char *));
        if (labels) res->labels = labels;
        int *is_image_rows = realloc(res->is_image, (size_t)capacity * sizeof(int));
        if (is_image_rows) res->is_image = is_image_rows;
        int *ok = realloc(res->ok, (size_t)capacity * sizeof(int));
        if (ok) res->ok = ok;
        if (!features || !labels || !is_image_rows || !ok) return -1;
        r->result_capacity = capacity;
    }
    int row = res->count++;
    res->labels[row] = strdup(label);
    res->is_image[row] = is_image;
    res->ok[row] = 0;
    return row;
}

static void flush(runner *r, pending *p) {
    if (p->count == 0) return;
    float *out = malloc((size_t)p->count * r->result->dim * sizeof(float));
    clip_status st = out ? CLIP_OK : CLIP_ERR_NO_MEMORY;
    if (st == CLIP_OK)
        st = p->is_image ? clip_encode_image(r->model, p->inputs, p->count, out)
                         : clip_encode_text(r->model, p->inputs, p->count, out);
    if (st == CLIP_OK && r->normalize) clip_l2_normalize(out, p->count, r->result->dim);
    for (int i = 0; i < p->count; i++) {
        int row = p->result_rows[i];
        if (st == CLIP_OK) {
            memcpy(r->result->features + (size_t)row * r->result->dim, out + (size_t)i * r->result->dim,
                   (size_t)r->result->dim * sizeof(float));
            r->result->ok[row] = 1;
        } else {
            cli_error(r->command, r->result->labels[row]);
            r->failures++;
        }
    }
    free(out);
    p->count = 0;
}

/* The next free input slot; filled by the caller, then commit_slot() makes
 * it a row. Flushes first when the batch is full. */
static void *peek_slot(runner *r, pending *p) {
    if (p->count == p->capacity) flush(r, p);
    size_t item = p->is_image ? sizeof(float) : sizeof(int32_t);
    return (char *)p->inputs + (size_t)p->count * p->row_floats_or_ids * item;
}

static void commit_slot(runner *r, pending *p, const char *label) {
    int row = add_row(r, label, p->is_image);
    if (row < 0) {
        fprintf(stderr, "clip %s: out of memory\n", r->command);
        r->failures++;
        return;
    }
    p->result_rows[p->count++] = row;
}

static void fail_input(runner *r, const char *label, const char *reason) {
    fprintf(stderr, "clip %s: %s: %s\n", r->command, label, reason ? reason : clip_last_error());
    r->failures++;
}

static void add_image_file(runner *r, const char *path) {
    clip_image *img = NULL;
    if (clip_image_load_file(path, NULL, &img) != CLIP_OK) {
        fail_input(r, path, NULL);
        return;
    }
    clip_model_info info;
    clip_model_get_info(r->model, &info);
    clip_preprocess_options opts = {.size = info.image_resolution};
    if (clip_image_preprocess(img, &opts, peek_slot(r, &r->images)) == CLIP_OK)
        commit_slot(r, &r->images, path);
    else
        fail_input(r, path, NULL);
    clip_image_free(img);
}

static void add_text(runner *r, const char *text) {
    clip_tokenizer *tok = clip_model_tokenizer(r->model);
    if (!tok) {
        fail_input(r, text, NULL);
        return;
    }
    clip_model_info info;
    clip_model_get_info(r->model, &info);
    if (clip_tokenize(tok, text, strlen(text), info.context_length, 1, peek_slot(r, &r->texts)) == CLIP_OK)
        commit_slot(r, &r->texts, text);
    else
        fail_input(r, text, NULL);
}

static void add_npy_rows(runner *r, const char *path, int pixels) {
    npy_array a;
    if (npy_read(path, &a) != CLIP_OK) {
        fail_input(r, path, NULL);
        return;
    }
    clip_model_info info;
    clip_model_get_info(r->model, &info);
    int R = info.image_resolution, C = info.context_length;
    int row_dims = pixels ? 3 : 1;
    int64_t rows = a.ndim == row_dims ? 1 : (a.ndim == row_dims + 1 ? a.shape[0] : -1);
    int64_t first = a.ndim - row_dims;
    char reason[256] = "";
    if (rows < 0)
        snprintf(reason, sizeof reason, "expected %s", pixels ? "[3,R,R] or [N,3,R,R]" : "[C] or [N,C]");
    else if (pixels && (strcmp(a.descr, "<f4") != 0 || a.shape[first] != 3 || a.shape[first + 1] != R ||
                        a.shape[first + 2] != R))
        snprintf(reason, sizeof reason, "expected float32 (<f4) images of shape [3,%d,%d] for this model", R, R);
    else if (!pixels && ((strcmp(a.descr, "<i4") != 0 && strcmp(a.descr, "<i8") != 0) || a.shape[first] != C))
        snprintf(reason, sizeof reason, "expected int32/int64 token ids with %d per row for this model", C);
    if (reason[0]) {
        fail_input(r, path, reason);
        npy_free(&a);
        return;
    }
    for (int64_t i = 0; i < rows; i++) {
        char label[4200];
        snprintf(label, sizeof label, "%s[%lld]", path, (long long)i);
        if (pixels) {
            memcpy(peek_slot(r, &r->images), (float *)a.data + (size_t)i * 3 * R * R, (size_t)3 * R * R * sizeof(float));
            commit_slot(r, &r->images, label);
        } else {
            int32_t *dst = peek_slot(r, &r->texts);
            for (int j = 0; j < C; j++) {
                int64_t id = strcmp(a.descr, "<i8") == 0 ? ((int64_t *)a.data)[(size_t)i * C + j]
                                                         : ((int32_t *)a.data)[(size_t)i * C + j];
                /* Out-of-range ids are caught by the text tower with a message. */
                dst[j] = (id < INT32_MIN || id > INT32_MAX) ? -1 : (int32_t)id;
            }
            commit_slot(r, &r->texts, label);
        }
    }
    npy_free(&a);
}

int embed_run(clip_model *model, const embed_request *request, int batch, int normalize, const char *command,
              embed_result *result) {
    clip_model_info info;
    clip_model_get_info(model, &info);
    memset(result, 0, sizeof *result);
    result->dim = info.embed_dim;
    runner r = {.model = model, .result = result, .normalize = normalize, .command = command};
    int R = info.image_resolution;
    r.images = (pending){1, 3 * R * R, batch, 0, malloc((size_t)batch * 3 * R * R * sizeof(float)),
                         malloc((size_t)batch * sizeof(int))};
    r.texts = (pending){0, info.context_length, batch, 0, malloc((size_t)batch * info.context_length * sizeof(int32_t)),
                        malloc((size_t)batch * sizeof(int))};
    if (!r.images.inputs || !r.images.result_rows || !r.texts.inputs || !r.texts.result_rows) {
        fprintf(stderr, "clip %s: out of memory\n", command);
        r.failures = request->count;
    } else {
        for (int i = 0; i < request->count; i++) {
            switch (request->kinds[i]) {
            case EMBED_IMAGE: add_image_file(&r, request->values[i]); break;
            case EMBED_TEXT: add_text(&r, request->values[i]); break;
            case EMBED_PIXELS: add_npy_rows(&r, request->values[i], 1); break;
            case EMBED_TOKENS: add_npy_rows(&r, request->values[i], 0); break;
            }
            cli_progress("inputs", i + 1, request->count);
        }
        flush(&r, &r.images);
        flush(&r, &r.texts);
    }
    free(r.images.inputs);
    free(r.images.result_rows);
    free(r.texts.inputs);
    free(r.texts.result_rows);
    return r.failures;
}
