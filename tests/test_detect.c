/* Detection without a trained model: an object pasted into a known place
 * of a larger noisy image is found by querying with the object's own
 * embedding (the window that holds exactly the object has cosine 1; any
 * bug in windowing, cropping or ranking moves the best box). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

int main(void) {
    setenv("CLIP_VOCAB", fixture_path("vocab/bpe_simple_vocab_16e6.txt.gz"), 1);
    clip_model *model = NULL;
    clip_load_options lo = {.n_threads = 2};
    if (clip_model_load(fixture_path("models/tiny-vit.safetensors"), &lo, &model) != CLIP_OK) {
        fprintf(stderr, "FATAL: %s\n", clip_last_error());
        return 1;
    }
    /* The object: a real photo's centre, 224 x 224. */
    clip_image *photo = NULL;
    CHECK(clip_image_load_file(fixture_path("images/chelsea.png"), NULL, &photo) == CLIP_OK, "load photo");
    clip_image *object = NULL;
    CHECK(clip_image_crop(photo, 100, 40, 224, 224, &object) == CLIP_OK, "crop object: %s", clip_last_error());
    clip_image *outside = NULL;
    CHECK(clip_image_crop(photo, 300, 100, 224, 224, &outside) == CLIP_ERR_INVALID_ARGUMENT && !outside,
          "a crop outside the image is refused");
    uint8_t *object_rgb = NULL;
    clip_image_to_rgb(object, &object_rgb);

    int W = 448, H = 448, ox = 224, oy = 112;
    uint8_t *canvas = malloc((size_t)W * H * 3);
    srand(5);
    for (size_t i = 0; i < (size_t)W * H * 3; i++) canvas[i] = (uint8_t)(96 + rand() % 64);
    for (int y = 0; y < 224; y++) memcpy(canvas + ((size_t)(oy + y) * W + ox) * 3, object_rgb + (size_t)y * 224 * 3, 224 * 3);
    clip_image *scene = NULL;
    CHECK(clip_image_from_rgb(canvas, W, H, 0, &scene) == CLIP_OK, "scene");

    float query[64];
    CHECK(clip_embed_images(model, (const clip_image *const *)&object, 1, 1, query) == CLIP_OK, "embed object");
    clip_detect_options opts = {.localize = 1, .n_scales = 2, .max_boxes = 2};
    clip_detect_result r;
    CHECK(clip_detect(model, scene, query, 1, NULL, 0, &opts, &r) == CLIP_OK, "detect: %s", clip_last_error());
    CHECK(r.n_boxes >= 1, "no boxes");
    if (r.n_boxes >= 1) {
        const clip_detection *best = &r.boxes[0];
        printf("  best box (%d, %d, %d x %d), cosine %.6f\n", best->x, best->y, best->width, best->height, best->cosine);
        CHECK(best->x == ox && best->y == oy && best->width == 224 && best->height == 224,
              "best box (%d, %d, %d x %d) is not the object at (%d, %d, 224 x 224)", best->x, best->y, best->width,
              best->height, ox, oy);
        CHECK(best->cosine > 0.99999f, "the object window's cosine is %.6f, expected 1", best->cosine);
        if (r.n_boxes > 1) CHECK(r.boxes[1].cosine < best->cosine, "second box ranks below the first");
    }
    /* The heat map peaks inside the object. */
    int best_cell = 0;
    for (int c = 1; c < r.grid_w * r.grid_h; c++)
        if (r.heatmaps[c] > r.heatmaps[best_cell]) best_cell = c;
    int px = (best_cell % r.grid_w) * r.cell + r.cell / 2, py = (best_cell / r.grid_w) * r.cell + r.cell / 2;
    CHECK(px >= ox && px < ox + 224 && py >= oy && py < oy + 224, "heat map peaks at (%d, %d), outside the object",
          px, py);
    char path[600];
    snprintf(path, sizeof path, "%s/boxes.png", scratch_dir());
    const char *match[1] = {"object"};
    CHECK(clip_detect_draw(scene, &r, match, path) == CLIP_OK, "draw: %s", clip_last_error());
    clip_image *drawn = NULL;
    CHECK(clip_image_load_file(path, NULL, &drawn) == CLIP_OK && clip_image_width(drawn) == W,
          "drawn PNG reads back: %s", clip_last_error());
    clip_image_free(drawn);
    snprintf(path, sizeof path, "%s/heat.png", scratch_dir());
    CHECK(clip_detect_draw_heatmap(scene, &r, 0, path) == CLIP_OK, "heat map: %s", clip_last_error());
    clip_detect_result_free(&r);

    /* Presence with labels and backgrounds: probabilities sum with the
     * backgrounds' share to one, so each lies in (0, 1). */
    const char *labels[2] = {"a cat", "a car"};
    clip_classifier *c = NULL;
    const char *plain[1] = {"{}"};
    CHECK(clip_classifier_create(model, labels, 2, plain, 1, &c) == CLIP_OK, "labels");
    clip_classifier *b = NULL;
    CHECK(clip_classifier_create_background(model, &b) == CLIP_OK, "background prompts");
    int n_bg = clip_classifier_n_labels(b);
    clip_detect_options presence = {0};
    CHECK(clip_detect(model, scene, clip_classifier_embeddings(c), 2, clip_classifier_embeddings(b), n_bg, &presence,
                      &r) == CLIP_OK, "presence");
    CHECK(r.presence[0] > 0 && r.presence[1] > 0 && r.presence[0] + r.presence[1] < 1 && r.n_boxes == 0,
          "presence probabilities %.4f %.4f", r.presence[0], r.presence[1]);
    clip_detect_result_free(&r);
    clip_classifier_free(c);
    clip_classifier_free(b);

    free(canvas);
    free(object_rgb);
    clip_image_free(scene);
    clip_image_free(object);
    clip_image_free(photo);
    clip_model_free(model);
    return test_finish("test_detect");
}
