/* clip_index_build: collect the sources, reuse what an earlier index or an
 * interrupted build's journal already holds, embed the rest (decoding in a
 * second thread), and write the index atomically. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/error.h"
#include "index/decode_queue.h"
#include "index/half.h"
#include "index/index_internal.h"
#include "index/journal.h"
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
} build;

static double seconds_since(const struct timespec *t0) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + 1e-9 * (double)(t.tv_nsec - t0->tv_nsec);
}

static void store(build *b, int64_t src, const float *v) {
    unsigned char *dst = b->vectors + (size_t)src * b->dim * b->elem;
    if (b->opts->dtype == CLIP_INDEX_F16) idx_floats_to_halves(v, (size_t)b->dim, (uint16_t *)dst);
    else memcpy(dst, v, (size_t)b->dim * sizeof(float));
    b->state[src] = SLOT_READY;
}

static void progress(build *b, int64_t failed_now) {
    if (!b->opts->progress) return;
    clip_index_progress p;
    p.total = b->report->total;
    p.failed = b->report->n_failed + failed_now;
    p.done = b->report->embedded + b->report->reused + b->report->resumed + p.failed;
    p.elapsed_s = seconds_since(&b->start);
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

/* Marks sources whose embedding the journal or the previous index already
 * holds (same path, size and mtime). */
static clip_status reuse_known(build *b, clip_index *old) {
    strmap by_text;
    if (!strmap_init(&by_text, (size_t)b->sources.count)) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    for (int64_t i = 0; i < b->sources.count; i++)
        if (!strmap_put(&by_text, b->sources.items[i].text, i)) {
            strmap_free(&by_text);
            return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
        }
    const idx_journal *j = &b->journal;
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

clip_status clip_index_build(clip_model *model, const clip_index_build_options *opts,
                             clip_index_build_report *report) {
    if (!model || !opts || !opts->source || !opts->output || !report || opts->batch < 0 ||
        (opts->kind != CLIP_INDEX_IMAGES && opts->kind != CLIP_INDEX_TEXTS) ||
        (opts->dtype != CLIP_INDEX_F32 && opts->dtype != CLIP_INDEX_F16))
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_index_build: bad arguments");
    memset(report, 0, sizeof *report);
    build b = {.model = model, .opts = opts, .report = report};
    clock_gettime(CLOCK_MONOTONIC, &b.start);
    clip_model_info info;
    clip_status st = clip_model_get_info(model, &info);
    if (st != CLIP_OK) return st;
    b.dim = info.embed_dim;
    b.elem = opts->dtype == CLIP_INDEX_F16 ? 2 : 4;
    int batch = opts->batch > 0 ? opts->batch : 32;
    uint8_t model_id[CLIP_MODEL_ID_BYTES];
    char desc[IDX_MODEL_DESC_BYTES];
    if ((st = clip_model_identity(model, model_id)) != CLIP_OK) return st;
    idx_model_desc(model, desc, sizeof desc);
    if (opts->kind == CLIP_INDEX_TEXTS && !clip_model_tokenizer(model)) return CLIP_ERR_VOCAB;

    st = opts->kind == CLIP_INDEX_IMAGES ? idx_collect_images(opts->source, &b.sources)
                                         : idx_collect_texts(opts->source, &b.sources);
    if (st != CLIP_OK) return st;
    report->total = b.sources.count + b.sources.n_missing;
    for (int64_t i = 0; i < b.sources.n_missing && st == CLIP_OK; i++)
        if (!add_failure(report, b.sources.missing[i], b.sources.missing_reasons[i]))
            st = clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    clip_index *old = NULL;
    if (st == CLIP_OK) st = open_previous(&b, model_id, &old);
    size_t n = (size_t)(b.sources.count ? b.sources.count : 1);
    int64_t *todo = NULL;
    if (st == CLIP_OK) {
        b.vectors = malloc(n * b.dim * b.elem);
        b.state = calloc(n, 1);
        todo = malloc(n * sizeof *todo);
        if (!b.vectors || !b.state || !todo) st = clip_fail(CLIP_ERR_NO_MEMORY, "out of memory for %zu embeddings", n);
    }
    char *journal_path = NULL;
    if (st == CLIP_OK) {
        size_t len = strlen(opts->output) + 9;
        journal_path = malloc(len);
        if (!journal_path) st = clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
        else snprintf(journal_path, len, "%s.journal", opts->output);
    }
    if (st == CLIP_OK) st = idx_journal_open(&b.journal, journal_path, opts->kind, b.dim, model_id);
    if (st == CLIP_OK) {
        b.journal_open = 1;
        st = reuse_known(&b, old);
    }
    clip_index_free(old);
    if (st == CLIP_OK) {
        int64_t n_todo = 0;
        for (int64_t i = 0; i < b.sources.count; i++)
            if (b.state[i] == SLOT_PENDING) todo[n_todo++] = i;
        progress(&b, 0);
        if (n_todo > 0)
            st = opts->kind == CLIP_INDEX_IMAGES ? embed_images(&b, todo, n_todo, batch)
                                                 : embed_texts(&b, todo, n_todo, batch);
        progress(&b, 0);
    }
    if (st == CLIP_OK) st = idx_journal_sync(&b.journal);
    if (st == CLIP_OK) st = write_output(&b, model_id, desc);
    /* The journal outlives a failed build: the next run resumes from it. */
    if (b.journal_open) idx_journal_close(&b.journal, st == CLIP_OK);
    free(journal_path);
    free(todo);
    free(b.vectors);
    free(b.state);
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
    memset(r, 0, sizeof *r);
}
