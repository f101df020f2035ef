#include "harness.h"

#include <cjson/cJSON.h>

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <math.h>

int harness_passed, harness_failed;

const char *fixtures_dir(void) {
    static char resolved[4096];
    if (resolved[0]) return resolved;
    const char *dir = getenv("CLIP_FIXTURES");
    if (!dir || !*dir) dir = CLIP_FIXTURES_DEFAULT;
    struct stat sb;
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/MANIFEST.json", dir);
    if (stat(probe, &sb) != 0) {
        fprintf(stderr, "FATAL: fixtures not found at '%s' (set CLIP_FIXTURES to the shared/fixtures folder)\n", dir);
        exit(1);
    }
    snprintf(resolved, sizeof resolved, "%s", dir);
    return resolved;
}

const char *fixture_path(const char *relative) {
    static char buffers[8][4400];
    static int next;
    char *out = buffers[next++ % 8];
    snprintf(out, sizeof buffers[0], "%s/%s", fixtures_dir(), relative);
    return out;
}

st_file *open_fixture(const char *relative) {
    st_file *f = NULL;
    const char *path = relative[0] == '/' ? relative : fixture_path(relative);
    if (st_open(path, &f) != CLIP_OK) {
        fprintf(stderr, "FATAL: cannot open fixture %s: %s\n", relative, clip_last_error());
        exit(1);
    }
    return f;
}

void *load_fixture_json(const char *relative) {
    FILE *fp = fopen(fixture_path(relative), "rb");
    char *text = NULL;
    long size = -1;
    if (fp && fseek(fp, 0, SEEK_END) == 0) size = ftell(fp);
    if (size > 0 && fseek(fp, 0, SEEK_SET) == 0 && (text = malloc((size_t)size)) &&
        fread(text, 1, (size_t)size, fp) != (size_t)size) {
        free(text);
        text = NULL;
    }
    if (fp) fclose(fp);
    cJSON *json = text ? cJSON_ParseWithLength(text, (size_t)size) : NULL;
    free(text);
    if (!json) {
        fprintf(stderr, "FATAL: cannot read fixture %s\n", relative);
        exit(1);
    }
    return json;
}

const char *scratch_dir(void) {
    static char dir[512];
    if (dir[0]) return dir;
    const char *base = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/clip-test-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
    return dir;
}

double max_abs_diff(const float *got, const float *ref, size_t n) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)ref[i]);
        if (isnan(d)) return INFINITY;
        if (d > worst) worst = d;
    }
    return worst;
}

double max_abs(const float *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) if (fabs(x[i]) > m) m = fabs(x[i]);
    return m;
}

int test_finish(const char *suite) {
    printf("%s: %d passed, %d failed\n", suite, harness_passed, harness_failed);
    return harness_failed ? 1 : 0;
}
