#include "core/threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
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
    /* Stall guard (the caller's alone): until `solo_until` (monotonic ns)
     * jobs run on the caller only; `solo_window` is the next such span. */
    int64_t solo_until, solo_window;
};

/* The first stall keeps the workers out for this long; each stall in a
 * row doubles it, up to SOLO_MAX (a job that runs in parallel without
 * stalling starts over). */
#define SOLO_FIRST_NS ((int64_t)20 * 1000 * 1000)
#define SOLO_MAX_NS ((int64_t)1000 * 1000 * 1000)

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

typedef struct worker_arg {
    clip_pool *pool;
    int index;
} worker_arg;

/* Runs tasks of the job until none is left; returns how many it ran. */
static int run_tasks(clip_pool *pool, uint32_t job, clip_task_fn fn, void *ctx, int n_tasks, int thread) {
    uint64_t cur = atomic_load(&pool->cursor);
    for (int ran = 0;;) {
        if ((uint32_t)(cur >> 32) != job || (uint32_t)cur >= (uint32_t)n_tasks) return ran;
        if (!atomic_compare_exchange_weak(&pool->cursor, &cur, cur + 1)) continue; /* cur reloaded */
        fn(ctx, (int)(uint32_t)cur, thread);
        ran++;
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

/* When another process takes the workers' cores, the workers either get
 * no CPU in time (the caller does every task itself, through a plan made
 * for several threads, which costs it 10-15% more than one thread's) or
 * are preempted while they hold a task (the caller then waits a scheduler
 * time slice, milliseconds, for work it could have done in microseconds):
 * 2 threads ran at 0.85-0.95x of 1 beside a CPU-bound process. So a job
 * of more than 0.2 ms where the caller ran every task, or whose last task
 * came back much later than the caller's own share took (more than twice
 * that plus 0.1 ms), sends the pool solo: the caller runs the following
 * jobs alone, and the ops plan for one thread (clip_pool_solo), for a
 * while; then it tries the workers again. Results do not change: the
 * tasks are the same either way. */
static void note_job(clip_pool *pool, int workers_absent, int64_t own_ns, int64_t wait_ns, int64_t end_ns) {
    int stalled = (workers_absent && own_ns > 200000) || wait_ns > 2 * own_ns + 100000;
    if (stalled) {
        pool->solo_window = pool->solo_window ? pool->solo_window * 2 : SOLO_FIRST_NS;
        if (pool->solo_window > SOLO_MAX_NS) pool->solo_window = SOLO_MAX_NS;
        pool->solo_until = end_ns + pool->solo_window;
    } else if (!workers_absent) {
        pool->solo_window = 0; /* they took part and were on time */
    }
}

int clip_pool_solo(const clip_pool *pool) { return pool && pool->solo_until > now_ns(); }

void clip_pool_run(clip_pool *pool, int n_tasks, clip_task_fn fn, void *ctx) {
    if (n_tasks <= 0) return;
    if (!pool || pool->size == 1 || n_tasks == 1 || (pool->solo_until && clip_pool_solo(pool))) {
        for (int t = 0; t < n_tasks; t++) fn(ctx, t, 0);
        return;
    }
    int64_t start = now_ns();
    pthread_mutex_lock(&pool->lock);
    pool->fn = fn;
    pool->ctx = ctx;
    pool->n_tasks = n_tasks;
    atomic_store(&pool->completed, 0);
    uint32_t job = (uint32_t)++pool->generation;
    atomic_store(&pool->cursor, (uint64_t)job << 32);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    int mine = run_tasks(pool, job, fn, ctx, n_tasks, 0);
    int64_t own_end = now_ns();
    if (atomic_load(&pool->completed) == n_tasks) {
        note_job(pool, mine == n_tasks, own_end - start, 0, own_end);
        return;
    }
    /* A task still running on a worker usually ends within microseconds:
     * a short spin saves a sleep and a wake-up; then sleep. */
    for (int spin = 0; spin < 256 && atomic_load(&pool->completed) < n_tasks; spin++) cpu_relax();
    if (atomic_load(&pool->completed) < n_tasks) {
        pthread_mutex_lock(&pool->lock);
        while (atomic_load(&pool->completed) < n_tasks) pthread_cond_wait(&pool->done, &pool->lock);
        pthread_mutex_unlock(&pool->lock);
    }
    int64_t end = now_ns();
    note_job(pool, mine == n_tasks, own_end - start, end - own_end, end);
}
