/* The ops' one failure: scratch they cannot allocate. They have no status
 * return (the towers call them in long chains), so an op that cannot get
 * its memory skips its work and records the failure here; the tower's entry
 * point checks once per pass (nn_take_failure) and returns an error
 * instead of features. Thread-local: the ops allocate on the calling
 * thread, before any work is handed to the pool. */
#include "nn/nn.h"

static _Thread_local size_t failed_bytes;

void nn_note_failure(size_t bytes) {
    if (!failed_bytes) failed_bytes = bytes ? bytes : 1;
}

size_t nn_take_failure(void) {
    size_t bytes = failed_bytes;
    failed_bytes = 0;
    return bytes;
}
