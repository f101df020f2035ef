/* open_clip's training transform: torchvision's RandomResizedCrop (scale
 * (0.9, 1.0) by default there) resized bicubic to the model's size, then
 * CLIP's normalisation. Deterministic given the rng. */
#include <math.h>

#include "core/error.h"
#include "data/data.h"

clip_status clip_augment(const clip_image *image, int size, float scale_lo, float scale_hi, clip_rng *rng,
                         float *out) {
    if (!rng) {
        clip_preprocess_options eval = {.size = size, .mode = CLIP_RESIZE_SHORTEST};
        return clip_image_preprocess(image, &eval, out);
    }
    int W = clip_image_width(image), H = clip_image_height(image);
    double area = (double)W * H, log_lo = log(3.0 / 4.0), log_hi = log(4.0 / 3.0);
    int x = 0, y = 0, w = W, h = H, found = 0;
    for (int attempt = 0; attempt < 10 && !found; attempt++) {
        double target = area * (scale_lo + (scale_hi - scale_lo) * clip_rng_uniform(rng));
        double aspect = exp(log_lo + (log_hi - log_lo) * clip_rng_uniform(rng));
        int cw = (int)lround(sqrt(target * aspect)), ch = (int)lround(sqrt(target / aspect));
        if (cw > 0 && cw <= W && ch > 0 && ch <= H) {
            y = (int)clip_rng_below(rng, (uint64_t)(H - ch + 1));
            x = (int)clip_rng_below(rng, (uint64_t)(W - cw + 1));
            w = cw;
            h = ch;
            found = 1;
        }
    }
    if (!found) { /* torchvision's fallback: the whole image, centre-cropped to the ratio bounds */
        double ratio = (double)W / H;
        if (ratio < 3.0 / 4.0) h = (int)lround(W / (3.0 / 4.0));
        else if (ratio > 4.0 / 3.0) w = (int)lround(H * (4.0 / 3.0));
        x = (W - w) / 2;
        y = (H - h) / 2;
    }
    clip_preprocess_options squash = {.size = size, .mode = CLIP_RESIZE_SQUASH};
    if (x == 0 && y == 0 && w == W && h == H) return clip_image_preprocess(image, &squash, out);
    clip_image *crop;
    clip_status st = clip_image_crop(image, x, y, w, h, &crop);
    if (st != CLIP_OK) return st;
    st = clip_image_preprocess(crop, &squash, out);
    clip_image_free(crop);
    return st;
}
