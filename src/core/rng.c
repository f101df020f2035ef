#include "core/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void clip_rng_seed(clip_rng *rng, uint64_t seed) {
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&seed);
    rng->has_spare = 0;
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t clip_rng_next(clip_rng *rng) {
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double clip_rng_uniform(clip_rng *rng) { return (double)(clip_rng_next(rng) >> 11) * 0x1.0p-53; }

double clip_rng_normal(clip_rng *rng) {
    if (rng->has_spare) {
        rng->has_spare = 0;
        return rng->spare;
    }
    double u1, u2;
    do u1 = clip_rng_uniform(rng);
    while (u1 <= 0.0);
    u2 = clip_rng_uniform(rng);
    double radius = sqrt(-2.0 * log(u1));
    rng->spare = radius * sin(2.0 * M_PI * u2);
    rng->has_spare = 1;
    return radius * cos(2.0 * M_PI * u2);
}

uint64_t clip_rng_below(clip_rng *rng, uint64_t n) {
    if (n == 0) return 0;
    uint64_t limit = UINT64_MAX - UINT64_MAX % n; /* rejection removes modulo bias */
    uint64_t x;
    do x = clip_rng_next(rng);
    while (x >= limit);
    return x % n;
}
