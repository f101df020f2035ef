/* Model handle: loading, information, and the encode entry points. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "formats/tensor_file.h"
#include "model/model_internal.h"
#include "tokenizer/tokenizer.h"

/* A directory is searched for the weight file names the ecosystems use. */
static char *resolve_model_path(const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) return strdup(path);
    static const char *candidates[] = {"model.safetensors", "open_clip_model.safetensors", "clip.safetensors",
                                       "pytorch_model.bin", "open_clip_pytorch_model.bin"};
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        size_t len = strlen(path) + strlen(candidates[i]) + 2;
        char *full = malloc(len);
        if (!full) return NULL;
        snprintf(full, len, "%s/%s", path, candidates[i]);
        if (stat(full, &sb) == 0 && S_ISREG(sb.st_mode)) return full;
        free(full);
    }
    return strdup(path);
}

clip_status clip_model_from_safetensors(st_file *file, const char *path, const clip_load_options *opts,
                                       clip_model **out) {
    *out = NULL;
    clip_model *model = calloc(1, sizeof *model);
    if (!model) {
        st_close(file);
        return clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    model->file = file;
    pthread_mutex_init(&model->tokenizer_lock, NULL);
    pthread_mutex_init(&model->tokenizer_init_lock, NULL);
    pthread_mutex_init(&model->arena_lock, NULL);
    model->path = strdup(path);
    if (opts && opts->vocab_path) model->vocab_path = strdup(opts->vocab_path);
    clip_status st = model->path ? CLIP_OK : clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", path);
    if (st == CLIP_OK) {
        model->info.format = tensor_file_format(file);
        st = model_bind_weights(model);
    }
    if (st == CLIP_OK) {
        model->info.dtype_summary = model->dtype_summary;
        model->pool = clip_pool_create(opts ? opts->n_threads : 0);
        model->nn.pool = model->pool;
        if (!model->pool) st = clip_fail(CLIP_ERR_NO_MEMORY, "cannot start worker threads");
        clip_weight_dtype dtype = opts ? opts->weight_dtype : CLIP_WEIGHT_F32;
        if (st == CLIP_OK && (dtype < CLIP_WEIGHT_F32 || dtype > CLIP_WEIGHT_INT8))
            st = clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_model_load: unknown weight_dtype %d", (int)dtype);
        model->nn.weight_dtype = (nn_dtype)dtype;
        model->info.weight_dtype = dtype;
        /* Packed weights let their mapped pages go (nn.h): peak memory is
         * then about one copy of the weights, not two. */
        st_mapping(file, &model->nn.mapped, &model->nn.mapped_bytes);
        /* Packed weight panels, made on first use and kept for the model's life. */
        if (st == CLIP_OK) st = nn_ctx_init(&model->nn);
    }
    if (st == CLIP_OK && opts && opts->require_tokenizer && !clip_model_tokenizer(model)) st = CLIP_ERR_VOCAB;
    if (st != CLIP_OK) {
        clip_model_free(model);
        return st;
    }
    *out = model;
    return CLIP_OK;
}

clip_status clip_model_load(const char *path, const clip_load_options *opts, clip_model **out) {
    if (!path || !out) return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_model_load: path and out are required");
    *out = NULL;
    char *resolved = resolve_model_path(path);
    if (!resolved) return clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", path);
    st_file *file = NULL;
    clip_status st = tensor_file_open(resolved, &file);
    if (st == CLIP_OK) st = clip_model_from_safetensors(file, resolved, opts, out);
    free(resolved);
    return st;
}

static void free_transformer(transformer *t) { free(t->blocks); }

int clip_weight_dtype_from_name(const char *name, clip_weight_dtype *out) {
    static const struct {
        const char *name;
        clip_weight_dtype dtype;
    } names[] = {{"f32", CLIP_WEIGHT_F32},   {"float32", CLIP_WEIGHT_F32}, {"fp32", CLIP_WEIGHT_F32},
                 {"bf16", CLIP_WEIGHT_BF16}, {"bfloat16", CLIP_WEIGHT_BF16}, {"int8", CLIP_WEIGHT_INT8},
                 {"i8", CLIP_WEIGHT_INT8}};
    for (size_t i = 0; name && i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i].name) == 0) {
            *out = names[i].dtype;
            return 1;
        }
    return 0;
}

