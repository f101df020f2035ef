#include "flops.h"

/* Pre-norm transformer blocks over L positions of width W (MLP 4W):
 * qkv, attention scores and mixing, output projection, two MLP products. */
static double transformer_flops(int layers, int W, int L) {
    double per_layer = 2.0 * L * W * 3.0 * W  /* qkv */
                       + 2.0 * 2.0 * L * L * W /* QK^T and PV over all heads */
                       + 2.0 * L * W * W       /* out_proj */
                       + 2.0 * 2.0 * L * W * 4.0 * W; /* c_fc and c_proj */
    return layers * per_layer;
}

/* What the encoders skip in the last block: they need one row per
 * sequence (class token, end of text), so after qkv over all L positions
 * the attention, its projection and the MLP run for that row alone. */
static double last_block_skipped(int W, int L) {
    double full = transformer_flops(1, W, L);
    double done = 2.0 * L * W * 3.0 * W + 2.0 * 2.0 * L * W + 2.0 * W * W + 2.0 * 2.0 * W * 4.0 * W;
    return full - done;
}

static double conv_flops(int cin, int cout, int k, int out_hw) {
    return 2.0 * cin * k * k * cout * (double)out_hw * out_hw;
}

/* ModifiedResNet: 3-conv stem, bottlenecks (conv2 at the input resolution,
 * anti-aliased avgpool before conv3 and the downsample), attention pool
 * with one query (the mean token). */
static double resnet_flops(const clip_model_info *info) {
    int w = info->vision_width, R = info->image_resolution, H = R / 2;
    double f = conv_flops(3, w / 2, 3, H) + conv_flops(w / 2, w / 2, 3, H) + conv_flops(w / 2, w, 3, H);
    H /= 2;
    int inplanes = w;
    for (int stage = 0; stage < 4; stage++) {
        int planes = w << stage;
        for (int b = 0; b < info->vision_stage_blocks[stage]; b++) {
            int stride = (stage > 0 && b == 0) ? 2 : 1;
            int Ho = H / stride;
            f += conv_flops(inplanes, planes, 1, H) + conv_flops(planes, planes, 3, H) +
                 conv_flops(planes, planes * 4, 1, Ho);
            if (stride > 1 || inplanes != planes * 4) f += conv_flops(inplanes, planes * 4, 1, Ho);
            inplanes = planes * 4;
            H = Ho;
        }
    }
    int C = inplanes, T = H * H + 1, E = info->embed_dim;
    f += 2.0 * C * C                 /* q of the mean token */
         + 2.0 * 2.0 * T * C * C     /* k and v of every token */
         + 2.0 * 2.0 * T * C         /* scores and mixing */
         + 2.0 * C * E;              /* c_proj */
    return f;
}

double flops_image(const clip_model_info *info) {
    if (info->vision_kind == CLIP_VISION_RESNET) return resnet_flops(info);
    int W = info->vision_width, P = info->vision_patch_size, g = info->image_resolution / P;
    int L = g * g + 1;
    return 2.0 * g * g * 3.0 * P * P * W + transformer_flops(info->vision_layers, W, L) +
           2.0 * W * info->embed_dim;
}

double flops_text(const clip_model_info *info, int tokens) {
    return transformer_flops(info->text_layers, info->text_width, tokens) +
           2.0 * info->text_width * info->embed_dim;
}

double flops_image_encoded(const clip_model_info *info) {
    if (info->vision_kind == CLIP_VISION_RESNET) return resnet_flops(info);
    int g = info->image_resolution / info->vision_patch_size;
    return flops_image(info) - last_block_skipped(info->vision_width, g * g + 1);
}

double flops_text_encoded(const clip_model_info *info, int tokens) {
    return flops_text(info, tokens) - (tokens >= 2 ? last_block_skipped(info->text_width, tokens) : 0.0);
}
