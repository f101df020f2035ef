/* Admission control for inference: one request runs on the model at a
 * time (the model already spreads each call over every core, and it is not
 * reentrant), up to `max_waiting` more wait their turn for at most
 * `wait_ms`, and anything beyond is turned away at once with 503 rather
 * than piling up threads and memory. */
#ifndef CLIP_SERVER_GATE_H
#define CLIP_SERVER_GATE_H
#include <pthread.h>

typedef struct gate {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    int busy, waiting, max_waiting, wait_ms;
    unsigned long long admitted, rejected;
} gate;

typedef enum gate_result { GATE_ADMITTED = 0, GATE_QUEUE_FULL, GATE_TIMEOUT } gate_result;

void gate_init(gate *g, int max_waiting, int wait_ms);
void gate_destroy(gate *g);
gate_result gate_enter(gate *g);
void gate_leave(gate *g);

#endif
