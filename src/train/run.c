/* The training loop: data on a loader thread, forward + backward with the
 * trainer, AdamW with open_clip's schedule, periodic evaluation and
 * checkpoints, and exact resumption from RUNDIR. */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "dist/dist.h"
#include "train/adamw.h"
#include "train/loader.h"
#include "train/run.h"

void train_config_defaults(train_config *c) {
    memset(c, 0, sizeof *c);
    c->batch_size = 256;
    c->accum = 1;
    c->epochs = 1;
    c->lr = 5e-4;
    c->weight_decay = 0.2;
    c->beta1 = 0.9;
    c->beta2 = 0.98;
    c->eps = 1e-6;
    c->grad_clip = 0;
    c->warmup = -1; /* 5% of the steps */
    c->scale_lo = 0.9f;
    c->scale_hi = 1.0f;
    c->eval_items = 0;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- the run's configuration, kept in RUNDIR/config.json for --resume ---- */

#define CONFIG_FIELDS(X)                                                                                          \
    X(batch_size, int) X(accum, int) X(threads, int) X(steps, i64) X(epochs, dbl) X(lr, dbl) X(weight_decay, dbl) \
    X(beta1, dbl) X(beta2, dbl) X(eps, dbl) X(grad_clip, dbl) X(warmup, i64) X(lock_image, int) X(lock_text, int) \
    X(bn_eval, int) X(class_aware, int) X(bf16, int) X(seed, u64) X(eval_every, i64) X(checkpoint_every, i64)                   \
    X(eval_items, int) X(scale_lo, flt) X(scale_hi, flt)

static clip_status save_config(const train_config *c, const char *path) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", c->model);
    cJSON_AddStringToObject(j, "data", c->data);
    cJSON_AddStringToObject(j, "eval_data", c->eval_data);
#define ADD(name, kind) cJSON_AddNumberToObject(j, #name, (double)c->name);
    CONFIG_FIELDS(ADD)
#undef ADD
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    if (!text) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    clip_status st = atomic_write_buffer(path, text, strlen(text));
    free(text);
    return st;
}

static clip_status load_config(train_config *c, const char *path) {
    FILE *fp = fopen(path, "r");
    if (!fp) return clip_fail(CLIP_ERR_IO, "%s: cannot open (not a run folder?)", path);
    char text[1 << 16];
    size_t len = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    text[len] = '\0';
    cJSON *j = cJSON_Parse(text);
    if (!j) return clip_fail(CLIP_ERR_FORMAT, "%s: not JSON", path);
    char out_dir[4096];
    snprintf(out_dir, sizeof out_dir, "%s", c->out_dir);
    int threads = c->threads;
    train_config_defaults(c);
    snprintf(c->out_dir, sizeof c->out_dir, "%s", out_dir);
    const cJSON *v;
#define STR(name)                                                                                                 \
    if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(j, #name))) snprintf(c->name, sizeof c->name, "%s", v->valuestring);
    STR(model) STR(data) STR(eval_data)
#undef STR
#define GET(name, kind) \
    if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(j, #name))) c->name = (__typeof__(c->name))v->valuedouble;
    CONFIG_FIELDS(GET)
#undef GET
    if (threads > 0) c->threads = threads; /* the machine may differ; the numbers do not depend on it */
    cJSON_Delete(j);
    return CLIP_OK;
}

/* Keeps the log lines of steps <= last_step (the rest is redone). */
static void trim_log(const char *path, int64_t last_step) {
    FILE *in = fopen(path, "r");
    if (!in) return;
    atomic_file af;
    if (atomic_file_open(&af, path) != CLIP_OK) {
        fclose(in);
        return;
    }
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, in) > 0) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *step = cJSON_GetObjectItemCaseSensitive(j, "step");
        if (!cJSON_IsNumber(step) || step->valuedouble <= (double)last_step) fputs(line, af.fp);
        cJSON_Delete(j);
    }
    free(line);
    fclose(in);
    atomic_file_commit(&af);
}

