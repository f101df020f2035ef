#include "formats/gguf_clip.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "formats/gguf.h"
#include "formats/layout.h"
#include "formats/vocab_export.h"

static void close_table(void *file) { st_close(file); }

static clip_status check_model_kind(const gguf_file *g, const char *label) {
    const char *arch;
    size_t len;
    if (gguf_get_str(g, "general.architecture", &arch, &len) && !(len == 4 && memcmp(arch, "clip", 4) == 0))
        return clip_fail(CLIP_ERR_UNSUPPORTED, "%s: GGUF architecture '%.*s' is not CLIP", label, (int)(len > 64 ? 64 : len),
                         arch);
    int text = 1, vision = 1, flag = 0;
    gguf_get_bool(g, "clip.has_text_encoder", &text);
    gguf_get_bool(g, "clip.has_vision_encoder", &vision);
    if (!text || !vision)
        return clip_fail(CLIP_ERR_UNSUPPORTED, "%s: a %s-only clip.cpp model; clip.c needs both towers", label,
                         text ? "text" : "vision");
    if (gguf_get_bool(g, "clip.has_llava_projector", &flag) && flag)
        return clip_fail(CLIP_ERR_UNSUPPORTED, "%s: a LLaVA vision projector file, not a CLIP model", label);
    if (gguf_get_bool(g, "clip.use_gelu", &flag) && flag)
        return clip_fail(CLIP_ERR_UNSUPPORTED, "%s: the model uses exact GELU; clip.c's towers implement CLIP's QuickGELU",
                         label);
    return CLIP_OK;
}

static int get_count(const gguf_file *g, const char *key, int *out) {
    int64_t v;
    if (!gguf_get_int(g, key, &v) || v < 0 || v > (1 << 20)) return 0;
    *out = (int)v;
    return 1;
}

/* Copies a GGUF string array. An entry holding a NUL or a line break is
 * refused: the merges become one line each of a text file, and a NUL would
 * make a C string shorter than its recorded length. */
static clip_status copy_strings(const gguf_kv *kv, const char *label, char ***strings, size_t **lens, size_t *n) {
    *strings = calloc(kv->n + 1, sizeof **strings);
    *lens = calloc(kv->n + 1, sizeof **lens);
    if (!*strings || !*lens) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    for (uint64_t i = 0; i < kv->n; i++) {
        const char *s;
        size_t len;
        if (!gguf_arr_str(kv, i, &s, &len))
            return clip_fail(CLIP_ERR_FORMAT, "%s: %s entry %llu is unreadable", label, kv->key, (unsigned long long)i);
        if (memchr(s, '\0', len) || memchr(s, '\n', len) || memchr(s, '\r', len))
            return clip_fail(CLIP_ERR_FORMAT, "%s: %s entry %llu holds a NUL or line-break byte", label, kv->key,
                             (unsigned long long)i);
        char *copy = malloc(len + 1);
        if (!copy) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
        memcpy(copy, s, len);
        copy[len] = '\0';
        (*strings)[i] = copy;
        (*lens)[i] = len;
        *n = (size_t)i + 1;
    }
    return CLIP_OK;
}

static int is_string_array(const gguf_kv *kv) { return kv && kv->type == GGUF_ARRAY && kv->elem_type == GGUF_STRING; }

static clip_status add_vocab(const gguf_file *g, const char *label, st_file *dst) {
    const gguf_kv *tokens = gguf_find(g, "tokenizer.ggml.tokens");
    const gguf_kv *merges = gguf_find(g, GGUF_KEY_MERGES);
    vocab_strings v = {0};
    clip_status st = CLIP_OK;
    if (is_string_array(merges)) {
        st = copy_strings(merges, label, &v.merges, &v.merge_lens, &v.n_merges);
    } else if (is_string_array(tokens)) {
        st = copy_strings(tokens, label, &v.tokens, &v.token_lens, &v.n_tokens);
        if (st == CLIP_OK && vocab_merges_from_tokens(&v) != CLIP_OK) {
            /* The model still loads; the vocabulary search takes over. */
            vocab_strings_free(&v);
            return CLIP_OK;
        }
    } else {
        return CLIP_OK;
    }
    char *text = NULL;
    size_t len = 0;
    if (st == CLIP_OK) st = vocab_merges_text(v.merges, v.merge_lens, v.n_merges, &text, &len);
    vocab_strings_free(&v);
    if (st == CLIP_OK) st = st_table_keep(dst, text, free);
    int64_t shape[1] = {(int64_t)len};
    if (st == CLIP_OK) st = st_table_add(dst, GGUF_CLIP_VOCAB_TENSOR, ST_U8, 1, shape, text, len);
    return st;
}

