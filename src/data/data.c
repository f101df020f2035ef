/* Dispatch by source kind; Fashion-MNIST; captions from class names. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "data/data_internal.h"

static const char *const fashion_classes[] = {"T-shirt/top", "trouser", "pullover", "dress", "coat",
                                              "sandal",      "shirt",   "sneaker",  "bag",   "ankle boot"};

/* Training captions; evaluation uses other wordings (clip_default_templates)
 * so zero-shot accuracy is measured on prompts the model never saw. */
static const char *const training_templates[] = {
    "a {}.", "a picture of a {}.", "an item of clothing: a {}.", "this is a {}.", "a product photo of a {}.",
    "a {} on a plain background.", NULL,
};

const char *const *clip_data_default_templates(void) { return training_templates; }

static clip_status open_fashion(const char *spec, clip_data *d) {
    char dir[4096] = "/usr/share/datasets/fashion-mnist", split[16] = "train";
    /* fashion-mnist[:DIR][:train|test] */
    const char *rest = spec + strlen("fashion-mnist");
    if (*rest == ':') {
        rest++;
        const char *last = strrchr(rest, ':');
        const char *tail = last ? last + 1 : rest;
        if (strcmp(tail, "train") == 0 || strcmp(tail, "test") == 0) {
            snprintf(split, sizeof split, "%s", tail);
            if (last) snprintf(dir, sizeof dir, "%.*s", (int)(last - rest), rest);
        } else {
            snprintf(dir, sizeof dir, "%s", rest);
        }
    }
    const char *prefix = strcmp(split, "train") == 0 ? "train" : "t10k";
    char images[4300], labels[4300];
    snprintf(images, sizeof images, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
    snprintf(labels, sizeof labels, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
    clip_status st = idx_read_u8(images, 3, &d->images);
    if (st == CLIP_OK) st = idx_read_u8(labels, 1, &d->labels);
    if (st != CLIP_OK)
        return clip_fail_context(st, "fashion-mnist (install Debian's dataset-fashion-mnist or give DIR): ");
    if (d->images.dims[0] != d->labels.dims[0])
        return clip_fail(CLIP_ERR_FORMAT, "%s: %u images but %u labels", dir, d->images.dims[0], d->labels.dims[0]);
    for (uint32_t i = 0; i < d->labels.dims[0]; i++)
        if (d->labels.data[i] >= 10) return clip_fail(CLIP_ERR_FORMAT, "%s: label %u out of range", labels, d->labels.data[i]);
    d->kind = DATA_FASHION;
    d->size = d->images.dims[0];
    d->n_classes = 10;
    d->class_names = fashion_classes;
    return CLIP_OK;
}

clip_status clip_data_open(const char *spec, const char *const *templates, clip_data **out) {
    *out = NULL;
    clip_data *d = calloc(1, sizeof *d);
    if (!d) return clip_fail(CLIP_ERR_NO_MEMORY, "data: out of memory");
    d->templates = templates ? templates : training_templates;
    while (d->templates[d->n_templates]) d->n_templates++;
    size_t len = strlen(spec);
    struct stat sb;
    clip_status st;
    if (strncmp(spec, "fashion-mnist", 13) == 0)
        st = open_fashion(spec, d);
    else if (len > 4 && (strcmp(spec + len - 4, ".tsv") == 0 || strcmp(spec + len - 4, ".csv") == 0))
        st = data_open_manifest(spec, d);
    else if ((len > 4 && strstr(spec, ".tar")) || (stat(spec, &sb) == 0 && S_ISDIR(sb.st_mode)))
        st = data_open_webdataset(spec, d);
    else
        st = clip_fail(CLIP_ERR_INVALID_ARGUMENT,
                       "%s: unknown data source (fashion-mnist[:DIR][:train|test], FILE.tsv, FILE.csv, "
                       "SHARD.tar or a folder of shards)", spec);
    if (st == CLIP_OK && d->size == 0) st = clip_fail(CLIP_ERR_FORMAT, "%s: no items", spec);
    if (st != CLIP_OK) {
        clip_data_close(d);
        return st;
    }
    *out = d;
    return CLIP_OK;
}

void clip_data_close(clip_data *d) {
    if (!d) return;
    idx_free(&d->images);
    idx_free(&d->labels);
    if (d->kind == DATA_MANIFEST)
        for (int64_t i = 0; i < d->size; i++) {
            free(d->paths[i]);
            free(d->captions[i]);
        }
    free(d->paths);
    free(d->captions);
    data_free_webdataset(d);
    free(d);
}

int64_t clip_data_size(const clip_data *d) { return d->size; }
int clip_data_n_classes(const clip_data *d) { return d->n_classes; }
const char *clip_data_class_name(const clip_data *d, int i) {
    return i >= 0 && i < d->n_classes ? d->class_names[i] : NULL;
}

static char *caption_for_class(const clip_data *d, int label, clip_rng *rng) {
    const char *template = d->templates[rng ? clip_rng_below(rng, (uint64_t)d->n_templates) : 0];
    const char *name = d->class_names[label];
    const char *hole = strstr(template, "{}");
    size_t n = strlen(template) + strlen(name) + 1;
    char *out = malloc(n);
    if (!out) return NULL;
    if (hole) snprintf(out, n, "%.*s%s%s", (int)(hole - template), template, name, hole + 2);
    else snprintf(out, n, "%s", template);
    return out;
}

clip_status clip_data_get(clip_data *d, int64_t index, clip_rng *rng, clip_image **image, char **caption, int *label) {
    *image = NULL;
    *caption = NULL;
    *label = -1;
    if (index < 0 || index >= d->size) return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "data: item %lld out of range", (long long)index);
    clip_status st = CLIP_OK;
    switch (d->kind) {
    case DATA_FASHION: {
        int rows = (int)d->images.dims[1], cols = (int)d->images.dims[2];
        const uint8_t *pixels = d->images.data + (size_t)index * rows * cols;
        /* Grey replicated to RGB is what PIL's convert("RGB") of mode L gives. */
        uint8_t *rgb = malloc((size_t)rows * cols * 3);
        if (!rgb) return clip_fail(CLIP_ERR_NO_MEMORY, "data: out of memory");
        for (int i = 0; i < rows * cols; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = pixels[i];
        st = clip_image_from_rgb(rgb, cols, rows, 0, image);
        free(rgb);
        *label = d->labels.data[index];
        if (st == CLIP_OK && !(*caption = caption_for_class(d, *label, rng)))
            st = clip_fail(CLIP_ERR_NO_MEMORY, "data: out of memory");
        break;
    }
    case DATA_MANIFEST:
        st = clip_image_load_file(d->paths[index], NULL, image);
        if (st == CLIP_OK && !(*caption = strdup(d->captions[index])))
            st = clip_fail(CLIP_ERR_NO_MEMORY, "data: out of memory");
        break;
    case DATA_WEBDATASET: {
        const wds_item *item = &d->items[index];
        st = clip_image_load_memory(item->image, item->image_size, NULL, image);
        if (st != CLIP_OK) clip_fail_context(st, "%s: ", item->label);
        if (st == CLIP_OK && !(*caption = strdup(item->caption)))
            st = clip_fail(CLIP_ERR_NO_MEMORY, "data: out of memory");
        break;
    }
    }
    if (st != CLIP_OK) {
        clip_image_free(*image);
        *image = NULL;
        free(*caption);
        *caption = NULL;
    }
    return st;
}
