/*
 * clip.c — CLIP (Contrastive Language-Image Pre-training) in C.
 *
 * Public API. Every handle is opaque; every fallible call returns a
 * clip_status and, on failure, leaves a human-readable message (naming the
 * file, tensor or input and the reason) retrievable with clip_last_error()
 * on the same thread.
 *
 * Ownership: objects returned through an `out` pointer belong to the caller
 * and are released with the matching *_free function. Buffers returned as
 * `char **` or `int32_t **` are released with clip_free().
 */
#ifndef CLIP_H
#define CLIP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CLIP_VERSION_STRING "0.1.0"

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

typedef enum clip_status {
    CLIP_OK = 0,
    CLIP_ERR_INVALID_ARGUMENT, /* caller passed something unusable */
    CLIP_ERR_IO,               /* open/read/write/mmap failed */
    CLIP_ERR_FORMAT,           /* a file is malformed or truncated */
    CLIP_ERR_MISSING_TENSOR,   /* a tensor the architecture needs is absent */
    CLIP_ERR_SHAPE,            /* a tensor has the wrong shape */
    CLIP_ERR_DTYPE,            /* unknown or unsupported element type */
    CLIP_ERR_NO_MEMORY,
    CLIP_ERR_UNSUPPORTED,      /* valid input this build cannot handle */
    CLIP_ERR_LIMIT,            /* a configured resource limit was exceeded */
    CLIP_ERR_IMAGE,            /* image decoding failed */
    CLIP_ERR_VOCAB,            /* no usable tokenizer vocabulary */
} clip_status;

/* Message of the last failure on this thread ("" if none). */
const char *clip_last_error(void);
/* Short stable name of a status code, e.g. "shape". */
const char *clip_status_name(clip_status status);
/* Releases memory the library handed out (strings, id arrays). */
void clip_free(void *ptr);

/* ------------------------------------------------------------------ */
/* Resource limits                                                     */
/* ------------------------------------------------------------------ */

/* Every size that hostile input could use to make the library allocate or
 * work without bound is checked against one of these limits first; going
 * over one fails with CLIP_ERR_LIMIT and a message naming the input, the
 * limit, its value and how to raise it. Values are process-wide. Each is
 * read once, at the first use of any limit, from the environment variable
 * CLIP_LIMIT_<FIELD IN CAPITALS> (a decimal integer with an optional K, M,
 * G or T suffix, powers of 1024: CLIP_LIMIT_MAX_IMAGE_PIXELS=500M);
 * `clip --limit NAME=VALUE` and clip_limits_set() override that. Defaults
 * are in the comments. */
typedef struct clip_limits {
    uint64_t max_image_pixels;        /* 178956970 (PIL's bomb limit): width x height
                                         of a decoded image, checked from the header;
                                         clip_image_options.max_pixels overrides it per call */
    uint64_t max_resize_weights;      /* 33554432 (2^25): filter weights one resize
                                         axis may need (8 bytes each) */
    uint64_t max_resized_pixels;      /* 67108864 (2^26): pixels of a whole resized
                                         image materialised (clip_image_resized_rgb) */
    uint64_t max_video_frame_pixels;  /* 33177600 (7680 x 4320): decoded video frame */
    uint64_t max_safetensors_header;  /* 104857600 (100 MiB): safetensors JSON header */
    uint64_t max_npy_header;          /* 65536: .npy header bytes */
    uint64_t max_text_bytes;          /* 67108864 (64 MiB): text per tokenizer call */
    uint64_t max_vocab_bytes;         /* 67108864 (64 MiB): vocabulary file, after gunzip */
    uint64_t max_manifest_line;       /* 8192: bytes in one line of a TSV/CSV manifest */
    uint64_t max_dataset_items;       /* 100000000: items of a manifest or shard set */
    uint64_t max_shard_member;        /* 67108864 (64 MiB): one WebDataset tar member */
    uint64_t max_idx_bytes;           /* 1073741824 (1 GiB): data of one IDX file
                                         (Fashion-MNIST), announced by its gzip'd header */
    uint64_t max_http_body;           /* 33554432 (32 MiB): HTTP request body of
                                         `clip serve` (its --max-body-mb overrides it) */
    uint64_t max_pickle_memory_ratio; /* 128: bytes of parsed objects per byte of a
                                         PyTorch checkpoint's pickle */
    uint64_t max_tensor_copy_ratio;   /* 2: bytes of non-contiguous tensors copied out
                                         of a PyTorch checkpoint, per byte of the file */
    uint64_t max_zip_entry_ratio;     /* 1: bytes a zip entry may inflate to, per byte
                                         of the archive */
} clip_limits;

