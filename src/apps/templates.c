/* Prompt templates written for clip.c: varied framings of a photo of the
 * object (plain, close-up, cropped, bright/dark, art forms) so the mean
 * embedding is robust to how a picture was taken. */
#include "clip.h"

static const char *const default_templates[] = {
    "a photo of a {}.",
    "a photo of the {}.",
    "a close-up photo of a {}.",
    "a cropped photo of a {}.",
    "a bright photo of a {}.",
    "a dark photo of a {}.",
    "a blurry photo of a {}.",
    "a photo of a small {}.",
    "a photo of a large {}.",
    "a picture showing a {}.",
    "an image of a {}.",
    "a drawing of a {}.",
    "a painting of a {}.",
    "a black and white photo of a {}.",
    "a low resolution photo of a {}.",
    "a good photo of a {}.",
    NULL,
};

/* Scenes with no particular object, for multi-label scoring: a label must
 * beat "nothing in particular" on its own rather than beat the other labels. */
static const char *const background_prompts[] = {
    "a photo.",
    "a photo of something.",
    "a photo of an object.",
    "a photo of a scene.",
    "a photo of a background.",
    "an image.",
    NULL,
};

const char *const *clip_default_templates(void) { return default_templates; }
const char *const *clip_default_background_prompts(void) { return background_prompts; }
