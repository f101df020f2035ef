/* IEEE 754 half precision, for F16 indexes: exact round-to-nearest-even
 * conversion in portable C (the hot search loops convert with F16C). */
#ifndef CLIP_INDEX_HALF_H
#define CLIP_INDEX_HALF_H
#include <stddef.h>
#include <stdint.h>

uint16_t idx_float_to_half(float f);
float idx_half_to_float(uint16_t h);
/* Bulk conversions; use F16C when the CPU has it. */
void idx_halves_to_floats(const uint16_t *in, size_t n, float *out);
void idx_floats_to_halves(const float *in, size_t n, uint16_t *out);

#endif