/* The limits in force (defaults, then environment, then clip_limits_set). */
void clip_limits_get(clip_limits *limits);
/* Replaces every limit; a field of 0 restores that limit's default (so
 * get, change one field, set is the usual pattern). Loads already in
 * progress on other threads may see the old or the new value. */
clip_status clip_limits_set(const clip_limits *limits);
/* One limit by field name ("max_image_pixels"), for command lines and
 * bindings; `value` takes the environment's syntax (e.g. "512M"). Fails
 * with CLIP_ERR_INVALID_ARGUMENT naming the known limits. */
clip_status clip_limit_set_by_name(const char *name, const char *value);
/* Field name, environment variable and value of limit `index` (0, 1, ...);
 * returns 0 past the last one. Any output pointer may be NULL. */
int clip_limit_describe(int index, const char **name, const char **env_var, uint64_t *value,
                        uint64_t *default_value);

/* ------------------------------------------------------------------ */
/* Tokenizer (OpenAI CLIP's byte-level BPE)                            */
/* ------------------------------------------------------------------ */

typedef struct clip_tokenizer clip_tokenizer;

#define CLIP_TOKEN_SOT 49406
#define CLIP_TOKEN_EOT 49407
#define CLIP_DEFAULT_CONTEXT 77
/* Longest space-free word (bytes) the BPE takes whole; text is cleaned in
 * ftfy's segments (a line, at most a million characters) and a long input
 * is processed only until the context is full (see clip_tokenize). */
#define CLIP_TOKENIZER_MAX_INPUT (1u << 20)

/* Loads OpenAI's merges file (`bpe_simple_vocab_16e6.txt.gz`, gzip or
 * plain) or, when `path` is a directory or a `vocab.json`, Hugging Face's
 * `vocab.json` + `merges.txt` pair. */
clip_status clip_tokenizer_load(const char *path, clip_tokenizer **out);
clip_status clip_tokenizer_load_hf(const char *vocab_json_path,
                                   const char *merges_txt_path,
                                   clip_tokenizer **out);
/* From the merges text in memory (the uncompressed .txt content). */
clip_status clip_tokenizer_from_merges(const char *merges, size_t size,
                                       clip_tokenizer **out);
void clip_tokenizer_free(clip_tokenizer *tok);

/* clip.tokenize(text, context_length, truncate): writes exactly `context`
 * ids to `ids` (SOT, BPE ids, EOT, zero padding). With truncate != 0 an
 * over-long text keeps its first context-1 ids and ends with EOT; with
 * truncate == 0 it fails with CLIP_ERR_LIMIT. `text` need not be valid
 * UTF-8 (invalid bytes become U+FFFD). */
clip_status clip_tokenize(clip_tokenizer *tok, const char *text, size_t len,
                          int context, int truncate, int32_t *ids);
/* SimpleTokenizer.encode(text): BPE ids only, no SOT/EOT, no limit other
 * than `max_ids` (0 = unlimited). *ids is allocated; free with clip_free. */
clip_status clip_tokenizer_encode(clip_tokenizer *tok, const char *text,
                                  size_t len, size_t max_ids, int32_t **ids,
                                  size_t *n_ids);
/* SimpleTokenizer.decode(ids): NUL-terminated UTF-8, free with clip_free. */
clip_status clip_tokenizer_decode(const clip_tokenizer *tok, const int32_t *ids,
                                  size_t n_ids, char **text);
int clip_tokenizer_vocab_size(const clip_tokenizer *tok);

/* ------------------------------------------------------------------ */
/* Images                                                              */
/* ------------------------------------------------------------------ */

typedef struct clip_image clip_image;