const char *clip_weight_dtype_name(clip_weight_dtype dtype) {
    return dtype == CLIP_WEIGHT_BF16 ? "bf16" : dtype == CLIP_WEIGHT_INT8 ? "int8" : "f32";
}

/* Batches up to about 8 RN50 images keep their buffers; larger ones would
 * hold hundreds of MiB after they are done. */
#define ARENA_KEEP_FLOATS ((size_t)32 * 1024 * 1024)

float *model_arena_take(clip_model *model, size_t floats, int *owned) {
    *owned = 1;
    if (floats <= ARENA_KEEP_FLOATS && pthread_mutex_trylock(&model->arena_lock) == 0) {
        if (model->arena_floats < floats) {
            free(model->arena);
            model->arena = nn_alloc_floats(floats);
            model->arena_floats = model->arena ? floats : 0;
        }
        if (model->arena) {
            *owned = 0;
            return model->arena;
        }
        pthread_mutex_unlock(&model->arena_lock);
    }
    return nn_alloc_floats(floats);
}

void model_arena_give(clip_model *model, float *arena, int owned) {
    if (owned)
        free(arena);
    else
        pthread_mutex_unlock(&model->arena_lock);
}

void clip_model_free(clip_model *model) {
    if (!model) return;
    free_transformer(&model->vit.blocks);
    free_transformer(&model->text.blocks);
    free(model->resnet.blocks);
    for (owned_buffer *b = model->owned; b;) {
        owned_buffer *next = b->next;
        free(b->data);
        free(b);
        b = next;
    }
    nn_ctx_release(&model->nn);
    clip_tokenizer_free(model->tokenizer);
    pthread_mutex_destroy(&model->tokenizer_lock);
    pthread_mutex_destroy(&model->tokenizer_init_lock);
    pthread_mutex_destroy(&model->arena_lock);
    free(model->arena);
    clip_pool_destroy(model->pool);
    st_close(model->file);
    free(model->vocab_path);
    free(model->path);
    free(model);
}

clip_status clip_model_get_info(const clip_model *model, clip_model_info *info) {
    if (!model || !info) return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_model_get_info: null argument");
    *info = model->info;
    return CLIP_OK;
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t len) {
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

void clip_model_fingerprint(const clip_model *model, char out[33]) {
    /* Two FNV-1a streams with different offsets give 128 bits; sampling each
     * tensor's head and tail keeps this fast on gigabyte checkpoints. */
    uint64_t a = 0xcbf29ce484222325ull, b = 0x84222325cbf29ce4ull;
    for (size_t i = 0; i < st_count(model->file); i++) {
        const st_tensor *t = st_at(model->file, i);
        a = fnv1a(a, t->name, strlen(t->name) + 1);
        b = fnv1a(b, t->name, strlen(t->name) + 1);
        a = fnv1a(a, t->shape, sizeof(int64_t) * (size_t)t->ndim);
        b = fnv1a(b, &t->dtype, sizeof t->dtype);
        size_t head = t->nbytes < 256 ? t->nbytes : 256;
        a = fnv1a(a, t->data, head);
        b = fnv1a(b, (const unsigned char *)t->data + t->nbytes - head, head);
    }
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)a, (unsigned long long)b);
}

void clip_model_set_threads(clip_model *model, int n_threads) {
    if (n_threads <= 0) n_threads = clip_cpu_count();
    if (clip_pool_size(model->pool) == n_threads) return;
    clip_pool *pool = clip_pool_create(n_threads);
    if (!pool) return; /* keep the old pool: fewer threads beats failing */
    clip_pool_destroy(model->pool);
    model->pool = pool;
    model->nn.pool = pool;
}

