#include "core/threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

/* A job's tasks are claimed from one atomic word holding the job's number
 * (high 32 bits) and the next task (low 32 bits), so a worker that wakes
 * late, after its job is over, can never take a task of the next job.
 * The caller waits for the job's tasks to be done, not for the workers:
 * a worker the OS has not yet run (on a shared machine, another process
 * holds its core) finds nothing left when it wakes, and the caller, which
 * did those tasks itself, has long moved on. */
struct clip_pool {
    int size;
    pthread_t *threads;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_cond_t done;
    unsigned long generation; /* bumped per job, under the lock */
    int shutting_down;
    clip_task_fn fn; /* the current job, written under the lock */
    void *ctx;
    int n_tasks;
    _Atomic uint64_t cursor; /* job << 32 | next task */
    atomic_int completed;    /* tasks of the current job finished */
};

typedef struct worker_arg {
    clip_pool *pool;
    int index;
} worker_arg;

static void run_tasks(clip_pool *pool, uint32_t job, clip_task_fn fn, void *ctx, int n_tasks, int thread) {
    uint64_t cur = atomic_load(&pool->cursor);
    for (;;) {
        if ((uint32_t)(cur >> 32) != job || (uint32_t)cur >= (uint32_t)n_tasks) return;
        if (!atomic_compare_exchange_weak(&pool->cursor, &cur, cur + 1)) continue; /* cur reloaded */
        fn(ctx, (int)(uint32_t)cur, thread);
        if (atomic_fetch_add(&pool->completed, 1) + 1 == n_tasks) {
            pthread_mutex_lock(&pool->lock);
            pthread_cond_signal(&pool->done);
            pthread_mutex_unlock(&pool->lock);
        }
        cur = atomic_load(&pool->cursor);
    }
}

static void *worker_main(void *raw) {
    worker_arg arg = *(worker_arg *)raw;
    free(raw);
    clip_pool *pool = arg.pool;
    unsigned long seen = 0;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (!pool->shutting_down && pool->generation == seen) pthread_cond_wait(&pool->wake, &pool->lock);
        if (pool->shutting_down) break;
        seen = pool->generation;
        clip_task_fn fn = pool->fn;
        void *ctx = pool->ctx;
        int n_tasks = pool->n_tasks;
        pthread_mutex_unlock(&pool->lock);
        run_tasks(pool, (uint32_t)seen, fn, ctx, n_tasks, arg.index);
        pthread_mutex_lock(&pool->lock);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

int clip_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

clip_pool *clip_pool_create(int n_threads) {
    if (n_threads <= 0) n_threads = clip_cpu_count();
    clip_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return NULL;
    pool->size = n_threads;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pthread_cond_init(&pool->done, NULL);
    atomic_init(&pool->cursor, 0);
    atomic_init(&pool->completed, 0);
    pool->threads = calloc((size_t)n_threads, sizeof(pthread_t));
    if (!pool->threads) {
        clip_pool_destroy(pool);
        return NULL;
    }
    for (int i = 1; i < n_threads; i++) {
        worker_arg *arg = malloc(sizeof *arg);
        if (!arg) {
            pool->size = i;
            break;
        }
        arg->pool = pool;
        arg->index = i;
        if (pthread_create(&pool->threads[i], NULL, worker_main, arg) != 0) {
            free(arg);
            pool->size = i; /* run with the workers we got */
            break;
        }
    }
    return pool;
}

void clip_pool_destroy(clip_pool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->lock);
    pool->shutting_down = 1;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 1; i < pool->size && pool->threads; i++) pthread_join(pool->threads[i], NULL);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->wake);
    pthread_cond_destroy(&pool->done);
    free(pool->threads);
    free(pool);
}

int clip_pool_size(const clip_pool *pool) { return pool ? pool->size : 1; }

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

void clip_pool_run(clip_pool *pool, int n_tasks, clip_task_fn fn, void *ctx) {
    if (n_tasks <= 0) return;
    if (!pool || pool->size == 1 || n_tasks == 1) {
        for (int t = 0; t < n_tasks; t++) fn(ctx, t, 0);
        return;
    }
    pthread_mutex_lock(&pool->lock);
    pool->fn = fn;
    pool->ctx = ctx;
    pool->n_tasks = n_tasks;
    atomic_store(&pool->completed, 0);
    uint32_t job = (uint32_t)++pool->generation;
    atomic_store(&pool->cursor, (uint64_t)job << 32);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    run_tasks(pool, job, fn, ctx, n_tasks, 0);
    /* A task still running on a worker usually ends within microseconds:
     * a short spin saves a sleep and a wake-up; then sleep. */
    for (int spin = 0; spin < 256 && atomic_load(&pool->completed) < n_tasks; spin++) cpu_relax();
    if (atomic_load(&pool->completed) < n_tasks) {
        pthread_mutex_lock(&pool->lock);
        while (atomic_load(&pool->completed) < n_tasks) pthread_cond_wait(&pool->done, &pool->lock);
        pthread_mutex_unlock(&pool->lock);
    }
}
