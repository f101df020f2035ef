/* Picks the kernel table once per process from what the CPU supports;
 * CLIP_NN_KERNEL overrides it (for measurements), nn_kernels_force (tests).
 * Without AVX2 the products go to the BLAS; the portable C tiles are the
 * tests' reference and run only when forced. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/kernels.h"

static _Atomic(const nn_kernels *) active;

static const nn_kernels *by_name(const char *name) {
    if (!name) return NULL;
    /* "amx" names the reduced-precision kernels (qdispatch.c); float32 runs
     * on AVX-512 with it. */
    if (strcmp(name, "avx512") == 0 || strcmp(name, "amx") == 0) return &nn_kernels_avx512;
    if (strcmp(name, "avx2") == 0) return &nn_kernels_avx2;
    if (strcmp(name, "generic") == 0) return &nn_kernels_generic;
    if (strcmp(name, "blas") == 0) return &nn_kernels_blas;
    return NULL;
}

int nn_kernels_supported(const char *name) {
    const nn_kernels *k = by_name(name);
    if (!k) return 0;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (k == &nn_kernels_avx512)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (k == &nn_kernels_avx2) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return 1;
#else
    return k == &nn_kernels_generic || k == &nn_kernels_blas;
#endif
}

static const nn_kernels *choose(void) {
    const char *forced = getenv("CLIP_NN_KERNEL");
    if (forced && *forced) {
        if (nn_kernels_supported(forced)) return by_name(forced);
        fprintf(stderr, "clip: CLIP_NN_KERNEL=%s is not available on this CPU; choosing automatically\n", forced);
    }
    static const char *order[] = {"avx512", "avx2"};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (nn_kernels_supported(order[i])) return by_name(order[i]);
    return &nn_kernels_blas;
}

const nn_kernels *nn_kernels_active(void) {
    const nn_kernels *k = atomic_load_explicit(&active, memory_order_acquire);
    if (!k) {
        k = choose();
        atomic_store_explicit(&active, k, memory_order_release);
    }
    return k;
}

int nn_kernels_force(const char *name) {
    if (!name) {
        atomic_store(&active, choose());
        return 1;
    }
    if (!nn_kernels_supported(name)) return 0;
    atomic_store(&active, by_name(name));
    return 1;
}
