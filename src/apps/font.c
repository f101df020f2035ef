/* A 3x5 pixel font for labels drawn into result images (lower-case
 * letters, digits and a little punctuation; upper case is drawn as lower
 * case). Small enough to keep here rather than depend on a font library. */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>

#include "apps/font.h"

/* Each glyph: 5 rows of 3 bits, most significant bit on the left. */
static const struct {
    char c;
    uint8_t rows[5];
} glyphs[] = {
    {'a', {2, 5, 7, 5, 5}}, {'b', {6, 5, 6, 5, 6}}, {'c', {3, 4, 4, 4, 3}}, {'d', {6, 5, 5, 5, 6}},
    {'e', {7, 4, 6, 4, 7}}, {'f', {7, 4, 6, 4, 4}}, {'g', {3, 4, 5, 5, 3}}, {'h', {5, 5, 7, 5, 5}},
    {'i', {7, 2, 2, 2, 7}}, {'j', {1, 1, 1, 5, 2}}, {'k', {5, 5, 6, 5, 5}}, {'l', {4, 4, 4, 4, 7}},
    {'m', {5, 7, 7, 5, 5}}, {'n', {6, 5, 5, 5, 5}}, {'o', {2, 5, 5, 5, 2}}, {'p', {6, 5, 6, 4, 4}},
    {'q', {2, 5, 5, 6, 3}}, {'r', {6, 5, 6, 5, 5}}, {'s', {3, 4, 2, 1, 6}}, {'t', {7, 2, 2, 2, 2}},
    {'u', {5, 5, 5, 5, 7}}, {'v', {5, 5, 5, 5, 2}}, {'w', {5, 5, 7, 7, 5}}, {'x', {5, 5, 2, 5, 5}},
    {'y', {5, 5, 2, 2, 2}}, {'z', {7, 1, 2, 4, 7}}, {'0', {7, 5, 5, 5, 7}}, {'1', {2, 6, 2, 2, 7}},
    {'2', {6, 1, 2, 4, 7}}, {'3', {6, 1, 2, 1, 6}}, {'4', {5, 5, 7, 1, 1}}, {'5', {7, 4, 6, 1, 6}},
    {'6', {3, 4, 7, 5, 7}}, {'7', {7, 1, 2, 2, 2}}, {'8', {7, 5, 7, 5, 7}}, {'9', {7, 5, 7, 1, 6}},
    {'-', {0, 0, 7, 0, 0}}, {'/', {1, 1, 2, 4, 4}}, {'.', {0, 0, 0, 0, 2}}, {',', {0, 0, 0, 2, 4}},
    {':', {0, 2, 0, 2, 0}}, {'\'', {2, 2, 0, 0, 0}}, {'(', {1, 2, 2, 2, 1}}, {')', {4, 2, 2, 2, 4}},
    {'%', {5, 1, 2, 4, 5}}, {'?', {6, 1, 2, 0, 2}},
};

static const uint8_t *glyph(char c) {
    c = (char)tolower((unsigned char)c);
    for (size_t i = 0; i < sizeof glyphs / sizeof glyphs[0]; i++)
        if (glyphs[i].c == c) return glyphs[i].rows;
    return NULL; /* spaces and unknown characters are blank */
}

int font_text_width(const char *text, int scale) {
    int n = 0;
    for (const char *p = text; *p; p++) n++;
    return n ? (n * 4 - 1) * scale : 0;
}

void font_draw(uint8_t *rgb, int width, int height, int x, int y, int scale, const char *text,
               const uint8_t colour[3], const uint8_t background[3]) {
    int w = font_text_width(text, scale), h = 5 * scale;
    for (int py = y - scale; py < y + h + scale; py++)
        for (int px = x - scale; px < x + w + scale; px++)
            if (background && px >= 0 && py >= 0 && px < width && py < height) {
                uint8_t *p = rgb + ((size_t)py * width + px) * 3;
                p[0] = background[0];
                p[1] = background[1];
                p[2] = background[2];
            }
    for (const char *c = text; *c; c++, x += 4 * scale) {
        const uint8_t *rows = glyph(*c);
        if (!rows) continue;
        for (int r = 0; r < 5; r++)
            for (int b = 0; b < 3; b++) {
                if (!(rows[r] & (4 >> b))) continue;
                for (int sy = 0; sy < scale; sy++)
                    for (int sx = 0; sx < scale; sx++) {
                        int px = x + b * scale + sx, py = y + r * scale + sy;
                        if (px < 0 || py < 0 || px >= width || py >= height) continue;
                        uint8_t *p = rgb + ((size_t)py * width + px) * 3;
                        p[0] = colour[0];
                        p[1] = colour[1];
                        p[2] = colour[2];
                    }
            }
    }
}
