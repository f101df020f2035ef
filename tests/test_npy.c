/* .npy writer and reader: round trips, numpy's own header layout, and
 * headers that lie about their data. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/npy.h"
#include "harness.h"

static const char *scratch_file(const char *name) {
    static char buffers[4][1024];
    static int next;
    char *out = buffers[next++ % 4];
    snprintf(out, sizeof buffers[0], "%s/%s", scratch_dir(), name);
    return out;
}

static size_t file_bytes(const char *path, uint8_t *buf, size_t cap) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return 0;
    size_t n = fread(buf, 1, cap, fp);
    fclose(fp);
    return n;
}

static void write_raw(const char *path, const void *data, size_t n) {
    FILE *fp = fopen(path, "wb");
    if (!fp || (n && fwrite(data, 1, n, fp) != n)) exit(1);
    fclose(fp);
}

/* A hand-made v1.0 file: preamble, `header` padded to 64 bytes, `data`. */
static void write_npy_by_hand(const char *path, const char *header, const void *data, size_t n) {
    uint8_t buf[4096];
    size_t len = strlen(header);
    size_t total = (10 + len + 1 + 63) / 64 * 64;
    size_t hlen = total - 10;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (uint8_t)(hlen & 0xff);
    buf[9] = (uint8_t)(hlen >> 8);
    memcpy(buf + 10, header, len);
    memset(buf + 10 + len, ' ', hlen - len - 1);
    buf[total - 1] = '\n';
    memcpy(buf + total, data, n);
    write_raw(path, buf, total + n);
}

static void test_round_trips(void) {
    float f[6] = {1.5f, -2.0f, 3.25f, 0.0f, 1e-30f, -7.0f};
    int64_t shape2[2] = {2, 3};
    const char *path = scratch_file("f.npy");
    CHECK(npy_write_f32(path, 2, shape2, f) == CLIP_OK, "write f32: %s", clip_last_error());
    uint8_t bytes[512];
    size_t n = file_bytes(path, bytes, sizeof bytes);
    CHECK(n == 128 + 24, "f32 file size %zu", n);
    CHECK(memcmp(bytes, "\x93NUMPY\x01\x00", 8) == 0, "magic and version");
    const char *want = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    CHECK(memcmp(bytes + 10, want, strlen(want)) == 0, "numpy's header text");
    CHECK(bytes[127] == '\n', "header ends with newline at the 64-byte boundary");
    npy_array a;
    CHECK(npy_read(path, &a) == CLIP_OK, "read f32: %s", clip_last_error());
    CHECK(strcmp(a.descr, "<f4") == 0 && a.ndim == 2 && a.shape[0] == 2 && a.shape[1] == 3 && a.nbytes == 24 &&
              npy_numel(&a) == 6,
          "f32 header fields");
    CHECK(a.data && memcmp(a.data, f, 24) == 0, "f32 data");
    npy_free(&a);
    CHECK(a.data == NULL, "npy_free clears");

    int32_t i32[4] = {1, -2, 49406, 49407};
    int64_t shape1[1] = {4};
    path = scratch_file("i.npy");
    CHECK(npy_write_i32(path, 1, shape1, i32) == CLIP_OK, "write i32");
    n = file_bytes(path, bytes, sizeof bytes);
    want = "{'descr': '<i4', 'fortran_order': False, 'shape': (4,), }";
    CHECK(memcmp(bytes + 10, want, strlen(want)) == 0, "1-d tuple has a trailing comma");
    CHECK(npy_read(path, &a) == CLIP_OK && a.ndim == 1 && a.shape[0] == 4 && memcmp(a.data, i32, 16) == 0, "i32");
    npy_free(&a);

    int64_t i64[2] = {-1, 1LL << 40};
    int64_t shape0[1] = {0};
    path = scratch_file("l.npy");
    CHECK(npy_write_i64(path, 1, (int64_t[]){2}, i64) == CLIP_OK, "write i64");
    CHECK(npy_read(path, &a) == CLIP_OK && strcmp(a.descr, "<i8") == 0 && memcmp(a.data, i64, 16) == 0, "i64");
    npy_free(&a);

    path = scratch_file("scalar.npy");
    CHECK(npy_write(path, "<f8", 0, NULL, &(double){2.5}) == CLIP_OK, "write scalar");
    CHECK(npy_read(path, &a) == CLIP_OK && a.ndim == 0 && a.nbytes == 8 && *(double *)a.data == 2.5, "scalar");
    npy_free(&a);

    path = scratch_file("empty.npy");
    CHECK(npy_write(path, "<f4", 1, shape0, NULL) == CLIP_OK, "write empty");
    CHECK(npy_read(path, &a) == CLIP_OK && a.nbytes == 0 && a.shape[0] == 0, "empty array");
    npy_free(&a);

    CHECK(npy_write(scratch_file("bad.npy"), "<c8", 1, shape1, f) == CLIP_ERR_DTYPE, "unknown dtype refused");
    CHECK(npy_write(scratch_file("bad.npy"), "<f4", 9, shape1, f) == CLIP_ERR_INVALID_ARGUMENT, "too many dims");
    CHECK(npy_write("/nonexistent-dir/x.npy", "<f4", 1, shape1, f) == CLIP_ERR_IO, "unwritable");
    CHECK(npy_descr_size("|u1") == 1 && npy_descr_size("<f2") == 2 && npy_descr_size(">f4") == 0, "descr sizes");
}

