/* The process-wide resource limits (clip_limits in clip.h): defaults, the
 * CLIP_LIMIT_* environment variables read once, and the setters. Values
 * live in atomics so a reader on one thread and clip_limits_set on another
 * are not a data race; each check reads its limit once. */
#include "core/limits.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

typedef struct limit_entry {
    const char *name;    /* the clip_limits field */
    const char *env;     /* CLIP_LIMIT_ + name in capitals */
    size_t offset;       /* of the field in clip_limits */
    uint64_t default_value;
} limit_entry;

#define ENTRY(field, env, value) {#field, env, offsetof(clip_limits, field), value}

/* Indexed by limit_id; the defaults are the constants each reader used
 * before they became configurable (see the comments in clip.h). */
static const limit_entry entries[LIMIT_COUNT] = {
    [LIMIT_IMAGE_PIXELS] = ENTRY(max_image_pixels, "CLIP_LIMIT_MAX_IMAGE_PIXELS", CLIP_DEFAULT_MAX_PIXELS),
    [LIMIT_RESIZE_WEIGHTS] = ENTRY(max_resize_weights, "CLIP_LIMIT_MAX_RESIZE_WEIGHTS", 1ull << 25),
    [LIMIT_RESIZED_PIXELS] = ENTRY(max_resized_pixels, "CLIP_LIMIT_MAX_RESIZED_PIXELS", 1ull << 26),
    [LIMIT_VIDEO_FRAME_PIXELS] = ENTRY(max_video_frame_pixels, "CLIP_LIMIT_MAX_VIDEO_FRAME_PIXELS", 7680ull * 4320),
    [LIMIT_SAFETENSORS_HEADER] = ENTRY(max_safetensors_header, "CLIP_LIMIT_MAX_SAFETENSORS_HEADER", 100ull << 20),
    [LIMIT_NPY_HEADER] = ENTRY(max_npy_header, "CLIP_LIMIT_MAX_NPY_HEADER", 65536),
    [LIMIT_TEXT_BYTES] = ENTRY(max_text_bytes, "CLIP_LIMIT_MAX_TEXT_BYTES", 64ull << 20),
    [LIMIT_VOCAB_BYTES] = ENTRY(max_vocab_bytes, "CLIP_LIMIT_MAX_VOCAB_BYTES", 64ull << 20),
    [LIMIT_MANIFEST_LINE] = ENTRY(max_manifest_line, "CLIP_LIMIT_MAX_MANIFEST_LINE", 8192),
    [LIMIT_DATASET_ITEMS] = ENTRY(max_dataset_items, "CLIP_LIMIT_MAX_DATASET_ITEMS", 100000000),
    [LIMIT_SHARD_MEMBER] = ENTRY(max_shard_member, "CLIP_LIMIT_MAX_SHARD_MEMBER", 64ull << 20),
    [LIMIT_IDX_BYTES] = ENTRY(max_idx_bytes, "CLIP_LIMIT_MAX_IDX_BYTES", 1ull << 30),
    [LIMIT_HTTP_BODY] = ENTRY(max_http_body, "CLIP_LIMIT_MAX_HTTP_BODY", 32ull << 20),
    [LIMIT_PICKLE_MEMORY_RATIO] = ENTRY(max_pickle_memory_ratio, "CLIP_LIMIT_MAX_PICKLE_MEMORY_RATIO", 128),
    [LIMIT_TENSOR_COPY_RATIO] = ENTRY(max_tensor_copy_ratio, "CLIP_LIMIT_MAX_TENSOR_COPY_RATIO", 2),
    [LIMIT_ZIP_ENTRY_RATIO] = ENTRY(max_zip_entry_ratio, "CLIP_LIMIT_MAX_ZIP_ENTRY_RATIO", 1),
};

/* clip_limits is all uint64_t fields, one per entry: adding a field
 * without an entry (or the reverse) fails to compile. */
_Static_assert(sizeof(clip_limits) == LIMIT_COUNT * sizeof(uint64_t), "one limit_entry per clip_limits field");

static _Atomic uint64_t values[LIMIT_COUNT];
static pthread_once_t env_once = PTHREAD_ONCE_INIT;

/* Decimal integer with an optional K/M/G/T (x1024^n) suffix, optionally
 * followed by "B" or "iB"; 0 on success. Zero is refused: it would mean
 * "refuse everything" and is more likely a typo. */
