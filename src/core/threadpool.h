/* A fixed pool of worker threads that sleep on a condition variable while
 * idle. Unlike OpenMP's default spin-waiting, idle workers cost no CPU time,
 * so clip.c never steals cycles from other processes on a shared machine. */
#ifndef CLIP_CORE_THREADPOOL_H
#define CLIP_CORE_THREADPOOL_H

typedef struct clip_pool clip_pool;
/* fn(ctx, task_index, thread_index), thread_index < clip_pool_size(). */
typedef void (*clip_task_fn)(void *ctx, int task, int thread);

/* n_threads <= 0 means one per online core. */
clip_pool *clip_pool_create(int n_threads);
void clip_pool_destroy(clip_pool *pool);
int clip_pool_size(const clip_pool *pool);
/* Runs tasks 0..n_tasks-1 across the pool (the caller works too) and
 * returns when all are done. Not reentrant: tasks must not call it. */
void clip_pool_run(clip_pool *pool, int n_tasks, clip_task_fn fn, void *ctx);
/* Whether jobs run on the caller alone for now: a worker stalled a recent
 * job (preempted by another process while it held a task), see
 * threadpool.c. For tests and diagnostics. */
int clip_pool_solo(const clip_pool *pool);
/* Online cores, at least 1. */
int clip_cpu_count(void);

#endif