typedef struct run_state {
    const train_config *cfg;
    clip_model *model;
    clip_trainer *trainer;
    adamw *opt;
    clip_data *data, *eval;
    FILE *log;
    char path[4][4200]; /* checkpoint, model, log, plot */
    int rank, world;    /* data-parallel ranks (src/dist); rank 0 writes and evaluates */
} run_state;

static void log_line(run_state *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_line(run_state *r, const char *fmt, ...) {
    if (r->rank != 0) return;
    char line[1024];
    va_list args;
    va_start(args, fmt);
    vsnprintf(line, sizeof line, fmt, args);
    va_end(args);
    fprintf(r->log, "%s\n", line);
    fflush(r->log);
    printf("%s\n", line);
    fflush(stdout);
}

static clip_status evaluate(run_state *r, int64_t step, int final) {
    if (!r->eval) return CLIP_OK; /* rank 0 only */
    eval_result zs, ret;
    int items = final ? 0 : r->cfg->eval_items;
    double t0 = now_seconds();
    clip_status st = clip_eval_zeroshot(r->model, r->eval, NULL, items, &zs);
    if (st == CLIP_OK) st = clip_eval_retrieval(r->model, r->eval, 1000, &ret);
    if (st != CLIP_OK) return st;
    log_line(r,
             "{\"step\": %lld, \"eval\": %s, \"items\": %lld, \"zeroshot_top1\": %.4f, \"zeroshot_top5\": %.4f, "
             "\"i2t_recall\": [%.4f, %.4f, %.4f], \"t2i_recall\": [%.4f, %.4f, %.4f], \"seconds\": %.1f}",
             (long long)step, final ? "\"final\"" : "\"periodic\"", (long long)zs.items, zs.top1, zs.top5,
             ret.i2t_recall[0], ret.i2t_recall[1], ret.i2t_recall[2], ret.t2i_recall[0], ret.t2i_recall[1],
             ret.t2i_recall[2], now_seconds() - t0);
    return CLIP_OK;
}

static void progress(const run_state *r, int64_t step, int64_t total, double loss, double rate) {
    if (r->rank != 0 || !isatty(STDERR_FILENO)) return;
    int width = 30, filled = (int)(width * (double)step / total);
    double eta = rate > 0 ? (double)(total - step) / rate : 0;
    fprintf(stderr, "\r[%.*s%*s] %lld/%lld loss %.4f  %.0f steps/min  ETA %.0fs ", filled,
            "##############################", width - filled, "", (long long)step, (long long)total, loss,
            rate * 60, eta);
    if (step == total) fputc('\n', stderr);
}

static clip_status train_loop(run_state *r, int64_t start, int64_t total) {
    const train_config *c = r->cfg;
    int B = c->batch_size, local = B / r->world;
    batch_loader loader;
    int64_t micro_total = total * c->accum, micro_start = start * c->accum;
    clip_status st = batch_loader_start(&loader, r->model, r->data, B, r->rank * local, local, c->seed, micro_start,
                                        micro_total, c->scale_lo, c->scale_hi);
    if (st != CLIP_OK) return st;
    size_t n_params;
    train_param *params = clip_trainer_params(r->trainer, &n_params);
    int64_t warmup = c->warmup >= 0 ? c->warmup : total / 20;
    double window_start = now_seconds(), loss_sum = 0, reduce_seconds = 0;
    int window_steps = 0;
    for (int64_t step = start; step < total && st == CLIP_OK; step++) {
        clip_trainer_zero_grad(r->trainer);
        double loss = 0;
        for (int a = 0; a < c->accum && st == CLIP_OK; a++) {
            train_batch *b;
            st = batch_loader_wait(&loader, step * c->accum + a, &b);
            float l = 0;
            if (st == CLIP_OK)
                st = clip_trainer_forward_backward_labeled(r->trainer, b->pixels, b->tokens,
                                                           c->class_aware && b->labels[0] >= 0 ? b->labels : NULL,
                                                           local, &l, NULL);
            if (st == CLIP_OK) batch_loader_release(&loader, b);
            loss += l / c->accum;
        }
        double reduce_start = now_seconds();
        if (st == CLIP_OK) st = clip_trainer_reduce_gradients(r->trainer);
        reduce_seconds += now_seconds() - reduce_start;
        if (st != CLIP_OK) break;
        if (c->accum > 1) grad_scale(params, n_params, 1.0f / c->accum);
        double norm = grad_clip_norm(params, n_params, c->grad_clip);
        double lr = lr_cosine(c->lr, warmup, total, step);
        adamw_step(r->opt, lr);
        clip_trainer_params_updated(r->trainer);
        loss_sum += loss;
        window_steps++;
        int64_t done = step + 1;
        double elapsed = now_seconds() - window_start;
        if (done % 10 == 0 || done == total) {
            clip_model_info info;
            clip_model_get_info(r->model, &info);
            /* With ranks: the gradient all-reduce's share (it includes waiting for the slowest rank). */
            char comm[64] = "";
            if (r->world > 1) snprintf(comm, sizeof comm, ", \"allreduce_ms\": %.1f", 1e3 * reduce_seconds / window_steps);
            log_line(r,
                     "{\"step\": %lld, \"epoch\": %.3f, \"loss\": %.5f, \"logit_scale\": %.4f, \"lr\": %.6g, "
                     "\"grad_norm\": %.4g, \"samples_per_s\": %.1f%s}",
                     (long long)done, (double)done * c->accum * B / clip_data_size(r->data), loss_sum / window_steps,
                     info.logit_scale, lr, norm, window_steps * (double)c->accum * B / elapsed, comm);
            progress(r, done, total, loss_sum / window_steps, window_steps / elapsed);
            window_start = now_seconds();
            loss_sum = 0;
            reduce_seconds = 0;
            window_steps = 0;
        }
        int checkpoint = c->checkpoint_every > 0 && done % c->checkpoint_every == 0 && done < total;
        int eval = c->eval_every > 0 && done % c->eval_every == 0 && done < total;
        if (checkpoint && r->rank == 0) st = train_checkpoint_write(r->trainer, r->opt, done, r->path[0], 1);
        if (st == CLIP_OK && eval) st = evaluate(r, done, 0);
        /* The other ranks wait asleep rather than spinning in the next step's gather. */
        if (st == CLIP_OK && (checkpoint || eval)) st = dist_barrier();
    }
    batch_loader_stop(&loader);
    return st;
}

clip_status clip_train_run(const train_config *given, int resume) {
    train_config cfg = *given;
    run_state r = {.cfg = &cfg, .rank = dist_rank(), .world = dist_size()};
    int lead = r.rank == 0;
    char config_path[4200];
    snprintf(config_path, sizeof config_path, "%s/config.json", cfg.out_dir);
    const char *names[4] = {"checkpoint.safetensors", "model.safetensors", "log.jsonl", "curves.svg"};
    for (int i = 0; i < 4; i++) snprintf(r.path[i], sizeof r.path[i], "%s/%s", cfg.out_dir, names[i]);
    clip_status st = CLIP_OK;
    int64_t start = 0;
    if (resume) {
        st = load_config(&cfg, config_path);
        if (st == CLIP_OK && access(r.path[0], R_OK) != 0) resume = 0; /* killed before the first checkpoint */
    } else if (lead && mkdir(cfg.out_dir, 0755) != 0 && errno != EEXIST) {
        st = clip_fail(CLIP_ERR_IO, "%s: cannot create the run folder", cfg.out_dir);
    }
    if (st == CLIP_OK && cfg.batch_size % r.world != 0)
        st = clip_fail(CLIP_ERR_INVALID_ARGUMENT,
                       "training: the batch size %d (the global batch) must be a multiple of the %d ranks",
                       cfg.batch_size, r.world);
    if (st == CLIP_OK && !resume && lead) st = save_config(&cfg, config_path);
    if (st == CLIP_OK) {
        clip_load_options lo = {.n_threads = cfg.threads};
        st = clip_model_load(resume ? r.path[0] : cfg.model, &lo, &r.model);
    }
    if (st == CLIP_OK) st = clip_data_open(cfg.data, NULL, &r.data);
    if (st == CLIP_OK && cfg.eval_data[0] && lead) st = clip_data_open(cfg.eval_data, NULL, &r.eval);
    if (st == CLIP_OK) {
        clip_trainer_options to = {.bn_train = !cfg.bn_eval, .lock_image = cfg.lock_image, .lock_text = cfg.lock_text,
                                   .data_parallel = 1, .bf16_matmul = cfg.bf16};
        st = clip_trainer_create(r.model, &to, &r.trainer);
    }
    if (st == CLIP_OK) st = clip_trainer_broadcast_parameters(r.trainer);
    if (st == CLIP_OK) {
        size_t n;
        train_param *params = clip_trainer_params(r.trainer, &n);
        adamw_options ao = {cfg.beta1, cfg.beta2, cfg.eps, cfg.weight_decay};
        st = adamw_create(params, n, &ao, &r.opt);
    }
    if (st == CLIP_OK && resume) st = train_checkpoint_restore_optimizer(r.opt, r.path[0], &start);
    int64_t steps_per_epoch = r.data ? clip_data_size(r.data) / ((int64_t)cfg.batch_size * cfg.accum) : 0;
    int64_t total = cfg.steps > 0 ? cfg.steps : (int64_t)llround(cfg.epochs * (double)steps_per_epoch);
    if (st == CLIP_OK && total < 1) st = clip_fail(CLIP_ERR_INVALID_ARGUMENT, "training: no steps to run");
    if (st == CLIP_OK && lead) {
        if (resume) trim_log(r.path[2], start);
        else unlink(r.path[2]);
        r.log = fopen(r.path[2], "a");
        if (!r.log) st = clip_fail(CLIP_ERR_IO, "%s: cannot write", r.path[2]);
    }
    if (st == CLIP_OK) {
        clip_model_info info;
        clip_model_get_info(r.model, &info);
        log_line(&r,
                 "{\"event\": \"%s\", \"from_step\": %lld, \"steps\": %lld, \"batch_size\": %d, \"accum\": %d, "
                 "\"items\": %lld, \"parameters\": %llu, \"threads\": %d, \"ranks\": %d, "
                 "\"precision\": \"%s\"}",
                 resume ? "resume" : "start", (long long)start, (long long)total, cfg.batch_size, cfg.accum,
                 (long long)clip_data_size(r.data), (unsigned long long)info.n_parameters, cfg.threads, r.world,
                 cfg.bf16 ? "bf16" : "f32");
        double t0 = now_seconds();
        st = train_loop(&r, start, total);
        if (st == CLIP_OK && lead) {
            log_line(&r, "{\"event\": \"done\", \"steps\": %lld, \"train_seconds\": %.1f}", (long long)total,
                     now_seconds() - t0);
            st = train_checkpoint_write(r.trainer, r.opt, total, r.path[0], 1);
            if (st == CLIP_OK) st = train_checkpoint_write(r.trainer, r.opt, total, r.path[1], 0);
            if (st == CLIP_OK) st = evaluate(&r, total, 1);
            if (st == CLIP_OK) st = train_plot_svg(r.path[2], r.path[3]);
        }
        /* The ranks finish together, asleep, while rank 0 writes and evaluates. */
        if (st == CLIP_OK) st = dist_barrier();
    }
    if (r.log) fclose(r.log);
    adamw_free(r.opt);
    clip_trainer_free(r.trainer);
    clip_data_close(r.data);
    clip_data_close(r.eval);
    clip_model_free(r.model);
    return st;
}
