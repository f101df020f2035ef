/* clip_index_build: collect the sources, reuse what an earlier index or an
 * interrupted build's journals already hold, embed the rest (decoding in a
 * second thread), and write the index atomically. A distributed build
 * (opts->distributed in an MPI world) splits the items still to do into one
 * contiguous block per rank; rank 0 alone reads the old index and the
 * journals, tells the others which items are done (one byte per item, so no
 * rank depends on another's view of those files), merges their embeddings
 * (index/shard.h) and writes the index. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/error.h"
#include "dist/dist.h"
#include "index/decode_queue.h"
#include "index/half.h"
#include "index/index_internal.h"
#include "index/journal.h"
#include "index/shard.h"
#include "index/sources.h"
#include "index/strmap.h"
#include "index/writer.h"

enum { SLOT_PENDING = 0, SLOT_READY = 1, SLOT_FAILED = 2 };

typedef struct build {
    clip_model *model;
    const clip_index_build_options *opts;
    clip_index_build_report *report;
    idx_sources sources;
    int dim;
    size_t elem;
    unsigned char *vectors; /* [n_sources, dim] in the output dtype */
    unsigned char *state;   /* SLOT_* per source */
    idx_journal journal;
    int journal_open;
    int batches_unsynced;
    struct timespec start;
    int rank, ranks;
    /* This rank's block of the items still to do, and how many of them
     * failed to decode. */
    int64_t block_len, block_failed;
    double embed_seconds;
    /* Ranks other than 0 keep only their own rows, in the order embedded,
     * for sending to rank 0: rows_src[i] is the source of row i. */
    int compact;
    int64_t *rows_src, n_rows;
} build;

static double seconds_since(const struct timespec *t0) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + 1e-9 * (double)(t.tv_nsec - t0->tv_nsec);
}

static void store(build *b, int64_t src, const float *v) {
    int64_t row = src;
    if (b->compact) {
        row = b->n_rows;
        b->rows_src[b->n_rows++] = src;
    }
    unsigned char *dst = b->vectors + (size_t)row * b->dim * b->elem;
    if (b->opts->dtype == CLIP_INDEX_F16) idx_floats_to_halves(v, (size_t)b->dim, (uint16_t *)dst);
    else memcpy(dst, v, (size_t)b->dim * sizeof(float));
    b->state[src] = SLOT_READY;
}

static void progress(build *b, int64_t failed_now) {
    if (!b->opts->progress) return;
    clip_index_progress p;
    if (b->ranks > 1) { /* this rank's share only: the others report theirs */
        p.total = b->block_len;
        p.failed = b->block_failed + failed_now;
        p.done = b->report->embedded + p.failed;
    } else {
        p.total = b->report->total;
        p.failed = b->report->n_failed + failed_now;
        p.done = b->report->embedded + b->report->reused + b->report->resumed + p.failed;
    }
    p.elapsed_s = seconds_since(&b->start);
    p.rank = b->rank;
    p.ranks = b->ranks;
    b->opts->progress(b->opts->progress_ctx, &p);
}

static int add_failure(clip_index_build_report *r, const char *path, const char *reason) {
    char **a = realloc(r->failed, (size_t)(r->n_failed + 1) * sizeof *a);
    if (a) r->failed = a;
    char **c = realloc(r->failed_reasons, (size_t)(r->n_failed + 1) * sizeof *c);
    if (c) r->failed_reasons = c;
    if (!a || !c) return 0;
    r->failed[r->n_failed] = strdup(path);
    r->failed_reasons[r->n_failed] = strdup(reason ? reason : "");
    if (!r->failed[r->n_failed] || !r->failed_reasons[r->n_failed]) {
        free(r->failed[r->n_failed]);
        free(r->failed_reasons[r->n_failed]);
        return 0;
    }
    r->n_failed++;
    return 1;
}

/* Marks sources whose embedding a journal or the previous index already
 * holds (same path, size and mtime). */
