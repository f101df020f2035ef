/* Training curves as SVG: the loss per step and the zero-shot accuracy per
 * evaluation, read back from the run's JSON-lines log. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "train/run.h"

typedef struct series {
    double *x, *y;
    int n, cap;
} series;

static void push(series *s, double x, double y) {
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 256;
        s->x = realloc(s->x, (size_t)s->cap * sizeof(double));
        s->y = realloc(s->y, (size_t)s->cap * sizeof(double));
    }
    if (!s->x || !s->y) return;
    s->x[s->n] = x;
    s->y[s->n++] = y;
}

static void panel(FILE *fp, const series *s, int left, int top, int w, int h, const char *title, const char *colour) {
    fprintf(fp, "<rect x='%d' y='%d' width='%d' height='%d' fill='white' stroke='#888'/>\n", left, top, w, h);
    fprintf(fp, "<text x='%d' y='%d' font-size='14' font-family='sans-serif'>%s</text>\n", left, top - 6, title);
    if (s->n == 0) return;
    double x0 = s->x[0], x1 = s->x[0], y0 = s->y[0], y1 = s->y[0];
    for (int i = 0; i < s->n; i++) {
        x0 = fmin(x0, s->x[i]);
        x1 = fmax(x1, s->x[i]);
        y0 = fmin(y0, s->y[i]);
        y1 = fmax(y1, s->y[i]);
    }
    if (x1 == x0) x1 = x0 + 1;
    if (y1 == y0) y1 = y0 + 1;
    fprintf(fp, "<polyline fill='none' stroke='%s' stroke-width='1.5' points='", colour);
    for (int i = 0; i < s->n; i++)
        fprintf(fp, "%.1f,%.1f ", left + (s->x[i] - x0) / (x1 - x0) * w, top + h - (s->y[i] - y0) / (y1 - y0) * h);
    fprintf(fp, "'/>\n");
    fprintf(fp, "<text x='%d' y='%d' font-size='11' font-family='sans-serif'>%.4g</text>\n", left + 4, top + 12, y1);
    fprintf(fp, "<text x='%d' y='%d' font-size='11' font-family='sans-serif'>%.4g</text>\n", left + 4, top + h - 4, y0);
    fprintf(fp, "<text x='%d' y='%d' font-size='11' font-family='sans-serif' text-anchor='end'>step %.0f</text>\n",
            left + w, top + h + 14, x1);
}

clip_status train_plot_svg(const char *log_path, const char *svg_path) {
    FILE *in = fopen(log_path, "r");
    if (!in) return clip_fail(CLIP_ERR_IO, "%s: cannot open", log_path);
    series loss = {0}, acc = {0};
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, in) > 0) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *step = cJSON_GetObjectItemCaseSensitive(j, "step");
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(j, "loss");
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "zeroshot_top1");
        if (cJSON_IsNumber(step) && cJSON_IsNumber(l)) push(&loss, step->valuedouble, l->valuedouble);
        if (cJSON_IsNumber(step) && cJSON_IsNumber(a)) push(&acc, step->valuedouble, a->valuedouble);
        cJSON_Delete(j);
    }
    free(line);
    fclose(in);
    atomic_file af;
    clip_status st = atomic_file_open(&af, svg_path);
    if (st == CLIP_OK) {
        fprintf(af.fp, "<svg xmlns='http://www.w3.org/2000/svg' width='900' height='340'>\n"
                       "<rect width='900' height='340' fill='#f6f6f6'/>\n");
        panel(af.fp, &loss, 40, 40, 380, 250, "training loss", "#c0392b");
        panel(af.fp, &acc, 480, 40, 380, 250, "zero-shot top-1 (held-out templates)", "#2471a3");
        fprintf(af.fp, "</svg>\n");
        st = atomic_file_commit(&af);
    }
    free(loss.x);
    free(loss.y);
    free(acc.x);
    free(acc.y);
    return st;
}
