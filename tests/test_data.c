/* Training data sources and augmentation. */
#include <archive.h>
#include <archive_entry.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/data.h"
#include "harness.h"

static void write_tar(const char *path, const char *const *names, const char *const *files, int n, int truncate) {
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    archive_write_open_filename(a, path);
    for (int i = 0; i < n; i++) {
        FILE *fp = fopen(files[i], "rb");
        char *buf = NULL;
        size_t size = 0;
        if (fp) {
            fseek(fp, 0, SEEK_END);
            size = (size_t)ftell(fp);
            fseek(fp, 0, SEEK_SET);
            buf = malloc(size);
            if (fread(buf, 1, size, fp) != size) size = 0;
            fclose(fp);
        } else { /* a caption given inline */
            buf = strdup(files[i]);
            size = strlen(buf);
        }
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, names[i]);
        archive_entry_set_size(e, (la_int64_t)size);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_write_header(a, e);
        archive_write_data(a, buf, size);
        archive_entry_free(e);
        free(buf);
    }
    archive_write_close(a);
    archive_write_free(a);
    if (truncate) {
        FILE *fp = fopen(path, "r+b");
        fseek(fp, 0, SEEK_END);
        long size = ftell(fp);
        CHECK(ftruncate(fileno(fp), size / 3) == 0, "truncate");
        fclose(fp);
    }
}