/* PIL's default decompression-bomb limit (the default of
 * clip_limits.max_image_pixels). */
#define CLIP_DEFAULT_MAX_PIXELS 178956970ull

typedef struct clip_image_options {
    uint64_t max_pixels;  /* 0 = clip_limits.max_image_pixels */
    int exif_rotate;      /* honour EXIF orientation (reference ignores it) */
    int fast_decode_size; /* >0: let JPEG decode at a reduced DCT scale while
                             the shorter side stays >= this many pixels
                             (faster, not bit-exact); 0 = exact */
    int fast_decode_crop; /* with fast_decode_size: the image is only for
                             clip_image_preprocess with CLIP_RESIZE_SHORTEST
                             at that size, so a JPEG decodes only the part
                             the centre crop keeps; any other use of such an
                             image fails with CLIP_ERR_INVALID_ARGUMENT */
} clip_image_options;

/* `opts` may be NULL for defaults. Errors name `path` and the reason. */
clip_status clip_image_load_file(const char *path, const clip_image_options *opts,
                                 clip_image **out);
clip_status clip_image_load_memory(const void *data, size_t size,
                                   const clip_image_options *opts,
                                   clip_image **out);
/* From packed 8-bit RGB rows (`stride` bytes apart; 0 = 3*width). */
clip_status clip_image_from_rgb(const uint8_t *rgb, int width, int height,
                                size_t stride, clip_image **out);
void clip_image_free(clip_image *img);
int clip_image_width(const clip_image *img);
int clip_image_height(const clip_image *img);
/* PIL mode name of the decoded image: "RGB", "L", "P", "RGBA", "LA", "I",
 * "1", "CMYK". */
const char *clip_image_mode(const clip_image *img);

typedef enum clip_resize_mode {
    CLIP_RESIZE_SHORTEST = 0, /* CLIP: shorter side to size, centre crop */
    CLIP_RESIZE_SQUASH,       /* both sides to size, aspect not kept */
    CLIP_RESIZE_PAD,          /* longer side to size, pad to a square */
} clip_resize_mode;

typedef struct clip_preprocess_options {
    int size;              /* model input resolution, e.g. 224 */
    clip_resize_mode mode;
    float mean[3], std[3]; /* all zero = CLIP's values */
} clip_preprocess_options;

/* CLIP preprocessing into `out`, float32 CHW [3, size, size]. */
clip_status clip_image_preprocess(const clip_image *img,
                                  const clip_preprocess_options *opts,
                                  float *out);
/* The RGB image right after the resize step (before cropping), as the
 * reference's `.resized`: *rgb is [height][width][3], free with clip_free. */
clip_status clip_image_resized_rgb(const clip_image *img,
                                   const clip_preprocess_options *opts,
                                   uint8_t **rgb, int *width, int *height);
/* A new image holding the rectangle (x, y, w, h), which must lie inside
 * the image; the mode (and palette) is kept, so it preprocesses exactly as
 * that region of the file would. */
clip_status clip_image_crop(const clip_image *img, int x, int y, int w, int h, clip_image **out);
/* The whole image as PIL's convert("RGB") gives it: *rgb is
 * [height][width][3], free with clip_free. */
clip_status clip_image_to_rgb(const clip_image *img, uint8_t **rgb);
/* Writes 8-bit RGB as PNG, atomically (temp file, fsync, rename). */
clip_status clip_write_png_rgb(const char *path, const uint8_t *rgb, int width,
                               int height);

/* ------------------------------------------------------------------ */
/* Models                                                              */
/* ------------------------------------------------------------------ */

typedef struct clip_model clip_model;

/* Precision of the weight products (linear layers of both towers and the
 * ResNet convolutions). F32 is exact float32 arithmetic. BF16 rounds weights
 * and activations to bfloat16 and sums in float32; INT8 quantises weights
 * per output channel and activations per row (symmetric, dynamic) and sums
 * in int32 (its convolutions run in BF16). Both cost accuracy (cosine to the
 * float32 embeddings about 0.9999 and 0.999) for speed and memory; see
 * docs/performance.md. Attention, norms and embeddings stay float32. The
 * stored dtype of the file does not matter: weights are converted when
 * first used. */
