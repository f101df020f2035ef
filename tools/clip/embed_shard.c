#include "embed_shard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "dist/dist.h"

/* Message tags, apart from any other traffic. */
enum { TAG_HEADER = 0xe300, TAG_FEATURES, TAG_FLAGS, TAG_LABELS };

/* The rows of one rank: sent as header, features, per-row flags (is_image,
 * ok interleaved as int32 pairs) and NUL-separated labels. */
static int send_part(const embed_result *r, int inputs, int failures, double seconds) {
    int64_t label_bytes = 0;
    for (int i = 0; i < r->count; i++) label_bytes += (int64_t)strlen(r->labels[i] ? r->labels[i] : "") + 1;
    int64_t header[6] = {r->count, r->dim, inputs, failures, label_bytes, (int64_t)(seconds * 1e9)};
    int32_t *flags = malloc((size_t)(r->count ? r->count : 1) * 2 * sizeof *flags);
    char *labels = malloc((size_t)label_bytes + 1);
    if (!flags || !labels) {
        free(flags);
        free(labels);
        fprintf(stderr, "clip embed: out of memory\n");
        return 1;
    }
    char *at = labels;
    for (int i = 0; i < r->count; i++) {
        const char *l = r->labels[i] ? r->labels[i] : "";
        size_t n = strlen(l) + 1;
        memcpy(at, l, n);
        at += n;
        flags[2 * i] = r->is_image[i];
        flags[2 * i + 1] = r->ok[i];
    }
    clip_status st = dist_send(header, sizeof header, 0, TAG_HEADER);
    if (st == CLIP_OK) st = dist_send(r->features, (size_t)r->count * r->dim * sizeof(float), 0, TAG_FEATURES);
    if (st == CLIP_OK) st = dist_send(flags, (size_t)r->count * 2 * sizeof *flags, 0, TAG_FLAGS);
    if (st == CLIP_OK) st = dist_send(labels, (size_t)label_bytes, 0, TAG_LABELS);
    free(flags);
    free(labels);
    if (st != CLIP_OK) cli_error("embed", NULL);
    return st != CLIP_OK;
}

/* Rank 0: appends rank `from`'s rows to `r`. */
static int receive_part(embed_result *r, int from, embed_shard_stats *stats) {
    int64_t h[6];
    if (dist_recv(h, sizeof h, from, TAG_HEADER) != CLIP_OK) {
        cli_error("embed", NULL);
        return 1;
    }
    int64_t n = h[0];
    if (n < 0 || (n > 0 && h[1] != r->dim) || h[4] < 0 || (int64_t)r->count + n > INT32_MAX) {
        fprintf(stderr, "clip embed: rank %d sent a malformed result\n", from);
        return 1;
    }
    stats->inputs[from] = h[2];
    stats->failures += (int)h[3];
    stats->seconds[from] = (double)h[5] * 1e-9;
    size_t total = (size_t)r->count + (size_t)n, dim = (size_t)r->dim;
    float *features = realloc(r->features, (total ? total : 1) * dim * sizeof *features);
    if (features) r->features = features;
    char **labels = realloc(r->labels, (total ? total : 1) * sizeof *labels);
    if (labels) r->labels = labels;
    int *is_image = realloc(r->is_image, (total ? total : 1) * sizeof *is_image);
    if (is_image) r->is_image = is_image;
    int *ok = realloc(r->ok, (total ? total : 1) * sizeof *ok);
    if (ok) r->ok = ok;
    int32_t *flags = malloc((size_t)(n ? n : 1) * 2 * sizeof *flags);
    char *text = malloc((size_t)h[4] + 1);
    int status = 0;
    if (!features || !labels || !is_image || !ok || !flags || !text) {
        fprintf(stderr, "clip embed: out of memory\n");
        status = 1;
    } else if (dist_recv(r->features + (size_t)r->count * dim, (size_t)n * dim * sizeof(float), from, TAG_FEATURES) !=
                   CLIP_OK ||
               dist_recv(flags, (size_t)n * 2 * sizeof *flags, from, TAG_FLAGS) != CLIP_OK ||
               dist_recv(text, (size_t)h[4], from, TAG_LABELS) != CLIP_OK) {
        cli_error("embed", NULL);
        status = 1;
    } else {
        text[h[4]] = 0;
        const char *at = text, *end = text + h[4];
        for (int64_t i = 0; i < n; i++) {
            int row = r->count++;
            r->labels[row] = strdup(at < end ? at : "");
            r->is_image[row] = flags[2 * i];
            r->ok[row] = flags[2 * i + 1];
            if (at < end) at += strlen(at) + 1;
        }
    }
    free(flags);
    free(text);
    return status;
}

int embed_shard_gather(embed_result *result, int inputs, int failures, double seconds, embed_shard_stats *stats) {
    memset(stats, 0, sizeof *stats);
    int ranks = dist_size();
    stats->ranks = ranks;
    stats->failures = failures;
    stats->inputs = calloc((size_t)ranks, sizeof *stats->inputs);
    stats->seconds = calloc((size_t)ranks, sizeof *stats->seconds);
    if (!stats->inputs || !stats->seconds) {
        fprintf(stderr, "clip embed: out of memory\n");
        return 1;
    }
    stats->inputs[0] = inputs;
    stats->seconds[0] = seconds;
    if (ranks == 1) return 0;
    /* Ranks finish at different times: wait sleeping, not spinning in a
     * receive on a core a slower rank still needs. */
    if (dist_barrier() != CLIP_OK) {
        cli_error("embed", NULL);
        return 1;
    }
    if (dist_rank() != 0) return send_part(result, inputs, failures, seconds);
    for (int from = 1; from < ranks; from++)
        if (receive_part(result, from, stats) != 0) return 1;
    return 0;
}

void embed_shard_stats_free(embed_shard_stats *stats) {
    free(stats->inputs);
    free(stats->seconds);
    memset(stats, 0, sizeof *stats);
}
