/* src/dist in a world of one process (what every build without a launcher
 * runs), and, with --compare A B TOL, the comparison of two training results
 * that tests/cli_mpi_train.sh uses (--compare A B RTOL ATOL): one process versus several ranks must
 * give the same parameters up to float32 reduction order. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist/dist.h"
#include "formats/safetensors.h"
#include "harness.h"

static void test_block_ranges(void) {
    const int64_t counts[] = {0, 1, 7, 64, 1000003};
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++)
        for (int size = 1; size <= 5; size++) {
            int64_t expect_begin = 0, smallest = INT64_MAX, largest = 0;
            int ok = 1;
            for (int rank = 0; rank < size; rank++) {
                int64_t begin, end;
                dist_block_range(counts[c], rank, size, &begin, &end);
                ok = ok && begin == expect_begin && end >= begin;
                expect_begin = end;
                if (end - begin < smallest) smallest = end - begin;
                if (end - begin > largest) largest = end - begin;
            }
            CHECK(ok && expect_begin == counts[c] && largest - smallest <= 1,
                  "%lld items over %d ranks: contiguous blocks covering all, sizes within 1", (long long)counts[c],
                  size);
        }
}

static void test_world_of_one(void) {
    CHECK(dist_init() == CLIP_OK, "dist_init without a launcher: %s", clip_last_error());
    CHECK(dist_init() == CLIP_OK, "dist_init twice");
    CHECK(dist_rank() == 0 && dist_size() == 1, "rank %d of %d", dist_rank(), dist_size());
    float local[3] = {1.5f, -2.0f, 3.25f}, global[3] = {0};
    CHECK(dist_allgather_f32(local, 3, global) == CLIP_OK && memcmp(local, global, sizeof local) == 0,
          "allgather of one rank copies");
    int32_t ids[2] = {7, -1}, all_ids[2] = {0};
    CHECK(dist_allgather_i32(ids, 2, all_ids) == CLIP_OK && all_ids[0] == 7 && all_ids[1] == -1, "allgather ints");
    CHECK(dist_allreduce_sum_f32(local, 3) == CLIP_OK && local[0] == 1.5f && local[2] == 3.25f,
          "allreduce of one rank leaves values");
    double d[1] = {0.125};
    CHECK(dist_allreduce_sum_f64(d, 1) == CLIP_OK && d[0] == 0.125, "allreduce doubles");
    CHECK(dist_barrier() == CLIP_OK, "barrier");
    char text[4] = "abc";
    CHECK(dist_broadcast(text, 4, 0) == CLIP_OK && strcmp(text, "abc") == 0, "broadcast");
}

/* Every float32 tensor of two files must agree within
 * rtol * max|a| + atol. The absolute floor is for values that are float
 * noise to begin with: the key bias of attention gets an analytically zero
 * gradient, so what AdamW makes of it is rounding noise divided by eps. */
static int compare(const char *path_a, const char *path_b, double tolerance, double floor) {
    st_file *a = NULL, *b = NULL;
    if (st_open(path_a, &a) != CLIP_OK || st_open(path_b, &b) != CLIP_OK) {
        fprintf(stderr, "compare: %s\n", clip_last_error());
        st_close(a);
        return 1;
    }
    int failures = 0, compared = 0, identical = 0;
    double worst = 0;
    const char *worst_name = "";
    for (size_t i = 0; i < st_count(a); i++) {
        const st_tensor *ta = st_at(a, i), *tb = st_find(b, ta->name);
        if (ta->dtype != ST_F32) continue;
        if (!tb || tb->dtype != ST_F32 || tb->numel != ta->numel) {
            fprintf(stderr, "compare: %s missing or different in %s\n", ta->name, path_b);
            failures++;
            continue;
        }
        const float *x = ta->data, *y = tb->data;
        double diff = 0, scale = 0;
        for (int64_t k = 0; k < ta->numel; k++) {
            double d = fabs((double)x[k] - y[k]);
            if (!(d <= diff)) diff = d; /* NaN counts as worst */
            if (fabs(x[k]) > scale) scale = fabs(x[k]);
        }
        double relative = diff / (scale > 0 ? scale : 1);
        compared++;
        identical += diff == 0;
        if (!(relative <= worst)) {
            worst = relative;
            worst_name = ta->name;
        }
        if (!(diff <= tolerance * scale + floor)) {
            fprintf(stderr, "compare: %s differs: max diff %.3g, %.3g of its largest value (tolerance %.3g)\n",
                    ta->name, diff, relative, tolerance);
            failures++;
        }
    }
    printf("compare: %d tensors (%d identical), worst %.3g of max|value| (%s), %d over %.3g x max|value| + %.3g\n",
           compared, identical, worst, worst_name, failures, tolerance, floor);
    st_close(a);
    st_close(b);
    return failures == 0 && compared > 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc == 6 && strcmp(argv[1], "--compare") == 0)
        return compare(argv[2], argv[3], atof(argv[4]), atof(argv[5]));
    test_block_ranges();
    test_world_of_one();
    return test_finish("test_dist");
}