typedef enum clip_weight_dtype {
    CLIP_WEIGHT_F32 = 0,
    CLIP_WEIGHT_BF16 = 1,
    CLIP_WEIGHT_INT8 = 2
} clip_weight_dtype;

/* "f32", "bf16", "int8" (also "float32", "bfloat16"); 0 for other names. */
int clip_weight_dtype_from_name(const char *name, clip_weight_dtype *out);
const char *clip_weight_dtype_name(clip_weight_dtype dtype);

typedef struct clip_load_options {
    int n_threads;          /* 0 = all cores */
    const char *vocab_path; /* overrides the vocabulary search */
    int require_tokenizer;  /* fail when no vocabulary is found */
    clip_weight_dtype weight_dtype; /* default (0) CLIP_WEIGHT_F32 */
} clip_load_options;

/* Loads a checkpoint: a safetensors file (OpenAI/open_clip names, or
 * Hugging Face CLIPModel names with config.json beside it; `module.` and
 * `model.` prefixes allowed) or a directory holding model.safetensors and
 * config.json. Float32 weights are memory-mapped, not copied. */
clip_status clip_model_load(const char *path, const clip_load_options *opts,
                            clip_model **out);
void clip_model_free(clip_model *model);

typedef enum clip_vision_kind { CLIP_VISION_VIT = 0, CLIP_VISION_RESNET = 1 } clip_vision_kind;

typedef struct clip_model_info {
    clip_vision_kind vision_kind;
    int embed_dim;
    int image_resolution;
    int vision_width, vision_layers, vision_heads, vision_patch_size;
    int vision_stage_blocks[4]; /* ResNet blocks per stage */
    int context_length, vocab_size;
    int text_width, text_heads, text_layers;
    float logit_scale;          /* exp() of the stored log scale */
    uint64_t n_parameters;
    uint64_t weight_bytes_mapped; /* bytes used in place from the file */
    uint64_t weight_bytes_owned;  /* bytes converted/copied into memory */
    const char *layout;           /* "openai" or "hf" */
    const char *format;           /* "safetensors" */
    const char *dtype_summary;    /* e.g. "F32" or "F16,F32" */
    clip_weight_dtype weight_dtype; /* compute precision chosen at load */
} clip_model_info;

clip_status clip_model_get_info(const clip_model *model, clip_model_info *info);
/* Identity of the weights: 32 hex digits (plus NUL) hashed from the tensor
 * names, shapes, dtypes and a sample of every tensor's data. Files with the
 * same weights in the same layout share it; indexes and caches use it to
 * refuse embeddings from another model. */
void clip_model_fingerprint(const clip_model *model, char out[33]);
/* The vocabulary found for the model (embedded, --vocab, CLIP_VOCAB, or the
 * standard places), or NULL with the places tried in clip_last_error().
 * A tokenizer is not thread-safe (word cache); clip_embed_texts serialises
 * its use, direct callers of clip_tokenize from several threads must too. */
clip_tokenizer *clip_model_tokenizer(clip_model *model);
void clip_model_set_threads(clip_model *model, int n_threads);

/* Image tower: `pixels` float32 [n, 3, R, R] (R = image_resolution),
 * `features` [n, embed_dim], not normalised. */
clip_status clip_encode_image(clip_model *model, const float *pixels, int n,
                              float *features);
/* Text tower: token ids [n, context_length], `features` [n, embed_dim],
 * not normalised. */
clip_status clip_encode_text(clip_model *model, const int32_t *tokens, int n,
                             float *features);

/* Architecture of a new model (OpenAI's CLIP(...) constructor arguments).
 * vision_patch_size > 0 selects a ViT with vision_layers[0] blocks; 0 a
 * ModifiedResNet with vision_layers[0..3] bottlenecks per stage. Heads of
 * 0 mean OpenAI's rule (width / 64; ResNet: width * 32 / 64). */
typedef struct clip_arch {
    int embed_dim, image_resolution;
    int vision_layers[4];
    int vision_width, vision_patch_size, vision_heads;
    int context_length, vocab_size;
    int text_width, text_heads, text_layers;
} clip_arch;

