#ifndef CLIP_APPS_FONT_H
#define CLIP_APPS_FONT_H
#include <stdint.h>

/* Width in pixels of `text` drawn at `scale` (each glyph 3x5, 1 apart). */
int font_text_width(const char *text, int scale);
/* Draws `text` with its top-left corner at (x, y) into packed RGB, on a
 * filled `background` box when it is not NULL; clipped to the image. */
void font_draw(uint8_t *rgb, int width, int height, int x, int y, int scale, const char *text,
               const uint8_t colour[3], const uint8_t background[3]);

#endif