static void expect_read_fails(const char *name, const char *header, size_t data_bytes, clip_status want,
                              const char *reason) {
    uint8_t data[64] = {0};
    const char *path = scratch_file(name);
    write_npy_by_hand(path, header, data, data_bytes);
    npy_array a;
    clip_status st = npy_read(path, &a);
    CHECK(st == want, "%s: status %s, wanted %s (%s)", name, clip_status_name(st), clip_status_name(want),
          clip_last_error());
    CHECK(strstr(clip_last_error(), path) != NULL, "%s: message names the file: %s", name, clip_last_error());
    CHECK(strstr(clip_last_error(), reason) != NULL, "%s: message lacks '%s': %s", name, reason, clip_last_error());
    CHECK(a.data == NULL && a.ndim == 0, "%s: output cleared", name);
}

static void test_hostile_headers(void) {
    /* Accepted variations numpy and other writers produce. */
    uint8_t data[16] = {0};
    npy_array a;
    const char *path = scratch_file("reordered.npy");
    write_npy_by_hand(path, "{\"shape\": (2,2), \"fortran_order\": False, \"descr\": \"|u1\"}", data, 4);
    CHECK(npy_read(path, &a) == CLIP_OK && a.shape[0] == 2 && a.nbytes == 4, "keys in any order: %s",
          clip_last_error());
    npy_free(&a);
    path = scratch_file("long.npy");
    write_npy_by_hand(path, "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 1L), }", data, 8);
    CHECK(npy_read(path, &a) == CLIP_OK && a.shape[0] == 2, "Python 2 long suffix");
    npy_free(&a);

    expect_read_fails("short.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 8, CLIP_ERR_FORMAT,
                      "need 12");
    expect_read_fails("long_data.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 8,
                      CLIP_ERR_FORMAT, "need 4");
    expect_read_fails("overflow.npy",
                      "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }", 0,
                      CLIP_ERR_FORMAT, "overflows");
    expect_read_fails("huge_dim.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }",
                      0, CLIP_ERR_FORMAT, "shape");
    expect_read_fails("fortran.npy", "{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }", 4,
                      CLIP_ERR_UNSUPPORTED, "Fortran");
    expect_read_fails("bigendian.npy", "{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", 4,
                      CLIP_ERR_DTYPE, ">f4");
    expect_read_fails("object.npy", "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", 8, CLIP_ERR_DTYPE,
                      "dtype");
    expect_read_fails("missing.npy", "{'descr': '<f4', 'shape': (1,), }", 4, CLIP_ERR_FORMAT, "lacks");
    expect_read_fails("dup.npy", "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 4,
                      CLIP_ERR_FORMAT, "repeated");
    expect_read_fails("garbage.npy", "not a dict at all", 0, CLIP_ERR_FORMAT, "not a dict");
    expect_read_fails("int_shape.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (3), }", 12,
                      CLIP_ERR_FORMAT, "shape");
    expect_read_fails("negative.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", 4,
                      CLIP_ERR_FORMAT, "shape");
    expect_read_fails("ninedims.npy",
                      "{'descr': '|u1', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", 1,
                      CLIP_ERR_FORMAT, "shape");
    expect_read_fails("unterminated.npy", "{'descr': '<f4", 0, CLIP_ERR_FORMAT, "descr");

    /* Preamble problems. */
    path = scratch_file("tiny.npy");
    write_raw(path, "\x93NUM", 4);
    CHECK(npy_read(path, &a) == CLIP_ERR_FORMAT, "4-byte file");
    path = scratch_file("hlen.npy");
    write_raw(path, "\x93NUMPY\x01\x00\xff\xff{}", 12);
    CHECK(npy_read(path, &a) == CLIP_ERR_FORMAT && strstr(clip_last_error(), "truncated"), "header past EOF: %s",
          clip_last_error());
    path = scratch_file("v9.npy");
    write_raw(path, "\x93NUMPY\x09\x00\x00\x00", 10);
    CHECK(npy_read(path, &a) == CLIP_ERR_UNSUPPORTED, "version 9");
    path = scratch_file("v2huge.npy");
    write_raw(path, "\x93NUMPY\x02\x00\xff\xff\xff\x7f", 12);
    CHECK(npy_read(path, &a) == CLIP_ERR_LIMIT, "2 GB header refused before reading");
    CHECK(npy_read(scratch_file("absent.npy"), &a) == CLIP_ERR_IO, "missing file");
    CHECK(npy_read(scratch_dir(), &a) == CLIP_ERR_IO, "directory");

    /* Version 2.0 headers parse the same way. */
    uint8_t v2[128];
    const char *h = "{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }";
    size_t hl = 128 - 12 - 4;
    memcpy(v2, "\x93NUMPY\x02\x00", 8);
    v2[8] = (uint8_t)hl, v2[9] = 0, v2[10] = 0, v2[11] = 0;
    memset(v2 + 12, ' ', hl);
    memcpy(v2 + 12, h, strlen(h));
    v2[12 + hl - 1] = '\n';
    memcpy(v2 + 124, "\x2a\0\0\0", 4);
    CHECK(npy_read_memory(v2, sizeof v2, "v2 buffer", &a) == CLIP_OK && *(int32_t *)a.data == 42, "v2 from memory: %s",
          clip_last_error());
    npy_free(&a);
}

int main(void) {
    test_round_trips();
    test_hostile_headers();
    return test_finish("test_npy");
}