static clip_tokenizer *find_beside_model(const clip_model *model) {
    const char *slash = strrchr(model->path, '/');
    int dir_len = slash ? (int)(slash - model->path) : 1;
    const char *dir = slash ? model->path : ".";
    char path[4096], merges[4096];
    clip_tokenizer *tok = NULL;
    snprintf(path, sizeof path, "%.*s/bpe_simple_vocab_16e6.txt.gz", dir_len, dir);
    if (access(path, R_OK) == 0 && clip_tokenizer_load(path, &tok) == CLIP_OK) return tok;
    snprintf(path, sizeof path, "%.*s/vocab.json", dir_len, dir);
    snprintf(merges, sizeof merges, "%.*s/merges.txt", dir_len, dir);
    if (access(path, R_OK) == 0 && access(merges, R_OK) == 0 && clip_tokenizer_load_hf(path, merges, &tok) == CLIP_OK)
        return tok;
    return NULL;
}

static clip_tokenizer *search_tokenizer(clip_model *model) {
    clip_tokenizer *tok = NULL;
    if (model->vocab_path) return clip_tokenizer_load(model->vocab_path, &tok) == CLIP_OK ? tok : NULL;
    const st_tensor *embedded = st_find(model->file, CLIP_EMBEDDED_VOCAB_TENSOR);
    if (embedded && embedded->dtype == ST_U8 &&
        clip_tokenizer_from_buffer(embedded->data, embedded->nbytes, model->path, &tok) == CLIP_OK)
        return tok;
    if (!getenv("CLIP_VOCAB") && (tok = find_beside_model(model))) return tok;
    if (clip_tokenizer_find_default(NULL, &tok) != CLIP_OK) {
        clip_fail_context(CLIP_ERR_VOCAB, "%s: the model has no embedded vocabulary ('%s') and none lies beside it; ",
                          model->path, CLIP_EMBEDDED_VOCAB_TENSOR);
        return NULL;
    }
    return tok;
}

clip_tokenizer *clip_model_tokenizer(clip_model *model) {
    pthread_mutex_lock(&model->tokenizer_init_lock);
    if (!model->tokenizer) model->tokenizer = search_tokenizer(model);
    clip_tokenizer *tok = model->tokenizer;
    pthread_mutex_unlock(&model->tokenizer_init_lock);
    return tok;
}

void model_tokenizer_lock(clip_model *model, int lock) {
    if (lock) pthread_mutex_lock(&model->tokenizer_lock);
    else pthread_mutex_unlock(&model->tokenizer_lock);
}

/* An op that could not allocate its scratch left its outputs unwritten. */
static clip_status ops_status(const char *tower, int n) {
    size_t bytes = nn_take_failure();
    if (!bytes) return CLIP_OK;
    return clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory (%zu MiB of scratch) for a batch of %d", tower,
                     (bytes + (1u << 20) - 1) >> 20, n);
}

clip_status clip_encode_image_traced(clip_model *model, const float *pixels, int n, float *features,
                                     const clip_trace *trace) {
    if (!model || (!pixels && n > 0) || (!features && n > 0) || n < 0)
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_encode_image: bad arguments");
    if (n == 0) return CLIP_OK;
    nn_take_failure();
    clip_status st = model->info.vision_kind == CLIP_VISION_VIT ? vit_forward(model, pixels, n, features, trace)
                                                                : resnet_forward(model, pixels, n, features, trace);
    return st == CLIP_OK ? ops_status("image tower", n) : st;
}

clip_status clip_encode_text_traced(clip_model *model, const int32_t *tokens, int n, float *features,
                                    const clip_trace *trace, int full_context) {
    if (!model || (!tokens && n > 0) || (!features && n > 0) || n < 0)
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_encode_text: bad arguments");
    if (n == 0) return CLIP_OK;
    nn_take_failure();
    clip_status st = text_forward(model, tokens, n, features, trace, full_context);
    return st == CLIP_OK ? ops_status("text tower", n) : st;
}

clip_status clip_encode_image(clip_model *model, const float *pixels, int n, float *features) {
    return clip_encode_image_traced(model, pixels, n, features, NULL);
}

clip_status clip_encode_text(clip_model *model, const int32_t *tokens, int n, float *features) {
    return clip_encode_text_traced(model, tokens, n, features, NULL, 0);
}
