/* Picks the reduced-precision kernel table once per process: AMX where the
 * CPU has it and the OS grants the tile state, then AVX512-BF16 + VNNI,
 * then the portable loops. CLIP_NN_KERNEL (dispatch.c's variable) forces
 * one: "amx" or "avx512" by name; any other table it names (avx2,
 * generic, blas) means a CPU without these instructions, so the portable
 * kernels. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/qkernels.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

static unsigned long long xgetbv0(void) {
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

static int has_avx512_bf16_vnni(void) {
    unsigned int a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    int f = (b >> 16) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1, vnni = (c >> 11) & 1;
    unsigned int a1, b1, c1, d1;
    if (!__get_cpuid_count(7, 1, &a1, &b1, &c1, &d1)) return 0;
    int bf16 = (a1 >> 5) & 1;
    __get_cpuid(1, &a, &b, &c, &d);
    int osxsave = (c >> 27) & 1;
    /* The OS saves the opmask and zmm state (XCR0 bits 1, 2, 5, 6, 7). */
    return f && bw && vl && vnni && bf16 && osxsave && (xgetbv0() & 0xe6) == 0xe6;
}

/* AMX tile data is off by default for a Linux process: ask once. */
static int has_amx(void) {
    unsigned int a, b, c, d;
    if (!has_avx512_bf16_vnni() || !__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    int bf16 = (d >> 22) & 1, tile = (d >> 24) & 1, int8 = (d >> 25) & 1;
    if (!bf16 || !tile || !int8 || (xgetbv0() & 0x60000) != 0x60000) return 0;
    enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
}
#endif

static const nn_qkernels *by_name(const char *name) {
    if (!name) return NULL;
    if (strcmp(name, "amx") == 0) return &nn_qkernels_amx;
    if (strcmp(name, "avx512") == 0) return &nn_qkernels_avx512;
    if (strcmp(name, "generic") == 0) return &nn_qkernels_generic;
    return NULL;
}

int nn_qkernels_supported(const char *name) {
    const nn_qkernels *k = by_name(name);
    if (!k) return 0;
    if (k == &nn_qkernels_generic) return 1;
#if defined(__x86_64__)
    static _Atomic int amx = -1, avx512 = -1; /* probed once: arch_prctl is a syscall */
    if (avx512 < 0) avx512 = has_avx512_bf16_vnni();
    if (k == &nn_qkernels_avx512) return avx512;
    if (amx < 0) amx = has_amx();
    return amx;
#else
    return 0;
#endif
}

static _Atomic(const nn_qkernels *) active;

static const nn_qkernels *choose(void) {
    const char *forced = getenv("CLIP_NN_KERNEL");
    if (forced && *forced) {
        const nn_qkernels *k = by_name(forced);
        if (!k) return &nn_qkernels_generic; /* avx2, blas, generic: the portable path */
        if (nn_qkernels_supported(forced)) return k;
        fprintf(stderr, "clip: CLIP_NN_KERNEL=%s is not available on this CPU; choosing automatically\n", forced);
    }
    if (nn_qkernels_supported("amx")) return &nn_qkernels_amx;
    if (nn_qkernels_supported("avx512")) return &nn_qkernels_avx512;
    return &nn_qkernels_generic;
}

const nn_qkernels *nn_qkernels_active(void) {
    const nn_qkernels *k = atomic_load_explicit(&active, memory_order_acquire);
    if (!k) {
        k = choose();
        atomic_store_explicit(&active, k, memory_order_release);
    }
    return k;
}

int nn_qkernels_force(const char *name) {
    if (!name) {
        atomic_store(&active, choose());
        return 1;
    }
    if (!nn_qkernels_supported(name)) return 0;
    atomic_store(&active, by_name(name));
    return 1;
}
