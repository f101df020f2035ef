/* Training and evaluation data: image-caption pairs (and class labels
 * where the source has them) from Fashion-MNIST's IDX files, TSV/CSV
 * manifests, or WebDataset tar shards, with random access by index so an
 * epoch's order, and a resumed run's position, come from the seed alone. */
#ifndef CLIP_DATA_DATA_H
#define CLIP_DATA_DATA_H
#include <stdint.h>

#include "clip.h"
#include "core/rng.h"

typedef struct clip_data clip_data;

/* A line of a manifest, a caption file, or a class-name caption is never
 * longer than this. */
#define CLIP_DATA_MAX_CAPTION 4096
/* Manifests and shard sets of more than clip_limits.max_dataset_items
 * items, manifest lines over max_manifest_line bytes and shard members over
 * max_shard_member bytes are refused. */

/* `spec` is one of:
 *   fashion-mnist[:DIR][:train|test]  (DIR default /usr/share/datasets/fashion-mnist)
 *   FILE.tsv | FILE.csv               (image path, caption; paths relative to the file)
 *   SHARD.tar[,SHARD.tar...] | DIR    (WebDataset: KEY.jpg/png/webp + KEY.txt; a
 *                                      directory means every *.tar in it)
 * `templates` (NULL-terminated, "{}" = class name) make captions for
 * labelled sources; NULL = the built-in training templates. */
clip_status clip_data_open(const char *spec, const char *const *templates, clip_data **out);
void clip_data_close(clip_data *data);
int64_t clip_data_size(const clip_data *data);
/* Number of classes (0 when the source has no labels) and their names. */
int clip_data_n_classes(const clip_data *data);
const char *clip_data_class_name(const clip_data *data, int index);
/* Item `index`: the decoded image, a caption (chosen among templates with
 * `rng` for labelled sources; free with clip_free) and the label (-1 if
 * none). Thread-safe for distinct output pointers. */
clip_status clip_data_get(clip_data *data, int64_t index, clip_rng *rng, clip_image **image, char **caption,
                          int *label);

/* The training templates for Fashion-MNIST-style class captions. */
const char *const *clip_data_default_templates(void);

/* open_clip's training augmentation: RandomResizedCrop(size, scale=(lo, hi),
 * ratio=(3/4, 4/3), bicubic) then CLIP's normalisation, into [3, size, size].
 * With rng == NULL: the evaluation transform (CLIP's preprocessing). */
clip_status clip_augment(const clip_image *image, int size, float scale_lo, float scale_hi, clip_rng *rng,
                         float *out);

#endif
