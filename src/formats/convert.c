/* Every tensor goes through float32 once: the source (any dtype, any of
 * the three namings) is brought to its OpenAI form, then written in the
 * target naming and element type. The per-role name tables in layout.c
 * list the roles in the same order for every naming, so entry i of the
 * source table and entry i of the target table are the same tensor. */
#include "formats/convert.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "core/error.h"
#include "formats/dequant.h"
#include "formats/gguf.h"
#include "formats/gguf_clip.h"
#include "formats/layout.h"
#include "formats/quantize.h"
#include "formats/st_quant.h"
#include "formats/vocab_export.h"
#include "model/model_internal.h"
#include "tokenizer/tokenizer.h"

int convert_dtype_from_name(const char *name, st_dtype *out) {
    static const struct {
        const char *name;
        st_dtype dtype;
    } names[] = {{"f32", ST_F32}, {"f16", ST_F16}, {"bf16", ST_BF16}, {"q8_0", ST_Q8_0}, {"q4_0", ST_Q4_0}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(name, names[i].name) == 0) {
            *out = names[i].dtype;
            return 1;
        }
    return 0;
}

/* ---- reading the source in OpenAI form ---- */

typedef struct source {
    const st_file *file;
    char prefix[32];
    layout_scheme scheme;
} source;

static int find_prefix(source *s) {
    static const char *prefixes[] = {"", "module.", "model.", "module.model.", "model.module."};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        char name[128];
        snprintf(name, sizeof name, "%stoken_embedding.weight", prefixes[i]);
        int openai = st_find(s->file, name) != NULL;
        snprintf(name, sizeof name, "%stext_model.embeddings.token_embedding.weight", prefixes[i]);
        if (openai || st_find(s->file, name)) {
            snprintf(s->prefix, sizeof s->prefix, "%s", prefixes[i]);
            s->scheme = openai ? LAYOUT_OPENAI : LAYOUT_HF;
            return 1;
        }
    }
    return 0;
}

static const st_tensor *source_tensor(const source *s, const char *name) {
    char full[256];
    snprintf(full, sizeof full, "%s%s", s->prefix, name);
    const st_tensor *t = st_find(s->file, full);
    if (!t) clip_fail(CLIP_ERR_MISSING_TENSOR, "%s: missing tensor '%s'", st_path(s->file), full);
    return t;
}

static float *to_f32(const st_tensor *t) {
    float *v = malloc((size_t)t->numel * sizeof(float) + 1);
    if (!v) {
        clip_fail(CLIP_ERR_NO_MEMORY, "out of memory converting '%s'", t->name);
        return NULL;
    }
    if (tensor_to_f32(t, v) != CLIP_OK) {
        free(v);
        return NULL;
    }
    return v;
}

static void transpose(const float *in, size_t rows, size_t cols, float *out) {
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) out[c * rows + r] = in[r * cols + c];
}

typedef struct values {
    float *v;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    size_t numel;
} values;

static clip_status fetch(const source *s, const layout_name *n, values *out) {
    memset(out, 0, sizeof *out);
    const st_tensor *t = source_tensor(s, n->other[0]);
    if (!t) return CLIP_ERR_MISSING_TENSOR;
    out->ndim = t->ndim;
    memcpy(out->shape, t->shape, sizeof out->shape);
    out->numel = (size_t)t->numel;
    if (n->op == LAYOUT_SAME) return (out->v = to_f32(t)) ? CLIP_OK : CLIP_ERR_NO_MEMORY;
    if (n->op == LAYOUT_TRANSPOSE) {
        if (t->ndim != 2) return clip_fail(CLIP_ERR_SHAPE, "%s: '%s' is not a matrix", st_path(s->file), t->name);
        float *raw = to_f32(t);
        out->v = raw ? malloc(out->numel * sizeof(float) + 1) : NULL;
        if (out->v) transpose(raw, (size_t)t->shape[0], (size_t)t->shape[1], out->v);
        free(raw);
        out->shape[0] = t->shape[1];
        out->shape[1] = t->shape[0];
        return out->v ? CLIP_OK : clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    }
    /* q, k, v stacked into OpenAI's in_proj */
    if (t->ndim < 1) return clip_fail(CLIP_ERR_SHAPE, "%s: '%s' is a scalar", st_path(s->file), t->name);
    out->v = malloc(3 * out->numel * sizeof(float) + 1);
    if (!out->v) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    for (int i = 0; i < 3; i++) {
        const st_tensor *part = i ? source_tensor(s, n->other[i]) : t;
        if (!part) return CLIP_ERR_MISSING_TENSOR;
        if ((size_t)part->numel != out->numel)
            return clip_fail(CLIP_ERR_SHAPE, "%s: '%s' and '%s' differ in shape", st_path(s->file), t->name, part->name);
        clip_status st = tensor_to_f32(part, out->v + i * out->numel);
        if (st != CLIP_OK) return st;
    }
    out->shape[0] *= 3;
    out->numel *= 3;
    return CLIP_OK;
}