static int parse_value(const char *text, uint64_t *out) {
    if (!text || !isdigit((unsigned char)*text)) return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno) return -1;
    int shift = 0;
    switch (toupper((unsigned char)*end)) {
    case 'K': shift = 10; end++; break;
    case 'M': shift = 20; end++; break;
    case 'G': shift = 30; end++; break;
    case 'T': shift = 40; end++; break;
    default: break;
    }
    if (shift && (*end == 'i' || *end == 'I')) end++;
    if (shift && (*end == 'b' || *end == 'B')) end++;
    if (*end != '\0' || v == 0) return -1;
    if (shift && v > (UINT64_MAX >> shift)) return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

static void read_environment(void) {
    for (int i = 0; i < LIMIT_COUNT; i++) {
        uint64_t v = entries[i].default_value;
        const char *text = getenv(entries[i].env);
        /* A bad value must not pass silently, and a library has no other
         * channel at this point than stderr. */
        if (text && parse_value(text, &v) != 0) {
            fprintf(stderr, "clip: ignoring %s=%s (expected a positive integer, optionally with K, M, G or T)\n",
                    entries[i].env, text);
            v = entries[i].default_value;
        }
        atomic_store_explicit(&values[i], v, memory_order_relaxed);
    }
}

uint64_t limit_value(limit_id id) {
    pthread_once(&env_once, read_environment);
    return atomic_load_explicit(&values[id], memory_order_relaxed);
}

size_t limit_size(limit_id id) {
    uint64_t v = limit_value(id);
    return v > SIZE_MAX ? SIZE_MAX : (size_t)v;
}

clip_status limit_fail(limit_id id, const char *fmt, ...) {
    char what[768];
    va_list args;
    va_start(args, fmt);
    vsnprintf(what, sizeof what, fmt, args);
    va_end(args);
    const limit_entry *e = &entries[id];
    return clip_fail(CLIP_ERR_LIMIT, "%s (limit %s = %llu; raise it with %s=N, `clip --limit %s=N` or clip_limits_set)",
                     what, e->name, (unsigned long long)limit_value(id), e->env, e->name);
}

void clip_limits_get(clip_limits *limits) {
    if (!limits) return;
    for (int i = 0; i < LIMIT_COUNT; i++)
        memcpy((char *)limits + entries[i].offset, &(uint64_t){limit_value((limit_id)i)}, sizeof(uint64_t));
}

clip_status clip_limits_set(const clip_limits *limits) {
    if (!limits) return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_limits_set: NULL limits");
    pthread_once(&env_once, read_environment);
    for (int i = 0; i < LIMIT_COUNT; i++) {
        uint64_t v;
        memcpy(&v, (const char *)limits + entries[i].offset, sizeof v);
        atomic_store_explicit(&values[i], v ? v : entries[i].default_value, memory_order_relaxed);
    }
    return CLIP_OK;
}

clip_status clip_limit_set_by_name(const char *name, const char *value) {
    pthread_once(&env_once, read_environment);
    for (int i = 0; name && i < LIMIT_COUNT; i++) {
        if (strcmp(name, entries[i].name) != 0) continue;
        uint64_t v;
        if (parse_value(value, &v) != 0)
            return clip_fail(CLIP_ERR_INVALID_ARGUMENT,
                             "limit %s: '%s' is not a positive integer (optionally with K, M, G or T)", name,
                             value ? value : "");
        atomic_store_explicit(&values[i], v, memory_order_relaxed);
        return CLIP_OK;
    }
    char known[1024];
    size_t used = 0;
    for (int i = 0; i < LIMIT_COUNT && used < sizeof known; i++)
        used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", i ? ", " : "", entries[i].name);
    return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "unknown limit '%s' (known: %s)", name ? name : "", known);
}

int clip_limit_describe(int index, const char **name, const char **env_var, uint64_t *value,
                        uint64_t *default_value) {
    if (index < 0 || index >= LIMIT_COUNT) return 0;
    if (name) *name = entries[index].name;
    if (env_var) *env_var = entries[index].env;
    if (value) *value = limit_value((limit_id)index);
    if (default_value) *default_value = entries[index].default_value;
    return 1;
}
