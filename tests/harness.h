/* Minimal test harness: CHECK records failures and goes on; test_finish()
 * prints the closing "N passed, M failed" line ctest logs show. */
#ifndef CLIP_TEST_HARNESS_H
#define CLIP_TEST_HARNESS_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "clip.h"
#include "formats/safetensors.h"

extern int harness_passed, harness_failed;

#define CHECK(cond, ...)                                                          \
    do {                                                                          \
        if (cond) {                                                               \
            harness_passed++;                                                     \
        } else {                                                                  \
            harness_failed++;                                                     \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);       \
            fprintf(stderr, __VA_ARGS__);                                         \
            fputc('\n', stderr);                                                  \
        }                                                                         \
    } while (0)

/* Aborts the test (exit 1) when the fixtures folder is missing: CI must fail
 * loudly, never skip. */
const char *fixtures_dir(void);
/* fixtures_dir() + "/" + relative, in a static rotating buffer. */
const char *fixture_path(const char *relative);
/* Opens a fixture safetensors file (or an absolute path) or aborts the test. */
st_file *open_fixture(const char *relative);
/* Parses a fixture JSON file (e.g. error_levels.json) or aborts the test;
 * the result is a cJSON * (void * here so the header needs no cJSON). */
void *load_fixture_json(const char *relative);
/* Fresh scratch directory under the build tree (or /tmp). */
const char *scratch_dir(void);

/* Per-tensor comparison the fixtures' README recommends:
 * max|got - ref| <= factor * ratio * max|ref|. Returns the achieved ratio. */
double max_abs_diff(const float *got, const float *ref, size_t n);
double max_abs(const float *x, size_t n);

int test_finish(const char *suite);

#endif