static clip_status reuse_known(build *b, const idx_journal *j, clip_index *old) {
    strmap by_text;
    if (!strmap_init(&by_text, (size_t)b->sources.count)) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    for (int64_t i = 0; i < b->sources.count; i++)
        if (!strmap_put(&by_text, b->sources.items[i].text, i)) {
            strmap_free(&by_text);
            return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
        }
    for (int64_t r = 0; r < j->n_loaded; r++) {
        int64_t src = strmap_get(&by_text, j->texts[r]);
        if (src < 0 || b->state[src] == SLOT_READY) continue;
        const idx_source *s = &b->sources.items[src];
        if (s->size != j->sizes[r] || s->mtime_ns != j->mtimes_ns[r]) continue;
        store(b, src, j->vectors + (size_t)r * b->dim);
        b->report->resumed++;
    }
    clip_status st = CLIP_OK;
    float *v = old ? malloc((size_t)b->dim * sizeof(float)) : NULL;
    if (old && !v) st = clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    for (int64_t i = 0; old && v && i < old->count; i++) {
        clip_index_item item;
        clip_index_get_item(old, i, &item);
        int64_t src = strmap_get(&by_text, item.text);
        if (src < 0) {
            b->report->removed++;
            continue;
        }
        if (b->state[src] == SLOT_READY) continue;
        const idx_source *s = &b->sources.items[src];
        if (s->size != item.size || s->mtime_ns != item.mtime_ns) continue; /* changed: embed again */
        clip_index_get_vector(old, i, v);
        store(b, src, v);
        b->report->reused++;
    }
    free(v);
    strmap_free(&by_text);
    return st;
}

static clip_status after_batch(build *b, const int64_t *src, int n, const float *features) {
    for (int i = 0; i < n; i++) {
        const idx_source *s = &b->sources.items[src[i]];
        store(b, src[i], features + (size_t)i * b->dim);
        clip_status st = idx_journal_append(&b->journal, s->text, s->size, s->mtime_ns, features + (size_t)i * b->dim);
        if (st != CLIP_OK) return st;
    }
    b->report->embedded += n;
    int every = b->opts->journal_every > 0 ? b->opts->journal_every : 1;
    if (++b->batches_unsynced >= every) {
        b->batches_unsynced = 0;
        return idx_journal_sync(&b->journal);
    }
    return CLIP_OK;
}

static clip_status embed_images(build *b, const int64_t *todo, int64_t n_todo, int batch) {
    clip_model_info info;
    clip_model_get_info(b->model, &info);
    float *features = malloc((size_t)batch * b->dim * sizeof(float));
    if (!features) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    decode_queue q;
    clip_status st = decode_queue_start(&q, &b->sources, todo, n_todo, batch, info.image_resolution,
                                        b->opts->image_options);
    if (st != CLIP_OK) {
        free(features);
        return st;
    }
    decode_batch *db;
    while (st == CLIP_OK && (db = decode_queue_take(&q)) != NULL) {
        st = clip_encode_image(b->model, db->pixels, db->n, features);
        if (st == CLIP_OK) {
            clip_l2_normalize(features, db->n, b->dim);
            st = after_batch(b, db->source, db->n, features);
        }
        decode_queue_release(&q, db);
        progress(b, atomic_load(&q.n_failed));
    }
    decode_queue_stop(&q);
    b->block_failed += q.n_recorded;
    for (int64_t i = 0; i < q.n_recorded; i++) {
        int64_t src = q.failures[i].source;
        b->state[src] = SLOT_FAILED;
        if (!add_failure(b->report, b->sources.items[src].text, q.failures[i].reason) && st == CLIP_OK)
            st = clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    }
    decode_queue_free(&q);
    free(features);
    return st;
}

static clip_status embed_texts(build *b, const int64_t *todo, int64_t n_todo, int batch) {
    float *features = malloc((size_t)batch * b->dim * sizeof(float));
    const char **texts = malloc((size_t)batch * sizeof *texts);
    clip_status st = features && texts ? CLIP_OK : clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    for (int64_t i = 0; st == CLIP_OK && i < n_todo; i += batch) {
        int n = n_todo - i < batch ? (int)(n_todo - i) : batch;
        for (int t = 0; t < n; t++) texts[t] = b->sources.items[todo[i + t]].text;
        st = clip_embed_texts(b->model, texts, n, 1, features);
        if (st == CLIP_OK) st = after_batch(b, todo + i, n, features);
        progress(b, 0);
    }
    free(features);
    free(texts);
    return st;
}