int main(void) {
    clip_data *d = NULL;
    clip_rng rng;
    clip_rng_seed(&rng, 1);
    clip_image *img;
    char *caption;
    int label;

    /* Fashion-MNIST from Debian's dataset-fashion-mnist */
    CHECK(clip_data_open("fashion-mnist:test", NULL, &d) == CLIP_OK, "fashion-mnist: %s", clip_last_error());
    if (d) {
        CHECK(clip_data_size(d) == 10000 && clip_data_n_classes(d) == 10, "test split: %lld items",
              (long long)clip_data_size(d));
        CHECK(clip_data_get(d, 0, &rng, &img, &caption, &label) == CLIP_OK, "item 0");
        /* The first test image of Fashion-MNIST is an ankle boot (label 9). */
        CHECK(label == 9 && strstr(caption, "ankle boot") && clip_image_width(img) == 28, "item 0: %d '%s'", label,
              caption);
        float a[3 * 28 * 28], b[3 * 28 * 28], c[3 * 28 * 28];
        clip_rng r1, r2;
        clip_rng_seed(&r1, 42);
        clip_rng_seed(&r2, 42);
        clip_augment(img, 28, 0.9f, 1.0f, &r1, a);
        clip_augment(img, 28, 0.9f, 1.0f, &r2, b);
        CHECK(memcmp(a, b, sizeof a) == 0, "augmentation is deterministic from the seed");
        int differs = 0;
        for (int i = 0; i < 5 && !differs; i++) {
            clip_augment(img, 28, 0.9f, 1.0f, &r1, c);
            differs = memcmp(a, c, sizeof a) != 0;
        }
        CHECK(differs, "augmentation varies between draws");
        float eval[3 * 28 * 28];
        clip_preprocess_options po = {.size = 28};
        clip_image_preprocess(img, &po, eval);
        clip_augment(img, 28, 0.9f, 1.0f, NULL, c);
        CHECK(memcmp(eval, c, sizeof c) == 0, "no rng = CLIP's evaluation preprocessing");
        clip_image_free(img);
        free(caption);
        CHECK(clip_data_get(d, 10000, &rng, &img, &caption, &label) == CLIP_ERR_INVALID_ARGUMENT, "out of range");
        clip_data_close(d);
    }
    CHECK(clip_data_open("fashion-mnist:/nonexistent:train", NULL, &d) == CLIP_ERR_IO &&
              strstr(clip_last_error(), "dataset-fashion-mnist"),
          "missing dataset names the package: %s", clip_last_error());

    /* TSV and CSV manifests with relative paths, a header and quoting. */
    char path[700], img_copy[700];
    snprintf(img_copy, sizeof img_copy, "%s/cat.png", scratch_dir());
    FILE *src = fopen(fixture_path("images/chelsea.png"), "rb"), *dst = fopen(img_copy, "wb");
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, src)) > 0) fwrite(buf, 1, n, dst);
    fclose(src);
    fclose(dst);
    snprintf(path, sizeof path, "%s/train.tsv", scratch_dir());
    FILE *fp = fopen(path, "w");
    fprintf(fp, "filepath\ttitle\ncat.png\ta cat on a blanket\n%s\tan astronaut\n",
            fixture_path("images/astronaut_baseline.jpg"));
    fclose(fp);
    CHECK(clip_data_open(path, NULL, &d) == CLIP_OK, "tsv: %s", clip_last_error());
    if (d) {
        CHECK(clip_data_size(d) == 2, "tsv items");
        CHECK(clip_data_get(d, 0, &rng, &img, &caption, &label) == CLIP_OK && strcmp(caption, "a cat on a blanket") == 0 &&
                  clip_image_width(img) == 451 && label == -1,
              "tsv item 0 (relative path): %s", clip_last_error());
        clip_image_free(img);
        free(caption);
        clip_data_close(d);
    }
    snprintf(path, sizeof path, "%s/train.csv", scratch_dir());
    fp = fopen(path, "w");
    fprintf(fp, "cat.png,\"a cat, lying \"\"down\"\"\"\n");
    fclose(fp);
    CHECK(clip_data_open(path, NULL, &d) == CLIP_OK, "csv: %s", clip_last_error());
    if (d) {
        CHECK(clip_data_get(d, 0, &rng, &img, &caption, &label) == CLIP_OK &&
                  strcmp(caption, "a cat, lying \"down\"") == 0,
              "csv quoting: '%s'", caption ? caption : "");
        clip_image_free(img);
        free(caption);
        clip_data_close(d);
    }
    snprintf(path, sizeof path, "%s/bad.tsv", scratch_dir());
    fp = fopen(path, "w");
    fprintf(fp, "only-one-column\n");
    fclose(fp);
    CHECK(clip_data_open(path, NULL, &d) == CLIP_ERR_FORMAT && strstr(clip_last_error(), "bad.tsv:1"),
          "malformed manifest names file and line: %s", clip_last_error());

    /* WebDataset shard: two pairs, one image without caption. */
    const char *names[5] = {"000001.jpg", "000001.txt", "000002.png", "000002.txt", "000003.png"};
    const char *files[5] = {fixture_path("images/astronaut_baseline.jpg"), "an astronaut", img_copy, "a cat",
                            img_copy};
    snprintf(path, sizeof path, "%s/shard-000.tar", scratch_dir());
    write_tar(path, names, files, 5, 0);
    CHECK(clip_data_open(path, NULL, &d) == CLIP_OK, "webdataset: %s", clip_last_error());
    if (d) {
        CHECK(clip_data_size(d) == 2, "webdataset pairs: %lld", (long long)clip_data_size(d));
        CHECK(clip_data_get(d, 1, &rng, &img, &caption, &label) == CLIP_OK && strcmp(caption, "a cat") == 0 &&
                  clip_image_width(img) == 451,
              "webdataset item 1: %s", clip_last_error());
        clip_image_free(img);
        free(caption);
        clip_data_close(d);
    }
    /* An empty caption member (found by fuzz_data: it has no bytes at all). */
    const char *empty_names[2] = {"k.png", "k.txt"};
    const char *empty_files[2] = {img_copy, ""};
    snprintf(path, sizeof path, "%s/empty-caption.tar", scratch_dir());
    write_tar(path, empty_names, empty_files, 2, 0);
    CHECK(clip_data_open(path, NULL, &d) == CLIP_OK && clip_data_size(d) == 1, "empty caption: %s", clip_last_error());
    if (d) {
        CHECK(clip_data_get(d, 0, &rng, &img, &caption, &label) == CLIP_OK && caption && caption[0] == '\0',
              "empty caption reads as \"\"");
        clip_image_free(img);
        free(caption);
        clip_data_close(d);
        unlink(path);
    }
    /* A folder of shards. */
    CHECK(clip_data_open(scratch_dir(), NULL, &d) == CLIP_OK && clip_data_size(d) == 2, "shard folder: %s",
          clip_last_error());
    clip_data_close(d);
    snprintf(path, sizeof path, "%s/broken.tar", scratch_dir());
    write_tar(path, names, files, 5, 1);
    clip_status st = clip_data_open(path, NULL, &d);
    CHECK(st != CLIP_OK && strstr(clip_last_error(), "broken.tar"), "truncated shard: %s", clip_last_error());
    return test_finish("test_data");
}
