/* The thread pool: every task runs once whatever the thread count, and a
 * worker that holds a task far longer than the caller's share (as when
 * another process preempts it) sends the pool solo for a while. */
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "core/threadpool.h"
#include "harness.h"

enum { TASKS = 64 };

typedef struct count_job {
    atomic_int runs[TASKS];
    atomic_int bad_thread;
    int threads;
} count_job;

static void count_task(void *raw, int task, int thread) {
    count_job *j = raw;
    atomic_fetch_add(&j->runs[task], 1);
    if (thread < 0 || thread >= j->threads) atomic_fetch_add(&j->bad_thread, 1);
}

static void sleep_ms(double ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)((ms - (double)(time_t)(ms / 1000) * 1000) * 1e6)};
    nanosleep(&ts, NULL);
}

static void spin_ms(double ms) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    do clock_gettime(CLOCK_MONOTONIC, &b);
    while ((b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6 < ms);
}

typedef struct stall_job {
    atomic_int on_worker; /* tasks a worker ran */
} stall_job;

/* The caller's tasks take 1 ms; a worker's task stalls for 40 ms. */
static void stall_task(void *raw, int task, int thread) {
    (void)task;
    stall_job *j = raw;
    if (thread != 0) {
        atomic_fetch_add(&j->on_worker, 1);
        sleep_ms(40);
    } else {
        spin_ms(1);
    }
}

int main(void) {
    int counts[] = {1, 2, 4};
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        clip_pool *pool = clip_pool_create(counts[c]);
        CHECK(pool && clip_pool_size(pool) == counts[c], "pool of %d", counts[c]);
        for (int rep = 0; rep < 200; rep++) {
            count_job job;
            memset(&job, 0, sizeof job);
            job.threads = counts[c];
            int n = 1 + rep % TASKS;
            clip_pool_run(pool, n, count_task, &job);
            int wrong = 0;
            for (int t = 0; t < TASKS; t++) wrong += atomic_load(&job.runs[t]) != (t < n);
            CHECK(wrong == 0 && atomic_load(&job.bad_thread) == 0, "%d threads, %d tasks: %d ran wrongly", counts[c],
                  n, wrong);
        }
        clip_pool_destroy(pool);
    }

    /* A stalled worker: the jobs after it run on the caller alone. */
    clip_pool *pool = clip_pool_create(2);
    CHECK(!clip_pool_solo(pool), "a new pool uses its workers");
    stall_job stall;
    int tries = 0;
    do { /* until the worker takes part (it wakes within the first 1 ms task) */
        /* a try the worker missed sends the pool solo too: wait it out */
        for (int waited = 0; clip_pool_solo(pool) && waited < 1500; waited += 10) sleep_ms(10);
        atomic_store(&stall.on_worker, 0);
        clip_pool_run(pool, 8, stall_task, &stall);
    } while (atomic_load(&stall.on_worker) == 0 && ++tries < 20);
    CHECK(atomic_load(&stall.on_worker) > 0, "the worker took a task");
    CHECK(clip_pool_solo(pool), "after a 40 ms stall the pool runs solo");
    count_job job;
    memset(&job, 0, sizeof job);
    job.threads = 1; /* thread index 0 only while solo */
    clip_pool_run(pool, TASKS, count_task, &job);
    /* Only meaningful if the window (20 ms) had not passed yet by the end
     * of the job (a loaded machine may preempt this thread that long). */
    CHECK(atomic_load(&job.bad_thread) == 0 || !clip_pool_solo(pool), "solo jobs run on the caller only");
    /* The window is 20 ms after one stall, longer after several in a row
     * (up to 1 s): then the workers are tried again. */
    int waited = 0;
    while (clip_pool_solo(pool) && waited < 1500) sleep_ms(10), waited += 10;
    CHECK(!clip_pool_solo(pool), "the workers are tried again after the window");
    clip_pool_destroy(pool);
    return test_finish("test_threadpool");
}