static clip_status write_output(build *b, const uint8_t *model_id, const char *desc) {
    int64_t n = 0, total = b->sources.count;
    const char **texts = malloc((size_t)(total ? total : 1) * sizeof *texts);
    uint64_t *sizes = malloc((size_t)(total ? total : 1) * sizeof *sizes);
    int64_t *mtimes = malloc((size_t)(total ? total : 1) * sizeof *mtimes);
    clip_status st = CLIP_OK;
    if (!texts || !sizes || !mtimes) {
        st = clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    } else {
        size_t row = (size_t)b->dim * b->elem;
        for (int64_t i = 0; i < total; i++) {
            if (b->state[i] != SLOT_READY) continue;
            if (n != i) memmove(b->vectors + (size_t)n * row, b->vectors + (size_t)i * row, row);
            texts[n] = b->sources.items[i].text;
            sizes[n] = b->sources.items[i].size;
            mtimes[n] = b->sources.items[i].mtime_ns;
            n++;
        }
        idx_contents c = {.kind = b->opts->kind, .dtype = b->opts->dtype, .dim = b->dim, .count = n,
                          .vectors = b->vectors, .texts = texts, .sizes = sizes, .mtimes_ns = mtimes,
                          .model_id = model_id, .model_desc = desc};
        st = idx_write(b->opts->output, &c);
    }
    free(texts);
    free(sizes);
    free(mtimes);
    return st;
}

static clip_status open_previous(const build *b, const uint8_t *model_id, clip_index **old) {
    *old = NULL;
    struct stat sb;
    if (!b->opts->update || stat(b->opts->output, &sb) != 0) return CLIP_OK; /* nothing to update */
    clip_status st = clip_index_open(b->opts->output, old);
    if (st != CLIP_OK) return clip_fail_context(st, "--update: ");
    const char *why = NULL;
    if (memcmp((*old)->model_id, model_id, CLIP_MODEL_ID_BYTES) != 0) why = "it was built with another model";
    else if ((*old)->kind != b->opts->kind) why = "it indexes another kind of item";
    else if ((*old)->dim != b->dim) why = "its dimension differs";
    if (why) {
        clip_index_free(*old);
        *old = NULL;
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "--update: cannot update %s: %s; build it afresh without --update",
                         b->opts->output, why);
    }
    return CLIP_OK;
}

/* Model facts and the list of sources; the same on every rank. */
static clip_status collect(build *b, uint8_t *model_id, char *desc, size_t desc_size) {
    clip_model_info info;
    clip_status st = clip_model_get_info(b->model, &info);
    if (st != CLIP_OK) return st;
    b->dim = info.embed_dim;
    b->elem = b->opts->dtype == CLIP_INDEX_F16 ? 2 : 4;
    if ((st = clip_model_identity(b->model, model_id)) != CLIP_OK) return st;
    idx_model_desc(b->model, desc, desc_size);
    if (b->opts->kind == CLIP_INDEX_TEXTS && !clip_model_tokenizer(b->model)) return CLIP_ERR_VOCAB;
    return b->opts->kind == CLIP_INDEX_IMAGES ? idx_collect_images(b->opts->source, &b->sources)
                                               : idx_collect_texts(b->opts->source, &b->sources);
}

/* Rank 0 (or the only process): which items an earlier index or journals
 * already hold; their vectors go straight into place. */
static clip_status plan(build *b, const uint8_t *model_id) {
    size_t n = (size_t)(b->sources.count ? b->sources.count : 1);
    b->state = calloc(n, 1);
    if (!b->state) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory for %zu items", n);
    if (b->rank != 0) return CLIP_OK; /* told by rank 0 */
    clip_status st = CLIP_OK;
    for (int64_t i = 0; i < b->sources.n_missing && st == CLIP_OK; i++)
        if (!add_failure(b->report, b->sources.missing[i], b->sources.missing_reasons[i]))
            st = clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    b->vectors = st == CLIP_OK ? malloc(n * b->dim * b->elem) : NULL;
    if (st == CLIP_OK && !b->vectors) st = clip_fail(CLIP_ERR_NO_MEMORY, "out of memory for %zu embeddings", n);
    clip_index *old = NULL;
    if (st == CLIP_OK) st = open_previous(b, model_id, &old);
    idx_journal loaded;
    memset(&loaded, 0, sizeof loaded);
    if (st == CLIP_OK) st = idx_journal_load_all(&loaded, b->opts->output, b->opts->kind, b->dim, model_id);
    if (st == CLIP_OK) st = reuse_known(b, &loaded, old);
    idx_journal_close(&loaded, 0);
    clip_index_free(old);
    return st;
}