/* ---- the writers ---- */

typedef struct sink {
    const convert_options *opts;
    st_writer *st;
    gguf_writer *gguf;
    cJSON *quantised; /* ST_QUANT_METADATA */
    convert_stats *stats;
} sink;

static int is_positional(const char *name) { return strstr(name, "position") != NULL; }

/* What q4_0 keeps at q8_0 unless asked for pure q4_0: the token
 * embedding and the two output projections (as llama.cpp's mixed types
 * keep token embeddings and the output layer at higher precision), and
 * the text tower's blocks. Measured on a random ViT-B/32 (docs/formats.md):
 * pure q4_0 leaves text embeddings at cosine 0.97 of the float32 ones,
 * every text group contributing alike, while the image tower stays above
 * 0.997; q8_0 text blocks bring text above 0.999 for 20% more bytes. */
static int is_sensitive(const char *name) {
    return strstr(name, "token_embd") || strstr(name, "token_embedding") || strstr(name, "projection") ||
           strcmp(name, "visual.proj") == 0 || strncmp(name, "transformer.", 12) == 0 ||
           strncmp(name, "t.blk.", 6) == 0;
}

static st_dtype pick_dtype(const sink *k, const char *name, int ndim, const int64_t *shape) {
    st_dtype target = k->opts->dtype;
    int gguf = k->opts->container == CONVERT_GGUF;
    if (ndim < 2) return ST_F32;
    if (ndim == 4 && (gguf || target == ST_Q8_0 || target == ST_Q4_0)) return ST_F16; /* ggml's conv needs F16 kernels */
    if (target != ST_Q8_0 && target != ST_Q4_0) return target;
    if (ndim != 2 || shape[1] % ST_QBLOCK || is_positional(name)) return ST_F16;
    if (target == ST_Q4_0 && !k->opts->pure && is_sensitive(name)) return ST_Q8_0;
    return target;
}

static clip_status emit(sink *k, const char *name, int ndim, const int64_t *shape, const float *v, size_t numel) {
    st_dtype dtype = pick_dtype(k, name, ndim, shape);
    size_t nbytes = st_dtype_bytes(dtype, (int64_t)numel);
    uint8_t *bytes = malloc(nbytes + 1);
    if (!bytes) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory writing '%s'", name);
    quantize_to(dtype, v, numel, bytes);
    k->stats->tensors++;
    k->stats->parameters += numel;
    if (dtype == ST_Q8_0 || dtype == ST_Q4_0) k->stats->quantised++;
    else if (dtype == ST_F32) k->stats->full++;
    else k->stats->half++;
    if (k->gguf) return gguf_write_tensor(k->gguf, name, dtype, ndim, shape, bytes, nbytes, 1);
    clip_status st;
    if (dtype == ST_Q8_0 || dtype == ST_Q4_0) {
        int64_t raw_shape[1] = {(int64_t)nbytes};
        st = st_writer_add(k->st, name, ST_U8, 1, raw_shape, bytes);
        cJSON *entry = cJSON_CreateObject(), *dims = cJSON_CreateArray();
        cJSON_AddStringToObject(entry, "dtype", st_dtype_name(dtype));
        for (int i = 0; i < ndim; i++) cJSON_AddItemToArray(dims, cJSON_CreateNumber((double)shape[i]));
        cJSON_AddItemToObject(entry, "shape", dims);
        cJSON_AddItemToObject(k->quantised, name, entry);
    } else {
        st = st_writer_add(k->st, name, dtype, ndim, shape, bytes);
    }
    free(bytes);
    return st;
}

