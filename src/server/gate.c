#include "server/gate.h"

#include <errno.h>
#include <time.h>

void gate_init(gate *g, int max_waiting, int wait_ms) {
    pthread_mutex_init(&g->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* immune to wall-clock jumps */
    pthread_cond_init(&g->freed, &attr);
    pthread_condattr_destroy(&attr);
    g->busy = g->waiting = 0;
    g->max_waiting = max_waiting;
    g->wait_ms = wait_ms;
    g->admitted = g->rejected = 0;
}

void gate_destroy(gate *g) {
    pthread_mutex_destroy(&g->lock);
    pthread_cond_destroy(&g->freed);
}

gate_result gate_enter(gate *g) {
    pthread_mutex_lock(&g->lock);
    if (g->busy && g->waiting >= g->max_waiting) {
        g->rejected++;
        pthread_mutex_unlock(&g->lock);
        return GATE_QUEUE_FULL;
    }
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += g->wait_ms / 1000;
    deadline.tv_nsec += (long)(g->wait_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    g->waiting++;
    int timed_out = 0;
    while (g->busy && !timed_out)
        timed_out = pthread_cond_timedwait(&g->freed, &g->lock, &deadline) == ETIMEDOUT && g->busy;
    g->waiting--;
    if (timed_out) {
        g->rejected++;
        pthread_mutex_unlock(&g->lock);
        return GATE_TIMEOUT;
    }
    g->busy = 1;
    g->admitted++;
    pthread_mutex_unlock(&g->lock);
    return GATE_ADMITTED;
}

void gate_leave(gate *g) {
    pthread_mutex_lock(&g->lock);
    g->busy = 0;
    pthread_cond_signal(&g->freed);
    pthread_mutex_unlock(&g->lock);
}