static clip_status add_logit_scale(const gguf_file *g, st_file *dst) {
    double scale = GGUF_CLIP_DEFAULT_LOGIT_SCALE;
    gguf_get_float(g, GGUF_KEY_LOGIT_SCALE, &scale);
    float *value = malloc(sizeof *value);
    if (!value) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    *value = (float)scale;
    clip_status st = st_table_keep(dst, value, free);
    return st == CLIP_OK ? st_table_add(dst, "logit_scale", ST_F32, 0, NULL, value, sizeof *value) : st;
}

static clip_status add_metadata(const gguf_file *g, st_file *dst) {
    static const struct {
        const char *gguf, *ours;
    } keys[] = {
        {"clip.text.attention.head_count", "transformer_heads"},
        {"clip.vision.attention.head_count", "vision_heads"},
        {"clip.text.block_count", "transformer_layers"},
        {"clip.vision.block_count", "vision_layers"},
        {"clip.vision.patch_size", "vision_patch_size"},
        {"clip.vision.image_size", "image_resolution"},
        {"clip.text.projection_dim", "embed_dim"},
    };
    clip_status st = CLIP_OK;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0] && st == CLIP_OK; i++) {
        int v;
        if (!get_count(g, keys[i].gguf, &v)) continue;
        char text[16];
        snprintf(text, sizeof text, "%d", v);
        st = st_table_set_metadata(dst, keys[i].ours, text);
    }
    const char *name;
    size_t len;
    if (st == CLIP_OK && gguf_get_str(g, "general.name", &name, &len)) {
        char *copy = strndup(name, len);
        st = copy ? st_table_set_metadata(dst, "name", copy) : clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
        free(copy);
    }
    if (st == CLIP_OK) st = st_table_set_metadata(dst, "clip.source_format", "gguf");
    return st;
}

clip_status gguf_clip_open_memory(const void *data, size_t size, const char *label, st_file **out) {
    *out = NULL;
    label = label ? label : "<gguf>";
    gguf_file *g = NULL;
    clip_status st = gguf_open_memory(data, size, label, &g);
    if (st != CLIP_OK) return st;
    st_file *raw = st_table_new(label), *table = st_table_new(label);
    if (!raw || !table) st = clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    if (st == CLIP_OK) st = check_model_kind(g, label);
    int text_layers = 0, vision_layers = 0;
    if (st == CLIP_OK &&
        (!get_count(g, "clip.text.block_count", &text_layers) || !get_count(g, "clip.vision.block_count", &vision_layers)))
        st = clip_fail(CLIP_ERR_FORMAT, "%s: GGUF lacks clip.text.block_count or clip.vision.block_count", label);
    for (size_t i = 0; st == CLIP_OK && i < gguf_tensor_count(g); i++) {
        const gguf_tensor_info *t = gguf_tensor_at(g, i);
        st = st_table_add(raw, t->name, t->dtype, t->ndim, t->shape, t->data, t->nbytes);
    }
    if (st == CLIP_OK) st = st_table_finish(raw);
    if (st == CLIP_OK) st = layout_to_openai(raw, LAYOUT_GGUF, text_layers, vision_layers, table);
    if (st == CLIP_OK) st = add_logit_scale(g, table);
    if (st == CLIP_OK) st = add_vocab(g, label, table);
    if (st == CLIP_OK) st = add_metadata(g, table);
    if (st == CLIP_OK) st = st_table_finish(table);
    gguf_close(g);
    if (raw && table) {
        clip_status kept = st_table_keep(table, raw, close_table);
        raw = NULL;
        if (st == CLIP_OK) st = kept;
    }
    if (st != CLIP_OK) {
        st_close(raw);
        st_close(table);
        return st;
    }
    *out = table;
    return CLIP_OK;
}