/* OpenAI form to the target naming of `n` (GGUF: split, transposed back). */
static clip_status emit_role(sink *k, const layout_name *n, const values *x) {
    if (n->op == LAYOUT_SAME) return emit(k, n->other[0], x->ndim, x->shape, x->v, x->numel);
    if (n->op == LAYOUT_TRANSPOSE) {
        float *t = malloc(x->numel * sizeof(float) + 1);
        if (!t) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
        transpose(x->v, (size_t)x->shape[0], (size_t)x->shape[1], t);
        int64_t shape[2] = {x->shape[1], x->shape[0]};
        clip_status st = emit(k, n->other[0], 2, shape, t, x->numel);
        free(t);
        return st;
    }
    int64_t shape[ST_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[0] /= 3;
    size_t each = x->numel / 3;
    for (int i = 0; i < 3; i++) {
        clip_status st = emit(k, n->other[i], x->ndim, shape, x->v + i * each, each);
        if (st != CLIP_OK) return st;
    }
    return CLIP_OK;
}

/* ---- vocabulary ---- */

static clip_status gzip_buffer(const void *data, size_t len, uint8_t **out, size_t *out_len) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return clip_fail(CLIP_ERR_NO_MEMORY, "zlib init failed");
    size_t cap = deflateBound(&zs, (uLong)len) + 32;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        deflateEnd(&zs);
        return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    }
    zs.next_in = (Bytef *)data;
    zs.avail_in = (uInt)len;
    zs.next_out = buf;
    zs.avail_out = (uInt)cap;
    int rc = deflate(&zs, Z_FINISH);
    *out_len = zs.total_out;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        free(buf);
        return clip_fail(CLIP_ERR_NO_MEMORY, "gzip of the vocabulary failed");
    }
    *out = buf;
    return CLIP_OK;
}

static clip_status embed_vocab_safetensors(sink *k, clip_model *model) {
    const st_tensor *embedded = st_find(model->file, CLIP_EMBEDDED_VOCAB_TENSOR);
    if (embedded && embedded->dtype == ST_U8) {
        k->stats->vocabulary = 1;
        return st_writer_add(k->st, CLIP_EMBEDDED_VOCAB_TENSOR, ST_U8, 1, embedded->shape, embedded->data);
    }
    clip_tokenizer *tok = clip_model_tokenizer(model);
    if (!tok) return CLIP_OK;
    vocab_strings v;
    clip_status st = vocab_export(tok, &v);
    char *text = NULL;
    size_t len = 0, gz_len = 0;
    uint8_t *gz = NULL;
    if (st == CLIP_OK) st = vocab_merges_text(v.merges, v.merge_lens, v.n_merges, &text, &len);
    if (st == CLIP_OK) st = gzip_buffer(text, len, &gz, &gz_len);
    if (st == CLIP_OK) {
        int64_t shape[1] = {(int64_t)gz_len};
        st = st_writer_add(k->st, CLIP_EMBEDDED_VOCAB_TENSOR, ST_U8, 1, shape, gz);
        k->stats->vocabulary = st == CLIP_OK;
    }
    free(gz);
    free(text);
    vocab_strings_free(&v);
    return st;
}

static clip_status embed_vocab_gguf(sink *k, clip_model *model) {
    clip_tokenizer *tok = clip_model_tokenizer(model);
    if (!tok) return CLIP_OK;
    vocab_strings v;
    clip_status st = vocab_export(tok, &v);
    if (st != CLIP_OK) return st;
    st = gguf_write_str_array(k->gguf, "tokenizer.ggml.tokens", (const char *const *)v.tokens, v.token_lens,
                              v.n_tokens);
    if (st == CLIP_OK && !k->opts->clip_cpp_keys_only)
        st = gguf_write_str_array(k->gguf, GGUF_KEY_MERGES, (const char *const *)v.merges, v.merge_lens, v.n_merges);
    k->stats->vocabulary = st == CLIP_OK;
    vocab_strings_free(&v);
    return st;
}

/* ---- metadata ---- */

