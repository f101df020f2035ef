/* Where names point. OpenAI's URLs embed each file's SHA-256 as a path
 * component (clip/clip.py verifies downloads against it; so do we); any
 * URL whose second-last component is 64 hex digits is treated the same
 * way. Hugging Face's large files are checked against the X-Linked-Etag
 * SHA-256 the hub sends. Tests point the bases elsewhere with
 * CLIP_OPENAI_BASE_URL and HF_ENDPOINT (huggingface_hub's variable). */
#include "fetch/resolve.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "fetch/download.h"

static const struct {
    const char *name, *sha256, *file;
} openai_models[] = {
    {"RN50", "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762", "RN50.pt"},
    {"RN101", "8fa8567bab74a42d41c5915025a8e4538c3bdbe8804a470a72f30b0d94fab599", "RN101.pt"},
    {"RN50x4", "7e526bd135e493cef0776de27d5f42653e6b4c8bf9e0f653bb11773263205fdd", "RN50x4.pt"},
    {"RN50x16", "52378b407f34354e150460fe41077663dd5b39c54cd0bfd2b27167a4a06ec9aa", "RN50x16.pt"},
    {"RN50x64", "be1cfb55d75a9666199fb2206c106743da0f6468c9d327f3e0d0a543a9919d9c", "RN50x64.pt"},
    {"ViT-B-32", "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af", "ViT-B-32.pt"},
    {"ViT-B-16", "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f", "ViT-B-16.pt"},
    {"ViT-L-14", "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836", "ViT-L-14.pt"},
    {"ViT-L-14-336", "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02", "ViT-L-14-336px.pt"},
};

#define OPENAI_BASE "https://openaipublic.azureedge.net/clip/models"
#define HF_BASE "https://huggingface.co"

/* "ViT-B/32", "ViT-L/14@336px" and "ViT-L-14-336px" are OpenAI's own
 * spellings of the same names. */
static void canonical_name(const char *name, char *out, size_t cap) {
    snprintf(out, cap, "%s", name);
    for (char *c = out; *c; c++)
        if (*c == '/' || *c == '@') *c = '-';
    size_t len = strlen(out);
    if (len > 5 && strcmp(out + len - 5, "336px") == 0) out[len - 2] = '\0';
}

const char *clip_openai_model_url(const char *name, const char **sha256, const char **file_name) {
    static __thread char url[512];
    char canonical[64];
    canonical_name(name, canonical, sizeof canonical);
    for (size_t i = 0; i < sizeof openai_models / sizeof openai_models[0]; i++) {
        if (strcmp(canonical, openai_models[i].name) != 0) continue;
        const char *base = getenv("CLIP_OPENAI_BASE_URL");
        snprintf(url, sizeof url, "%s/%s/%s", base && *base ? base : OPENAI_BASE, openai_models[i].sha256,
                 openai_models[i].file);
        if (sha256) *sha256 = openai_models[i].sha256;
        if (file_name) *file_name = openai_models[i].file;
        return url;
    }
    return NULL;
}

const char *clip_cache_dir(const pull_options *opts, char *buf, size_t cap) {
    const char *dir = opts && opts->cache_dir ? opts->cache_dir : getenv("CLIP_CACHE");
    if (dir && *dir) snprintf(buf, cap, "%s", dir);
    else {
        const char *home = getenv("HOME");
        snprintf(buf, cap, "%s/.cache/clip", home && *home ? home : "/tmp");
    }
    return buf;
}

static int is_url(const char *s) { return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0; }

/* "owner/repo" with the characters the hub allows; a dot in the repo
 * part reads as a mistyped file path unless "hf:" says otherwise. */
static int is_hf_repo(const char *s) {
    int explicit_hf = strncmp(s, "hf:", 3) == 0;
    if (explicit_hf) s += 3;
    const char *slash = strchr(s, '/');
    if (!slash || slash == s || !slash[1] || strchr(slash + 1, '/') || s[0] == '.') return 0;
    if (!explicit_hf && strchr(slash + 1, '.')) return 0;
    for (const char *c = s; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr("-_./", *c)) return 0;
    return strstr(s, "..") == NULL;
}

