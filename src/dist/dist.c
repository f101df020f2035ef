/* The two worlds behind dist.h: MPI_COMM_WORLD, or a single process. */
#include "dist/dist.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"

#ifdef CLIP_HAVE_MPI
#include <mpi.h>
#endif

static int world_rank = 0, world_size = 1, started = 0;

/* Ranks and world size as the common launchers export them: OpenMPI's
 * mpirun, PMIx (srun --mpi=pmix), and PMI/PMI-2 (MPICH's hydra, srun). */
static int launcher_world_size(void) {
    const char *names[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE", "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = getenv(names[i]);
        if (v && *v) return atoi(v);
    }
    /* PMIx launchers may set only the rank; that still means "under a launcher". */
    if (getenv("PMIX_RANK") || getenv("OMPI_COMM_WORLD_RANK")) return -1;
    return 0;
}

int dist_available(void) {
#ifdef CLIP_HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

static int exit_agreed = 0;
void dist_set_exit_agreed(void) { exit_agreed = 1; }
int dist_exit_agreed(void) { return exit_agreed; }

int dist_rank(void) { return world_rank; }
int dist_size(void) { return world_size; }

void dist_block_range(int64_t n, int rank, int size, int64_t *begin, int64_t *end) {
    int64_t base = n / size, extra = n % size;
    *begin = rank * base + (rank < extra ? rank : extra);
    *end = *begin + base + (rank < extra ? 1 : 0);
}

#ifdef CLIP_HAVE_MPI

static int mpi_running = 0;

static clip_status mpi_fail(int code, const char *what) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(code, text, &len);
    return clip_fail(CLIP_ERR_IO, "MPI %s failed on rank %d: %.*s", what, world_rank, len, text);
}

clip_status dist_init(void) {
    if (started) return CLIP_OK;
    started = 1;
    if (launcher_world_size() == 0) return CLIP_OK;
    int provided = 0;
    int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) return clip_fail(CLIP_ERR_IO, "MPI_Init_thread failed (code %d)", rc);
    mpi_running = 1;
    /* Errors come back as codes we turn into messages, not as aborts. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    atexit(dist_finalize);
    return CLIP_OK;
}

void dist_finalize(void) {
    if (!mpi_running) return;
    mpi_running = 0;
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
}

void dist_abort(int exit_code) {
    if (mpi_running && world_size > 1) MPI_Abort(MPI_COMM_WORLD, exit_code);
}

/* MPI counts are ints: large buffers go in pieces of at most INT_MAX / 8 elements. */
#define CHUNK ((size_t)INT_MAX / 8)

static double seconds_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Completes a non-blocking operation without OpenMPI's busy wait: its
 * blocking calls spin on a core while they wait for a slower rank, and on
 * a shared machine that core is the one the slower rank (or another job)
 * needs: a 2-rank run with another process on the machine waited 200-450 ms
 * per all-reduce instead of 6. Test continuously for the first 2 ms (a
 * transfer in progress needs MPI calls to move on), then between sleeps
 * that grow to 1 ms. */
static clip_status wait_for(MPI_Request *request, const char *what) {
    double start = seconds_now();
    long pause_ns = 20000;
    for (;;) {
        int done = 0;
        int rc = MPI_Test(request, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, what);
        if (done) return CLIP_OK;
        if (seconds_now() - start < 2e-3) continue;
        struct timespec pause = {0, pause_ns};
        nanosleep(&pause, NULL);
        if (pause_ns < 1000000) pause_ns *= 2;
    }
}

static clip_status allgather(const void *local, size_t count, size_t elem, MPI_Datatype type, void *global) {
    if (world_size == 1) {
        memmove(global, local, count * elem);
        return CLIP_OK;
    }
    if (count <= CHUNK) {
        MPI_Request request;
        int rc = MPI_Iallgather(local, (int)count, type, global, (int)count, type, MPI_COMM_WORLD, &request);
        return rc == MPI_SUCCESS ? wait_for(&request, "Allgather") : mpi_fail(rc, "Allgather");
    }
    /* Rare (over 268 M elements per rank): gather piecewise through a staging buffer. */
    char *stage = malloc(CHUNK * elem * (size_t)world_size);
    if (!stage) return clip_fail(CLIP_ERR_NO_MEMORY, "MPI allgather: out of memory");
    for (size_t at = 0; at < count; at += CHUNK) {
        size_t n = count - at < CHUNK ? count - at : CHUNK;
        MPI_Request request;
        int rc = MPI_Iallgather((const char *)local + at * elem, (int)n, type, stage, (int)n, type, MPI_COMM_WORLD,
                                &request);
        clip_status st = rc == MPI_SUCCESS ? wait_for(&request, "Allgather") : mpi_fail(rc, "Allgather");
        if (st != CLIP_OK) {
            free(stage);
            return st;
        }
        for (int r = 0; r < world_size; r++)
            memcpy((char *)global + ((size_t)r * count + at) * elem, stage + (size_t)r * n * elem, n * elem);
    }
    free(stage);
    return CLIP_OK;
}

static clip_status allreduce(void *data, size_t count, size_t elem, MPI_Datatype type, MPI_Op op) {
    if (world_size == 1) return CLIP_OK;
    for (size_t at = 0; at < count; at += CHUNK) {
        size_t n = count - at < CHUNK ? count - at : CHUNK;
        MPI_Request request;
        int rc = MPI_Iallreduce(MPI_IN_PLACE, (char *)data + at * elem, (int)n, type, op, MPI_COMM_WORLD, &request);
        clip_status st = rc == MPI_SUCCESS ? wait_for(&request, "Allreduce") : mpi_fail(rc, "Allreduce");
        if (st != CLIP_OK) return st;
    }
    return CLIP_OK;
}