static clip_status safetensors_metadata(sink *k, const clip_model_info *i, const char *source_format) {
    char value[96];
    clip_status st = CLIP_OK;
    int vit = i->vision_kind == CLIP_VISION_VIT;
#define META(key, ...)                                                                                             \
    if (st == CLIP_OK) st = (snprintf(value, sizeof value, __VA_ARGS__), st_writer_metadata(k->st, key, value))
    META("embed_dim", "%d", i->embed_dim);
    META("image_resolution", "%d", i->image_resolution);
    if (vit) {
        META("vision_layers", "%d", i->vision_layers);
    } else {
        META("vision_layers", "[%d, %d, %d, %d]", i->vision_stage_blocks[0], i->vision_stage_blocks[1],
             i->vision_stage_blocks[2], i->vision_stage_blocks[3]);
    }
    META("vision_width", "%d", i->vision_width);
    if (vit) {
        META("vision_patch_size", "%d", i->vision_patch_size);
    } else {
        META("vision_patch_size", "null");
    }
    META("context_length", "%d", i->context_length);
    META("vocab_size", "%d", i->vocab_size);
    META("transformer_width", "%d", i->text_width);
    META("transformer_heads", "%d", i->text_heads);
    META("transformer_layers", "%d", i->text_layers);
    META("vision_heads", "%d", i->vision_heads);
    META("arch", "%s", vit ? "VisionTransformer" : "ModifiedResNet");
    META("format", "clip.c");
    META("clip.converted_from", "%s", source_format ? source_format : "unknown");
    META("clip.dtype", "%s", st_dtype_name(k->opts->dtype));
#undef META
    if (st == CLIP_OK && cJSON_GetArraySize(k->quantised) > 0) {
        char *json = cJSON_PrintUnformatted(k->quantised);
        st = json ? st_writer_metadata(k->st, ST_QUANT_METADATA, json) : clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
        free(json);
    }
    return st;
}

static clip_status gguf_metadata(sink *k, const clip_model_info *i, float logit_scale_log, const char *name) {
    gguf_writer *w = k->gguf;
    int ftype = gguf_ggml_from_dtype(k->opts->dtype);
    static const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f}, stdev[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    clip_status st = gguf_write_str(w, "general.architecture", "clip");
    if (st == CLIP_OK) st = gguf_write_bool(w, "clip.has_text_encoder", 1);
    if (st == CLIP_OK) st = gguf_write_bool(w, "clip.has_vision_encoder", 1);
    if (st == CLIP_OK) st = gguf_write_u32(w, "general.file_type", (uint32_t)ftype);
    if (st == CLIP_OK) st = gguf_write_str(w, "general.name", name);
    if (st == CLIP_OK) st = gguf_write_str(w, "general.description", "two-tower CLIP model");
    struct {
        const char *key;
        int value;
    } ints[] = {
        {"clip.text.context_length", i->context_length},
        {"clip.text.embedding_length", i->text_width},
        {"clip.text.feed_forward_length", 4 * i->text_width},
        {"clip.text.projection_dim", i->embed_dim},
        {"clip.text.attention.head_count", i->text_heads},
        {"clip.text.block_count", i->text_layers},
        {"clip.vision.image_size", i->image_resolution},
        {"clip.vision.patch_size", i->vision_patch_size},
        {"clip.vision.embedding_length", i->vision_width},
        {"clip.vision.feed_forward_length", 4 * i->vision_width},
        {"clip.vision.projection_dim", i->embed_dim},
        {"clip.vision.attention.head_count", i->vision_heads},
        {"clip.vision.block_count", i->vision_layers},
    };
    for (size_t j = 0; j < sizeof ints / sizeof ints[0] && st == CLIP_OK; j++)
        st = gguf_write_u32(w, ints[j].key, (uint32_t)ints[j].value);
    if (st == CLIP_OK) st = gguf_write_f32(w, "clip.text.attention.layer_norm_epsilon", 1e-5f);
    if (st == CLIP_OK) st = gguf_write_f32(w, "clip.vision.attention.layer_norm_epsilon", 1e-5f);
    if (st == CLIP_OK) st = gguf_write_f32_array(w, "clip.vision.image_mean", mean, 3);
    if (st == CLIP_OK) st = gguf_write_f32_array(w, "clip.vision.image_std", stdev, 3);
    if (st == CLIP_OK) st = gguf_write_bool(w, "clip.use_gelu", 0);
    if (st == CLIP_OK && !k->opts->clip_cpp_keys_only) st = gguf_write_f32(w, GGUF_KEY_LOGIT_SCALE, logit_scale_log);
    return st;
}

/* ---- the conversion ---- */

static int consumed(const layout_name *names, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < 3; j++)
            if (names[i].other[j][0] && strcmp(names[i].other[j], name) == 0) return 1;
    return 0;
}

