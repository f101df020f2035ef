/* Named architectures and JSON model configurations. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "model/model_internal.h"

typedef struct named_arch {
    const char *name;
    clip_arch arch;
} named_arch;

/* OpenAI's published configurations (clip/model.py build_model inputs). */
static const named_arch known[] = {
    {"ViT-B-32", {512, 224, {12}, 768, 32, 0, 77, 49408, 512, 8, 12}},
    {"ViT-B-16", {512, 224, {12}, 768, 16, 0, 77, 49408, 512, 8, 12}},
    {"ViT-L-14", {768, 224, {24}, 1024, 14, 0, 77, 49408, 768, 12, 12}},
    {"ViT-L-14-336", {768, 336, {24}, 1024, 14, 0, 77, 49408, 768, 12, 12}},
    {"RN50", {1024, 224, {3, 4, 6, 3}, 64, 0, 0, 77, 49408, 512, 8, 12}},
    {"RN101", {512, 224, {3, 4, 23, 3}, 64, 0, 0, 77, 49408, 512, 8, 12}},
    {"RN50x4", {640, 288, {4, 6, 10, 6}, 80, 0, 0, 77, 49408, 640, 10, 12}},
    {"RN50x16", {768, 384, {6, 8, 18, 8}, 96, 0, 0, 77, 49408, 768, 12, 12}},
    {"RN50x64", {1024, 448, {3, 15, 36, 10}, 128, 0, 0, 77, 49408, 1024, 16, 12}},
};

clip_status clip_arch_by_name(const char *name, clip_arch *arch) {
    char names[256] = "";
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        /* OpenAI spells them "ViT-B/32"; accept both. */
        char canonical[32];
        snprintf(canonical, sizeof canonical, "%s", name);
        for (char *c = canonical; *c; c++) if (*c == '/') *c = '-';
        if (strcmp(canonical, known[i].name) == 0) {
            *arch = known[i].arch;
            return CLIP_OK;
        }
        size_t used = strlen(names);
        snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "", known[i].name);
    }
    return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "unknown architecture '%s' (known: %s; or give --config FILE.json)",
                     name, names);
}

static int get_int(const cJSON *obj, const char *key, int *out) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(item)) return 0;
    if (item->valuedouble < 0 || item->valuedouble > (1 << 24)) return 0;
    *out = (int)item->valuedouble;
    return 1;
}

static void read_layers(const cJSON *obj, const char *key, clip_arch *arch) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (cJSON_IsNumber(item)) {
        arch->vision_layers[0] = (int)item->valuedouble;
    } else if (cJSON_IsArray(item) && cJSON_GetArraySize(item) == 4) {
        for (int i = 0; i < 4; i++) {
            const cJSON *v = cJSON_GetArrayItem(item, i);
            arch->vision_layers[i] = cJSON_IsNumber(v) ? (int)v->valuedouble : 0;
        }
    }
}

clip_status clip_arch_validate(const clip_arch *a) {
    int vit = a->vision_patch_size > 0;
    if (a->embed_dim <= 0 || a->image_resolution <= 0 || a->vision_width <= 0 || a->context_length <= 0 ||
        a->vocab_size <= 0 || a->text_width <= 0 || a->text_layers <= 0 || a->vision_layers[0] <= 0)
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "architecture: every size must be positive");
    if (vit && a->image_resolution % a->vision_patch_size != 0)
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "architecture: resolution %d is not a multiple of patch %d",
                         a->image_resolution, a->vision_patch_size);
    if (!vit && (a->image_resolution % 32 != 0 || a->vision_width % 2 != 0 || a->vision_layers[1] <= 0 ||
                 a->vision_layers[2] <= 0 || a->vision_layers[3] <= 0))
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT,
                         "architecture: a ResNet needs 4 stage depths, an even width and a resolution divisible by 32");
    int text_heads = a->text_heads ? a->text_heads : a->text_width / 64;
    int vision_width = vit ? a->vision_width : a->vision_width * 32;
    int vision_heads = a->vision_heads ? a->vision_heads : (vit ? a->vision_width / 64 : a->vision_width * 32 / 64);
    if (text_heads <= 0 || a->text_width % text_heads || vision_heads <= 0 || vision_width % vision_heads)
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "architecture: widths must be divisible by the head counts");
    return CLIP_OK;
}

clip_status clip_arch_from_json(const char *json, size_t len, clip_arch *arch) {
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return clip_fail(CLIP_ERR_FORMAT, "architecture config: not a JSON object");
    }
    memset(arch, 0, sizeof *arch);
    arch->context_length = 77;
    arch->vocab_size = 49408;
    const cJSON *vision = cJSON_GetObjectItemCaseSensitive(root, "vision_cfg");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(root, "text_cfg");
    get_int(root, "embed_dim", &arch->embed_dim);
    if (cJSON_IsObject(vision) || cJSON_IsObject(text)) { /* open_clip layout */
        get_int(vision, "image_size", &arch->image_resolution);
        read_layers(vision, "layers", arch);
        get_int(vision, "width", &arch->vision_width);
        get_int(vision, "patch_size", &arch->vision_patch_size);
        get_int(vision, "heads", &arch->vision_heads);
        get_int(text, "context_length", &arch->context_length);
        get_int(text, "vocab_size", &arch->vocab_size);
        get_int(text, "width", &arch->text_width);
        get_int(text, "heads", &arch->text_heads);
        get_int(text, "layers", &arch->text_layers);
    } else {
        get_int(root, "image_resolution", &arch->image_resolution);
        read_layers(root, "vision_layers", arch);
        get_int(root, "vision_width", &arch->vision_width);
        get_int(root, "vision_patch_size", &arch->vision_patch_size);
        get_int(root, "vision_heads", &arch->vision_heads);
        get_int(root, "context_length", &arch->context_length);
        get_int(root, "vocab_size", &arch->vocab_size);
        if (!get_int(root, "text_width", &arch->text_width)) get_int(root, "transformer_width", &arch->text_width);
        if (!get_int(root, "text_heads", &arch->text_heads)) get_int(root, "transformer_heads", &arch->text_heads);
        if (!get_int(root, "text_layers", &arch->text_layers)) get_int(root, "transformer_layers", &arch->text_layers);
    }
    cJSON_Delete(root);
    return clip_arch_validate(arch);
}