clip_status dist_allgather_f32(const float *local, size_t count, float *global) {
    return allgather(local, count, sizeof(float), MPI_FLOAT, global);
}
clip_status dist_allgather_i32(const int32_t *local, size_t count, int32_t *global) {
    return allgather(local, count, sizeof(int32_t), MPI_INT32_T, global);
}
clip_status dist_allreduce_sum_f32(float *data, size_t count) {
    return allreduce(data, count, sizeof(float), MPI_FLOAT, MPI_SUM);
}
clip_status dist_allreduce_sum_f64(double *data, size_t count) {
    return allreduce(data, count, sizeof(double), MPI_DOUBLE, MPI_SUM);
}
clip_status dist_allreduce_max_i64(int64_t *data, size_t count) {
    return allreduce(data, count, sizeof(int64_t), MPI_INT64_T, MPI_MAX);
}

clip_status dist_broadcast(void *data, size_t bytes, int root) {
    if (world_size == 1) return CLIP_OK;
    for (size_t at = 0; at < bytes; at += CHUNK) {
        size_t n = bytes - at < CHUNK ? bytes - at : CHUNK;
        MPI_Request request;
        int rc = MPI_Ibcast((char *)data + at, (int)n, MPI_BYTE, root, MPI_COMM_WORLD, &request);
        clip_status st = rc == MPI_SUCCESS ? wait_for(&request, "Bcast") : mpi_fail(rc, "Bcast");
        if (st != CLIP_OK) return st;
    }
    return CLIP_OK;
}

/* Ranks wait here while rank 0 evaluates or writes, possibly for minutes:
 * asleep (wait_for), not spinning on a core rank 0 needs. */
clip_status dist_barrier(void) {
    if (world_size == 1) return CLIP_OK;
    MPI_Request request;
    int rc = MPI_Ibarrier(MPI_COMM_WORLD, &request);
    return rc == MPI_SUCCESS ? wait_for(&request, "Barrier") : mpi_fail(rc, "Ibarrier");
}

clip_status dist_send(const void *data, size_t bytes, int to, int tag) {
    for (size_t at = 0; at < bytes || at == 0; at += CHUNK) {
        size_t n = bytes - at < CHUNK ? bytes - at : CHUNK;
        MPI_Request request;
        int rc = MPI_Isend((const char *)data + at, (int)n, MPI_BYTE, to, tag, MPI_COMM_WORLD, &request);
        clip_status st = rc == MPI_SUCCESS ? wait_for(&request, "Send") : mpi_fail(rc, "Send");
        if (st != CLIP_OK) return st;
        if (bytes == 0) break;
    }
    return CLIP_OK;
}

clip_status dist_recv(void *data, size_t bytes, int from, int tag) {
    for (size_t at = 0; at < bytes || at == 0; at += CHUNK) {
        size_t n = bytes - at < CHUNK ? bytes - at : CHUNK;
        MPI_Request request;
        int rc = MPI_Irecv((char *)data + at, (int)n, MPI_BYTE, from, tag, MPI_COMM_WORLD, &request);
        clip_status st = rc == MPI_SUCCESS ? wait_for(&request, "Recv") : mpi_fail(rc, "Recv");
        if (st != CLIP_OK) return st;
        if (bytes == 0) break;
    }
    return CLIP_OK;
}

#else /* a world of one */

clip_status dist_init(void) {
    if (started) return CLIP_OK;
    started = 1;
    int size = launcher_world_size();
    if (size > 1 || size < 0)
        return clip_fail(CLIP_ERR_UNSUPPORTED,
                         "started by an MPI launcher, but this clip was built without MPI: every rank would do the "
                         "whole job. Install libopenmpi-dev and rebuild (cmake finds MPI by itself), or run without "
                         "mpirun");
    return CLIP_OK;
}
void dist_finalize(void) {}
void dist_abort(int exit_code) { (void)exit_code; }

clip_status dist_allgather_f32(const float *local, size_t count, float *global) {
    memmove(global, local, count * sizeof *global);
    return CLIP_OK;
}
clip_status dist_allgather_i32(const int32_t *local, size_t count, int32_t *global) {
    memmove(global, local, count * sizeof *global);
    return CLIP_OK;
}
clip_status dist_allreduce_sum_f32(float *data, size_t count) { (void)data, (void)count; return CLIP_OK; }
clip_status dist_allreduce_sum_f64(double *data, size_t count) { (void)data, (void)count; return CLIP_OK; }
clip_status dist_allreduce_max_i64(int64_t *data, size_t count) { (void)data, (void)count; return CLIP_OK; }
clip_status dist_broadcast(void *data, size_t bytes, int root) { (void)data, (void)bytes, (void)root; return CLIP_OK; }
clip_status dist_barrier(void) { return CLIP_OK; }
clip_status dist_send(const void *data, size_t bytes, int to, int tag) {
    (void)data, (void)bytes, (void)to, (void)tag;
    return clip_fail(CLIP_ERR_UNSUPPORTED, "dist_send: a world of one process has no one to send to");
}
clip_status dist_recv(void *data, size_t bytes, int from, int tag) {
    (void)data, (void)bytes, (void)from, (void)tag;
    return clip_fail(CLIP_ERR_UNSUPPORTED, "dist_recv: a world of one process has no one to receive from");
}

#endif