/* ResNet image towers exist only in OpenAI naming: their tensors (and
 * the BatchNorm counters) are carried over by name. */
static clip_status pass_through(sink *k, const source *s, const layout_name *names, size_t n) {
    size_t plen = strlen(s->prefix);
    for (size_t i = 0; i < st_count(s->file); i++) {
        const st_tensor *t = st_at(s->file, i);
        if (strncmp(t->name, s->prefix, plen) != 0) continue;
        const char *name = t->name + plen;
        if (consumed(names, n, name) || strcmp(name, CLIP_EMBEDDED_VOCAB_TENSOR) == 0 ||
            strncmp(name, "visual.", 7) != 0)
            continue;
        if (t->dtype == ST_F32 || t->dtype == ST_F16 || t->dtype == ST_BF16 || t->dtype == ST_F64 ||
            t->dtype == ST_Q8_0 || t->dtype == ST_Q4_0) {
            float *v = to_f32(t);
            if (!v) return CLIP_ERR_NO_MEMORY;
            clip_status st = emit(k, name, t->ndim, t->shape, v, (size_t)t->numel);
            free(v);
            if (st != CLIP_OK) return st;
        } else {
            clip_status st = st_writer_add(k->st, name, t->dtype, t->ndim, t->shape, t->data);
            if (st != CLIP_OK) return st;
        }
    }
    return CLIP_OK;
}

clip_status clip_convert_model(clip_model *model, const char *source_format, const char *out_path,
                               const convert_options *opts, convert_stats *stats) {
    memset(stats, 0, sizeof *stats);
    clip_model_info info;
    clip_model_get_info(model, &info);
    int vit = info.vision_kind == CLIP_VISION_VIT, gguf = opts->container == CONVERT_GGUF;
    if (gguf && !vit)
        return clip_fail(CLIP_ERR_UNSUPPORTED, "%s: clip.cpp's GGUF layout holds ViT models only; write a ResNet as "
                                               ".safetensors",
                         out_path);
    if (opts->dtype != ST_F32 && opts->dtype != ST_F16 && opts->dtype != ST_BF16 && opts->dtype != ST_Q8_0 &&
        opts->dtype != ST_Q4_0)
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "convert: dtype %s cannot be written", st_dtype_name(opts->dtype));
    source src = {.file = model->file};
    if (!find_prefix(&src))
        return clip_fail(CLIP_ERR_MISSING_TENSOR, "%s: no token embedding found", st_path(model->file));
    int vision_layers = vit ? info.vision_layers : -1;
    layout_name *from = NULL, *to = NULL;
    size_t n_from = layout_names(src.scheme, info.text_layers, vision_layers, &from);
    size_t n_to = layout_names(gguf ? LAYOUT_GGUF : LAYOUT_OPENAI, info.text_layers, vision_layers, &to);
    sink k = {.opts = opts, .stats = stats, .quantised = cJSON_CreateObject()};
    if (gguf) k.gguf = gguf_writer_new();
    else k.st = st_writer_new();
    clip_status st = from && to && k.quantised && (k.gguf || k.st) ? CLIP_OK : clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    if (st == CLIP_OK && gguf) {
        const char *slash = strrchr(out_path, '/');
        st = gguf_metadata(&k, &info, model->logit_scale_log[0], slash ? slash + 1 : out_path);
    }
    /* Roles pair up by index; GGUF lacks only the final logit_scale. */
    for (size_t i = 0; i < n_from && st == CLIP_OK; i++) {
        if (i >= n_to) continue;
        values x;
        st = fetch(&src, &from[i], &x);
        if (st == CLIP_OK) st = emit_role(&k, &to[i], &x);
        free(x.v);
    }
    if (st == CLIP_OK && !gguf && !vit) st = pass_through(&k, &src, from, n_from);
    if (st == CLIP_OK) st = gguf ? embed_vocab_gguf(&k, model) : embed_vocab_safetensors(&k, model);
    if (st == CLIP_OK && !gguf) st = safetensors_metadata(&k, &info, source_format);
    if (st == CLIP_OK) st = gguf ? gguf_writer_finish(k.gguf, out_path) : st_writer_finish(k.st, out_path);
    free(from);
    free(to);
    cJSON_Delete(k.quantised);
    gguf_writer_free(k.gguf);
    st_writer_free(k.st);
    return st;
}
