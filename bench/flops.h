/* Floating-point operation counts of CLIP's towers (a multiply-add counts
 * as 2), for turning benchmark times into GFLOP/s. Only the products and
 * convolutions are counted, as the usual CLIP figures do: norms, softmax
 * and activations add well under 1%. */
#ifndef CLIP_BENCH_FLOPS_H
#define CLIP_BENCH_FLOPS_H
#include "clip.h"

/* One image through the vision tower (patch/stem to projected features). */
double flops_image(const clip_model_info *info);
/* One text of `tokens` positions through the text tower (attention over
 * all positions, as an unmasked count: the usual convention). */
double flops_text(const clip_model_info *info, int tokens);
/* The same, less what the encoders leave out of the last block (they
 * pool one row per sequence): the work the towers do, for GFLOP/s. */
double flops_image_encoded(const clip_model_info *info);
double flops_text_encoded(const clip_model_info *info, int tokens);

#endif
