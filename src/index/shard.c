#include "index/shard.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "dist/dist.h"

/* Message tags of the merge, apart from any other traffic. */
enum { TAG_HEADER = 0x1d00, TAG_SRC, TAG_VECTORS, TAG_STRINGS };

clip_status idx_shard_agree(clip_status st) {
    int64_t failed = st != CLIP_OK;
    clip_status cst = dist_allreduce_max_i64(&failed, 1);
    if (st != CLIP_OK) return st;
    if (cst != CLIP_OK) return cst;
    if (failed)
        return clip_fail(CLIP_ERR_IO, "stopped: another rank of the distributed build failed (its message says why)");
    return CLIP_OK;
}

/* FNV-1a, 64-bit: enough to tell two listings apart, not a security hash. */
static uint64_t fnv(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

clip_status idx_shard_check_sources(const idx_sources *s, const uint8_t model_id[CLIP_MODEL_ID_BYTES]) {
    uint64_t h = fnv(14695981039346656037ull, model_id, CLIP_MODEL_ID_BYTES);
    for (int64_t i = 0; i < s->count; i++) {
        const idx_source *it = &s->items[i];
        h = fnv(h, it->text, strlen(it->text) + 1);
        h = fnv(h, &it->size, sizeof it->size);
        h = fnv(h, &it->mtime_ns, sizeof it->mtime_ns);
    }
    for (int64_t i = 0; i < s->n_missing; i++) h = fnv(h, s->missing[i], strlen(s->missing[i]) + 1);
    /* Equal everywhere iff max == min; the max of -x gives the min. 62 bits
     * of the hash keep the negation clear of INT64_MIN. */
    int64_t hash = (int64_t)(h >> 2), count = s->count, missing = s->n_missing;
    int64_t v[6] = {hash, -hash, count, -count, missing, -missing};
    clip_status st = dist_allreduce_max_i64(v, 6);
    if (st != CLIP_OK) return st;
    if (v[0] == -v[1]) return CLIP_OK;
    return clip_fail(CLIP_ERR_INVALID_ARGUMENT,
                     "the ranks see different sources or models (rank %d: %lld items, %lld missing; all ranks: "
                     "%lld to %lld items): a distributed build needs every rank to read the same model and the same "
                     "files with the same sizes and times, i.e. a filesystem shared by all nodes",
                     dist_rank(), (long long)count, (long long)missing, (long long)-v[3], (long long)v[2]);
}

clip_status idx_shard_send(const idx_shard_part *part, size_t row_bytes) {
    int64_t string_bytes = 0;
    for (int64_t i = 0; i < part->n_failed; i++)
        string_bytes += (int64_t)(strlen(part->failed[i]) + strlen(part->reasons[i]) + 2);
    int64_t header[5] = {part->n_ready, part->n_failed, part->items, string_bytes,
                         (int64_t)(part->seconds * 1e9)};
    char *strings = malloc((size_t)string_bytes + 1);
    if (!strings) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    char *at = strings;
    for (int64_t i = 0; i < part->n_failed; i++) {
        size_t a = strlen(part->failed[i]) + 1, b = strlen(part->reasons[i]) + 1;
        memcpy(at, part->failed[i], a);
        memcpy(at + a, part->reasons[i], b);
        at += a + b;
    }
    clip_status st = dist_send(header, sizeof header, 0, TAG_HEADER);
    if (st == CLIP_OK) st = dist_send(part->src, (size_t)part->n_ready * sizeof *part->src, 0, TAG_SRC);
    if (st == CLIP_OK) st = dist_send(part->vectors, (size_t)part->n_ready * row_bytes, 0, TAG_VECTORS);
    if (st == CLIP_OK) st = dist_send(strings, (size_t)string_bytes, 0, TAG_STRINGS);
    free(strings);
    return st;
}

clip_status idx_shard_receive(int from, size_t row_bytes, idx_shard_part *part) {
    memset(part, 0, sizeof *part);
    int64_t header[5];
    clip_status st = dist_recv(header, sizeof header, from, TAG_HEADER);
    if (st != CLIP_OK) return st;
    if (header[0] < 0 || header[1] < 0 || header[3] < 0)
        return clip_fail(CLIP_ERR_FORMAT, "rank %d sent a malformed result header", from);
    part->n_ready = header[0];
    part->n_failed = header[1];
    part->items = header[2];
    part->seconds = (double)header[4] * 1e-9;
    size_t n = (size_t)part->n_ready, f = (size_t)part->n_failed;
    part->src = malloc((n ? n : 1) * sizeof *part->src);
    part->vectors = malloc(n ? n * row_bytes : 1);
    part->strings = malloc((size_t)header[3] + 1);
    part->failed = malloc((f ? f : 1) * sizeof *part->failed);
    part->reasons = malloc((f ? f : 1) * sizeof *part->reasons);
    if (!part->src || !part->vectors || !part->strings || !part->failed || !part->reasons) {
        idx_shard_part_free(part);
        return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory for rank %d's %zu embeddings", from, n);
    }
    st = dist_recv(part->src, n * sizeof *part->src, from, TAG_SRC);
    if (st == CLIP_OK) st = dist_recv(part->vectors, n * row_bytes, from, TAG_VECTORS);
    if (st == CLIP_OK) st = dist_recv(part->strings, (size_t)header[3], from, TAG_STRINGS);
    if (st != CLIP_OK) {
        idx_shard_part_free(part);
        return st;
    }
    /* Split the NUL-separated (path, reason) pairs, never reading past the end. */
    part->strings[header[3]] = 0;
    char *at = part->strings, *end = part->strings + header[3];
    for (size_t i = 0; i < f; i++) {
        if (at >= end) {
            idx_shard_part_free(part);
            return clip_fail(CLIP_ERR_FORMAT, "rank %d sent a malformed failure list", from);
        }
        part->failed[i] = at;
        at += strlen(at) + 1;
        part->reasons[i] = at < end ? at : end;
        at += strlen(part->reasons[i]) + 1;
    }
    return CLIP_OK;
}

void idx_shard_part_free(idx_shard_part *part) {
    free(part->src);
    free(part->vectors);
    free(part->strings);
    free(part->failed);
    free(part->reasons);
    memset(part, 0, sizeof *part);
}
