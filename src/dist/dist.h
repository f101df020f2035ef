/* Data parallelism across processes. With MPI (built with CLIP_HAVE_MPI and
 * started by an MPI launcher: mpirun, mpiexec, srun) the collectives run
 * over MPI_COMM_WORLD; otherwise this is one process of a world of one and
 * every collective is a copy or a no-op, so callers need no #ifdefs.
 *
 * All collectives are blocking and must be called by every rank in the same
 * order with the same counts; only the thread that called dist_init may call
 * them (MPI_THREAD_FUNNELED: the thread pool's workers never do). */
#ifndef CLIP_DIST_DIST_H
#define CLIP_DIST_DIST_H
#include <stddef.h>
#include <stdint.h>

#include "clip.h"

/* Starts MPI when the process was launched by an MPI launcher (detected
 * from the launcher's environment), once; later calls return at once. A
 * build without MPI started by a launcher with more than one process fails
 * here with a clear message instead of every rank doing the whole job. */
clip_status dist_init(void);
/* Shuts MPI down (registered with atexit by dist_init; safe to call twice). */
void dist_finalize(void);
/* Ends every rank: a failure on one rank would otherwise leave the others
 * waiting in a collective forever. Returns only when the world is 1. */
void dist_abort(int exit_code);

/* A command whose ranks all know its outcome (they exchanged their
 * statuses) marks it, so that a failing exit status ends the ranks normally
 * instead of through dist_abort's MPI_Abort. */
void dist_set_exit_agreed(void);
int dist_exit_agreed(void);

int dist_rank(void);
int dist_size(void);
/* 1 when built with MPI support (whether or not this run uses it). */
int dist_available(void);

/* global[rank * count + i] = local_of_rank[i]; global may not alias local. */
clip_status dist_allgather_f32(const float *local, size_t count, float *global);
clip_status dist_allgather_i32(const int32_t *local, size_t count, int32_t *global);
/* Element-wise sum over ranks, in place. */
clip_status dist_allreduce_sum_f32(float *data, size_t count);
clip_status dist_allreduce_sum_f64(double *data, size_t count);
clip_status dist_allreduce_max_i64(int64_t *data, size_t count);
/* Copies `bytes` of root's buffer into every rank's. */
clip_status dist_broadcast(void *data, size_t bytes, int root);
clip_status dist_barrier(void);
/* Point to point, for merging per-rank results on rank 0. */
clip_status dist_send(const void *data, size_t bytes, int to, int tag);
clip_status dist_recv(void *data, size_t bytes, int from, int tag);

/* The half-open range [begin, end) of n items owned by `rank` when they are
 * split into dist_size() contiguous blocks whose sizes differ by at most 1. */
void dist_block_range(int64_t n, int rank, int size, int64_t *begin, int64_t *end);

#endif