/* Fills `arch` for a standard name ("ViT-B-32", "ViT-B-16", "ViT-L-14",
 * "ViT-L-14-336", "RN50", "RN101", "RN50x4", "RN50x16", "RN50x64"). */
clip_status clip_arch_by_name(const char *name, clip_arch *arch);
/* Reads an architecture from JSON with the clip_arch field names (open_clip
 * style model configs with vision_cfg / text_cfg are accepted too). */
clip_status clip_arch_from_json(const char *json, size_t len, clip_arch *arch);
/* Writes a new model with OpenAI's initialisation (initialize_parameters'
 * standard deviations) to `path` (safetensors, OpenAI names, architecture
 * in the metadata, the vocabulary at `vocab_path` embedded when given). */
clip_status clip_model_init_file(const clip_arch *arch, uint64_t seed, const char *vocab_path,
                                 const char *path);

/* Convenience: preprocess (model resolution, CLIP's transform) and encode
 * images; tokenize (the model's vocabulary, truncating) and encode texts.
 * Rows of `features` [n, embed_dim] are L2-normalised when normalize != 0. */
clip_status clip_embed_images(clip_model *model, const clip_image *const *images, int n,
                              int normalize, float *features);
clip_status clip_embed_texts(clip_model *model, const char *const *texts, int n,
                             int normalize, float *features);

/* In-place L2 normalisation of `n` rows of length `dim`. */
void clip_l2_normalize(float *rows, int n, int dim);
/* logits[i][j] = logit_scale * cos(image_i, text_j) for normalised rows. */
void clip_logits(const float *image_features, int n_images,
                 const float *text_features, int n_texts, int dim,
                 float logit_scale, float *logits);
/* Row-wise softmax of an [n, m] matrix, in place. */
void clip_softmax_rows(float *x, int n, int m);

/* ------------------------------------------------------------------ */
/* Applications on the shared embedding space                          */
/* ------------------------------------------------------------------ */

/* Zero-shot classifier: one embedding per label, the normalised mean of the
 * label's prompt embeddings over the templates ("{}" marks the label; NULL
 * templates = the built-in set, clip_default_templates()). */
typedef struct clip_classifier clip_classifier;

/* NULL-terminated built-in template set. */
const char *const *clip_default_templates(void);

clip_status clip_classifier_create(clip_model *model, const char *const *labels, int n_labels,
                                   const char *const *templates, int n_templates,
                                   clip_classifier **out);
void clip_classifier_free(clip_classifier *classifier);
int clip_classifier_n_labels(const clip_classifier *classifier);
const char *clip_classifier_label(const clip_classifier *classifier, int index);
/* [n_labels, embed_dim], normalised; owned by the classifier. */
const float *clip_classifier_embeddings(const clip_classifier *classifier);
/* Loads the class embeddings from, or stores them to, `cache_dir` keyed by
 * the model fingerprint, labels and templates, so a folder's labels are
 * encoded once. NULL = $CLIP_CACHE or ~/.cache/clip. */
clip_status clip_classifier_create_cached(clip_model *model, const char *const *labels, int n_labels,
                                          const char *const *templates, int n_templates,
                                          const char *cache_dir, clip_classifier **out);

/* probs [n, n_labels] = softmax over labels of logit_scale * cos(feature,
 * label) for normalised `features` [n, embed_dim]. */
void clip_classify_features(const clip_classifier *classifier, const float *features, int n,
                            float logit_scale, float *probs);
/* Multi-label: each label scored on its own against background prompts:
 * prob[i][j] = softmax over {label j, backgrounds}[label j]. */
void clip_classify_multilabel(const clip_classifier *classifier, const clip_classifier *background,
                              const float *features, int n, float logit_scale, float *probs);
/* NULL-terminated built-in neutral background prompts. */
const char *const *clip_default_background_prompts(void);
/* A classifier of those prompts, used as written (template "{}"): the
 * `background` of clip_classify_multilabel and clip_detect. */
clip_status clip_classifier_create_background(clip_model *model, clip_classifier **out);

/* Visual question answering by answer scoring: each answer becomes a
 * statement through `template` ("{question}" and "{answer}" placeholders;
 * NULL = the default), probs [n_answers] over answers for one image. */
