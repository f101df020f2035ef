/* Deterministic random numbers (xoshiro256**, seeded through splitmix64):
 * the same seed gives the same model, augmentation and data order on every
 * machine, which C's rand() does not promise. */
#ifndef CLIP_CORE_RNG_H
#define CLIP_CORE_RNG_H
#include <stdint.h>

typedef struct clip_rng {
    uint64_t s[4];
    int has_spare;
    double spare;
} clip_rng;

void clip_rng_seed(clip_rng *rng, uint64_t seed);
uint64_t clip_rng_next(clip_rng *rng);
/* Uniform in [0, 1). */
double clip_rng_uniform(clip_rng *rng);
/* Standard normal (Box-Muller). */
double clip_rng_normal(clip_rng *rng);
/* Uniform integer in [0, n). */
uint64_t clip_rng_below(clip_rng *rng, uint64_t n);

#endif