static int exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* The second-last path component when it is a SHA-256. */
static int sha_in_url(const char *url, char out[65]) {
    const char *end = strrchr(url, '/');
    if (!end || end - url < 65) return 0;
    const char *start = end - 64;
    if (start[-1] != '/') return 0;
    for (int i = 0; i < 64; i++)
        if (!isxdigit((unsigned char)start[i])) return 0;
    memcpy(out, start, 64);
    out[64] = '\0';
    return 1;
}

static clip_status pull_file(const char *url, const char *path, const char *sha256, const pull_options *opts,
                             int optional) {
    if (exists(path)) return CLIP_OK;
    if (opts->offline || (getenv("CLIP_OFFLINE") && strcmp(getenv("CLIP_OFFLINE"), "0") != 0))
        return clip_fail(CLIP_ERR_IO, "%s is not cached (%s) and downloads are off (CLIP_OFFLINE)", url, path);
    download_options d = {.sha256 = sha256, .progress = opts->progress, .optional = optional};
    return fetch_download(url, path, &d);
}

static clip_status pull_hf(const char *repo, const char *cache, const pull_options *opts, char **path) {
    if (strncmp(repo, "hf:", 3) == 0) repo += 3;
    const char *endpoint = getenv("HF_ENDPOINT");
    if (!endpoint || !*endpoint) endpoint = HF_BASE;
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s/hf/%s", cache, repo) >= (int)sizeof dir)
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "%s: path too long", repo);
    /* The weights and the config are required; the tokenizer files are
     * not (the vocabulary search covers them). */
    static const struct {
        const char *file;
        int optional;
    } files[] = {{"config.json", 0}, {"model.safetensors", 0}, {"vocab.json", 1}, {"merges.txt", 1}};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char url[4096], file[4600];
        if (snprintf(url, sizeof url, "%s/%s/resolve/main/%s", endpoint, repo, files[i].file) >= (int)sizeof url ||
            snprintf(file, sizeof file, "%s/%s", dir, files[i].file) >= (int)sizeof file)
            return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "%s: path too long", repo);
        clip_status st = pull_file(url, file, NULL, opts, files[i].optional);
        if (st != CLIP_OK && !files[i].optional) return st;
    }
    *path = strdup(dir);
    return *path ? CLIP_OK : clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
}

clip_status clip_pull(const char *name, const pull_options *opts, char **path) {
    *path = NULL;
    pull_options defaults = {0};
    if (!opts) opts = &defaults;
    char cache[4096], file[4600];
    clip_cache_dir(opts, cache, sizeof cache);
    const char *sha256 = NULL, *file_name = NULL;
    const char *url = clip_openai_model_url(name, &sha256, &file_name);
    char url_sha[65];
    if (!url && is_url(name)) {
        url = name;
        sha256 = sha_in_url(url, url_sha) ? url_sha : NULL;
        const char *base = strrchr(url, '/') + 1;
        size_t len = strcspn(base, "?#");
        if (len == 0 || len > 255 || (len <= 2 && base[0] == '.'))
            return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "%s: the URL names no file", url);
        snprintf(file, sizeof file, "%s/%.*s", cache, (int)len, base);
    } else if (url) {
        snprintf(file, sizeof file, "%s/%s", cache, file_name);
    } else if (is_hf_repo(name)) {
        return pull_hf(name, cache, opts, path);
    } else {
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT,
                         "'%s' is neither a known model name (RN50, RN101, RN50x4, RN50x16, RN50x64, ViT-B-32, "
                         "ViT-B-16, ViT-L-14, ViT-L-14-336), a Hugging Face repo (owner/name) nor a URL",
                         name);
    }
    clip_status st = pull_file(url, file, sha256, opts, 0);
    if (st != CLIP_OK) return st;
    *path = strdup(file);
    return *path ? CLIP_OK : clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
}

clip_status clip_resolve_model(const char *name, char **path) {
    *path = NULL;
    if (!name) return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "no model given");
    int known = clip_openai_model_url(name, NULL, NULL) != NULL;
    if (exists(name) || (!known && !is_url(name) && !is_hf_repo(name))) {
        *path = strdup(name);
        return *path ? CLIP_OK : clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    }
    pull_options opts = {.progress = isatty(2)};
    return clip_pull(name, &opts, path);
}