clip_status clip_ask(clip_model *model, const float *image_feature, const char *question,
                     const char *const *answers, int n_answers, const char *statement_template,
                     float *probs);

/* Prompt-based detection. Targets are normalised embeddings [n, dim]
 * (label embeddings of a classifier, or image embeddings for a query by
 * example); background rows (may be NULL) are neutral prompts that a target
 * must beat. Presence uses the whole image; localisation scores square
 * windows at several scales (batched through the image tower), averages
 * them into a heat map per target and keeps boxes after non-maximum
 * suppression. */
typedef struct clip_detect_options {
    int localize;          /* score windows (else presence only) */
    int n_scales;          /* window sides: min(w, h) * 1/2^k, k = 1..n (default 3) */
    float overlap;         /* between neighbouring windows (default 0.5) */
    float threshold;       /* minimum probability of a box or presence (default 0.5) */
    float nms_iou;         /* boxes overlapping more are suppressed (default 0.3) */
    int max_boxes;         /* per target (default 3) */
} clip_detect_options;

typedef struct clip_detection {
    int target;
    float prob;            /* softmax over targets and backgrounds */
    float cosine;          /* raw cosine of the window with the target */
    int x, y, width, height;
} clip_detection;

typedef struct clip_detect_result {
    int n_targets;
    float *presence;       /* [n_targets] whole-image probabilities */
    clip_detection *boxes; /* best first within each target */
    int n_boxes;
    int grid_w, grid_h, cell; /* heat map: grid_h x grid_w cells of cell x cell pixels */
    float *heatmaps;       /* [n_targets][grid_h][grid_w] mean window cosine */
} clip_detect_result;

clip_status clip_detect(clip_model *model, const clip_image *image, const float *targets, int n_targets,
                        const float *background, int n_background, const clip_detect_options *opts,
                        clip_detect_result *result);
void clip_detect_result_free(clip_detect_result *result);
/* Draws the boxes (one colour per target, each with its label from
 * `labels` [n_targets] and probability) over the image, or the heat map of
 * `target` blended over it, and writes a PNG atomically. */
clip_status clip_detect_draw(const clip_image *image, const clip_detect_result *result,
                             const char *const *labels, const char *path);
clip_status clip_detect_draw_heatmap(const clip_image *image, const clip_detect_result *result, int target,
                                     const char *path);

/* Video: frames sampled at `fps` (at most max_frames), embedded in
 * batches; features [n, dim] normalised, times in seconds. */
typedef struct clip_video_frames {
    int n, dim;
    double *times;
    float *features;
} clip_video_frames;

clip_status clip_video_embed(clip_model *model, const char *path, double fps, int max_frames,
                             clip_video_frames *frames);
void clip_video_frames_free(clip_video_frames *frames);

/* Writes the frames as an image index (see clip_index.h) whose items are
 * "VIDEO#t=SECONDS", so `clip index search` finds moments. */
clip_status clip_video_frames_index(clip_model *model, const clip_video_frames *frames,
                                    const char *video_path, const char *index_path);

/* A stretch of consecutive frames, [start, end) in seconds. */
typedef struct clip_moment {
    int target;
    double start, end;
    float score; /* mean over the stretch */
} clip_moment;

/* Label timeline: each frame goes to the target with the highest
 * probability (softmax of logit_scale * cosine over the targets); runs of
 * the same target become moments, in time order. */
clip_status clip_video_timeline(const clip_video_frames *frames, const float *targets, int n_targets,
                                float logit_scale, double frame_step, clip_moment **moments, int *n_moments);
/* Best moments of each target on its own: runs of frames whose cosine is
 * above the midpoint of that target's lowest and highest frame, best mean
 * score first (at most max_per_target per target). */
clip_status clip_video_best_moments(const clip_video_frames *frames, const float *targets, int n_targets,
                                    double frame_step, int max_per_target, clip_moment **moments,
                                    int *n_moments);

/* Cosine similarity matrix [n, n] of texts. */
clip_status clip_text_similarity(clip_model *model, const char *const *texts, int n, float *cosine);

#ifdef __cplusplus
}
#endif
#endif /* CLIP_H */
