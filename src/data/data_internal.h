#ifndef CLIP_DATA_INTERNAL_H
#define CLIP_DATA_INTERNAL_H
#include <stddef.h>

#include "data/data.h"
#include "data/idx.h"

typedef enum data_kind { DATA_FASHION, DATA_MANIFEST, DATA_WEBDATASET } data_kind;

typedef struct shard_map {
    char *path;
    const unsigned char *base;
    size_t size;
} shard_map;

/* A WebDataset item: image bytes and caption, both inside a mapped shard
 * (or owned when the tar reader could not hand out a pointer into it). */
typedef struct wds_item {
    const unsigned char *image;
    size_t image_size;
    char *caption;
    unsigned char *owned_image;
    char *label; /* the key, for messages */
} wds_item;

struct clip_data {
    data_kind kind;
    int64_t size;
    /* labelled sources */
    int n_classes;
    const char *const *class_names;
    const char *const *templates;
    int n_templates;
    idx_array images, labels;
    /* manifests */
    char **paths, **captions;
    /* WebDataset */
    shard_map *shards;
    int n_shards;
    wds_item *items;
};

clip_status data_open_manifest(const char *path, clip_data *d);
clip_status data_open_webdataset(const char *spec, clip_data *d);
void data_free_webdataset(clip_data *d);

#endif