/* Embeds this rank's block of the items still to do, journaling each batch. */
static clip_status embed_share(build *b, const uint8_t *model_id, int batch) {
    int64_t *todo = malloc((size_t)(b->sources.count ? b->sources.count : 1) * sizeof *todo);
    if (!todo) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    int64_t n_todo = 0, begin, end;
    for (int64_t i = 0; i < b->sources.count; i++)
        if (b->state[i] == SLOT_PENDING) todo[n_todo++] = i;
    dist_block_range(n_todo, b->rank, b->ranks, &begin, &end);
    b->block_len = end - begin;
    clip_status st = CLIP_OK;
    if (b->rank != 0) { /* room for this block only */
        b->compact = 1;
        b->vectors = malloc((size_t)(b->block_len ? b->block_len : 1) * b->dim * b->elem);
        b->rows_src = malloc((size_t)(b->block_len ? b->block_len : 1) * sizeof *b->rows_src);
        if (!b->vectors || !b->rows_src) st = clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    }
    /* One journal per rank: appends never interleave, and each file is
     * intact up to its own last synced batch. */
    char *path = idx_journal_path(b->opts->output, b->ranks > 1 ? b->rank : -1);
    if (st == CLIP_OK && !path) st = clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    if (st == CLIP_OK) st = idx_journal_open(&b->journal, path, b->opts->kind, b->dim, model_id);
    free(path);
    if (st == CLIP_OK) b->journal_open = 1;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (st == CLIP_OK) {
        progress(b, 0);
        if (b->block_len > 0)
            st = b->opts->kind == CLIP_INDEX_IMAGES ? embed_images(b, todo + begin, b->block_len, batch)
                                                    : embed_texts(b, todo + begin, b->block_len, batch);
        progress(b, 0);
    }
    b->embed_seconds = seconds_since(&t0);
    if (st == CLIP_OK) st = idx_journal_sync(&b->journal);
    /* Closed (kept) before rank 0 writes and removes the journals. */
    if (b->journal_open) idx_journal_close(&b->journal, 0);
    b->journal_open = 0;
    free(todo);
    return st;
}

/* Rank 0 takes in the rows and failures of rank `from`. */
static clip_status merge_part(build *b, int from) {
    idx_shard_part part;
    size_t row = (size_t)b->dim * b->elem;
    clip_status st = idx_shard_receive(from, row, &part);
    for (int64_t i = 0; st == CLIP_OK && i < part.n_ready; i++) {
        int64_t src = part.src[i];
        if (src < 0 || src >= b->sources.count || b->state[src] != SLOT_PENDING) {
            st = clip_fail(CLIP_ERR_FORMAT, "rank %d sent an embedding for item %lld, not one of its own", from,
                           (long long)src);
            break;
        }
        memcpy(b->vectors + (size_t)src * row, part.vectors + (size_t)i * row, row);
        b->state[src] = SLOT_READY;
    }
    for (int64_t i = 0; st == CLIP_OK && i < part.n_failed; i++)
        if (!add_failure(b->report, part.failed[i], part.reasons[i])) st = clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    if (st == CLIP_OK) {
        b->report->embedded += part.n_ready;
        b->report->rank_items[from] = part.items;
        b->report->rank_seconds[from] = part.seconds;
    }
    idx_shard_part_free(&part);
    return st;
}

/* Every rank but 0 sends its share; rank 0 merges them in rank order, so
 * the failure list comes out in source order as in one process. */
