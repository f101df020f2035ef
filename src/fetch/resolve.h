/* Model names to local files: OpenAI's published checkpoints by name
 * ("ViT-B-32", "ViT-B/32", "RN50", ...), Hugging Face repositories
 * ("openai/clip-vit-base-patch32", optionally "hf:" in front) and plain
 * URLs, downloaded once into a cache folder and reused. */
#ifndef CLIP_FETCH_RESOLVE_H
#define CLIP_FETCH_RESOLVE_H
#include "clip.h"

typedef struct pull_options {
    const char *cache_dir; /* NULL: $CLIP_CACHE, else ~/.cache/clip (OpenAI's own cache folder) */
    int progress;          /* progress on stderr */
    int offline;           /* never download (also with CLIP_OFFLINE=1) */
} pull_options;

/* The folder pulls go to, in `buf`. */
const char *clip_cache_dir(const pull_options *opts, char *buf, size_t cap);

/* Downloads (unless cached) what `name_or_url` names; *path (free with
 * free()) is the checkpoint file, or the folder of a Hugging Face repo. */
clip_status clip_pull(const char *name_or_url, const pull_options *opts, char **path);

/* For every -m argument: an existing file or folder stays as it is; a
 * known name or URL becomes its cached copy, downloaded when missing
 * (progress on stderr when it is a terminal); anything else is returned
 * unchanged for the loader to report. */
clip_status clip_resolve_model(const char *name_or_path, char **path);

/* OpenAI's download URL of a known name (its SHA-256 is the second-last
 * path component), or NULL. */
const char *clip_openai_model_url(const char *name, const char **sha256, const char **file_name);

#endif