static clip_status exchange(build *b) {
    if (b->rank != 0) {
        idx_shard_part part = {.n_ready = b->n_rows, .src = b->rows_src, .vectors = b->vectors,
                               .n_failed = b->report->n_failed, .failed = b->report->failed,
                               .reasons = b->report->failed_reasons,
                               .items = b->report->embedded + b->report->n_failed, .seconds = b->embed_seconds};
        return idx_shard_send(&part, (size_t)b->dim * b->elem);
    }
    clip_status st = CLIP_OK;
    for (int r = 1; r < b->ranks && st == CLIP_OK; r++) st = merge_part(b, r);
    return st;
}

/* In a distributed build, a point every rank reaches: waits sleeping (rank
 * 0 may read or write for minutes) and then learns whether any rank failed. */
static clip_status rendezvous(const build *b, clip_status st) {
    if (b->ranks == 1) return st;
    clip_status bst = dist_barrier();
    return idx_shard_agree(st != CLIP_OK ? st : bst);
}

clip_status clip_index_build(clip_model *model, const clip_index_build_options *opts,
                             clip_index_build_report *report) {
    if (!model || !opts || !opts->source || !opts->output || !report || opts->batch < 0 ||
        (opts->kind != CLIP_INDEX_IMAGES && opts->kind != CLIP_INDEX_TEXTS) ||
        (opts->dtype != CLIP_INDEX_F32 && opts->dtype != CLIP_INDEX_F16))
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_index_build: bad arguments");
    memset(report, 0, sizeof *report);
    int distributed = opts->distributed && dist_size() > 1;
    build b = {.model = model, .opts = opts, .report = report, .rank = distributed ? dist_rank() : 0,
               .ranks = distributed ? dist_size() : 1};
    clock_gettime(CLOCK_MONOTONIC, &b.start);
    int batch = opts->batch > 0 ? opts->batch : 32;
    uint8_t model_id[CLIP_MODEL_ID_BYTES] = {0};
    char desc[IDX_MODEL_DESC_BYTES] = "";
    /* Every rank passes every rendezvous, failed or not, so none is left
     * waiting in a collective for a rank that has given up. */
    clip_status st = collect(&b, model_id, desc, sizeof desc);
    st = rendezvous(&b, st);
    if (st == CLIP_OK && b.ranks > 1) st = idx_shard_check_sources(&b.sources, model_id);
    report->total = b.sources.count + b.sources.n_missing;
    report->ranks = b.ranks;
    report->rank_items = calloc((size_t)b.ranks, sizeof *report->rank_items);
    report->rank_seconds = calloc((size_t)b.ranks, sizeof *report->rank_seconds);
    if (st == CLIP_OK && (!report->rank_items || !report->rank_seconds))
        st = clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    if (st == CLIP_OK) st = plan(&b, model_id);
    st = rendezvous(&b, st);
    if (st == CLIP_OK && b.ranks > 1) st = dist_broadcast(b.state, (size_t)b.sources.count, 0);
    if (st == CLIP_OK) st = embed_share(&b, model_id, batch);
    if (report->rank_items && report->rank_seconds) {
        report->rank_items[b.rank] = report->embedded + b.block_failed;
        report->rank_seconds[b.rank] = b.embed_seconds;
    }
    st = rendezvous(&b, st);
    if (st == CLIP_OK && b.ranks > 1) st = exchange(&b);
    if (st == CLIP_OK && b.rank == 0) {
        st = write_output(&b, model_id, desc);
        /* The journals outlive a failed build: the next run resumes from them. */
        if (st == CLIP_OK) idx_journal_remove_all(opts->output);
    }
    st = rendezvous(&b, st);
    if (b.journal_open) idx_journal_close(&b.journal, 0);
    free(b.vectors);
    free(b.state);
    free(b.rows_src);
    idx_sources_free(&b.sources);
    return st;
}

void clip_index_build_report_free(clip_index_build_report *r) {
    if (!r) return;
    for (int64_t i = 0; i < r->n_failed; i++) {
        free(r->failed[i]);
        free(r->failed_reasons[i]);
    }
    free(r->failed);
    free(r->failed_reasons);
    free(r->rank_items);
    free(r->rank_seconds);
    memset(r, 0, sizeof *r);
}
