/* PyTorch checkpoints: torch.save state dicts (plain, nested under
 * "state_dict" with "module." prefixes, float16, strided views) and
 * torch.jit.trace archives (float32 and OpenAI's mixed float16), made from
 * the fixture models by tests/make_torch_checkpoints.py when /usr/bin/python3
 * imports torch, compared with the fixtures' reference features. Always,
 * also without torch: archives and pickles built here by hand, including
 * hostile ones (unknown globals, deep nesting, huge memo indices, cycles),
 * which must fail with a clear error. */
#include <errno.h>
#include <libgen.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/pickle.h"
#include "formats/torch_ckpt.h"
#include "formats/zip.h"
#include "test_formats_common.h"

static const char *generated[] = {"tiny-vit.pt",         "tiny-rn.pt", "tiny-vit-nested.pt", "tiny-vit-f16.pt",
                                  "tiny-vit-strided.pt", "tiny-vit-jit.pt", "tiny-vit-jit-f16.pt"};

static int have_all(const char *dir, time_t not_before) {
    for (size_t i = 0; i < sizeof generated / sizeof generated[0]; i++) {
        char path[4200];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", dir, generated[i]);
        if (stat(path, &sb) != 0 || sb.st_mtime < not_before) return 0;
    }
    return 1;
}

/* The generated files, cached in the build tree (the test's working
 * directory) and remade when the generator changes; NULL without torch. */
static const char *torch_checkpoints(void) {
    static char dir[4096];
    const char *env = getenv("CLIP_TORCH_CHECKPOINTS");
    if (env && *env) return env;
    char source[4096], script[4200];
    snprintf(source, sizeof source, "%s", __FILE__);
    snprintf(script, sizeof script, "%s/make_torch_checkpoints.py", dirname(source));
    if (!getcwd(dir, sizeof dir - 32)) return NULL;
    strcat(dir, "/torch_checkpoints");
    struct stat sb;
    time_t script_time = stat(script, &sb) == 0 ? sb.st_mtime : 0;
    if (have_all(dir, script_time)) return dir;
    if (access("/usr/bin/python3", X_OK) != 0 || system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0) {
        printf("NOTE: torch-made checkpoints were not generated (/usr/bin/python3 cannot import torch; Debian: "
               "apt-get install python3-torch); checking hand-made archives only\n");
        return NULL;
    }
    char command[13000];
    snprintf(command, sizeof command, "/usr/bin/python3 '%s' '%s' '%s'", script, fixtures_dir(), dir);
    printf("generating torch checkpoints: %s\n", command);
    fflush(stdout);
    int rc = system(command);
    CHECK(rc == 0 && have_all(dir, script_time), "make_torch_checkpoints.py failed (exit %d)", rc);
    return rc == 0 ? dir : NULL;
}

static void check_generated(const char *dir) {
    static const struct {
        const char *file, *ref, *format;
        double min_cosine;
        int in_place; /* every float32 weight used from the mapping */
    } cases[] = {
        {"tiny-vit.pt", "tiny-vit", "torch", 0, 1},
        {"tiny-rn.pt", "tiny-rn", "torch", 0, 1},
        {"tiny-vit-nested.pt", "tiny-vit", "torch", 0, 1},
        {"tiny-vit-strided.pt", "tiny-vit", "torch", 0, 0},
        {"tiny-vit-jit.pt", "tiny-vit", "torchscript", 0, 1},
        {"tiny-vit-f16.pt", "tiny-vit", "torch", 0.999, 0},
        {"tiny-vit-jit-f16.pt", "tiny-vit", "torchscript", 0.999, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, cases[i].file);
        clip_model *model = NULL;
        clip_status st = load_any_model(path, 2, &model);
        CHECK(st == CLIP_OK, "load %s: %s", cases[i].file, clip_last_error());
        if (st != CLIP_OK) continue;
        CHECK(strcmp(tensor_file_format(model->file), cases[i].format) == 0, "%s: format %s, expected %s",
              cases[i].file, tensor_file_format(model->file), cases[i].format);
        clip_model_info info;
        clip_model_get_info(model, &info);
        if (cases[i].in_place)
            CHECK(info.weight_bytes_owned == 0 && info.weight_bytes_mapped > 0,
                  "%s: float32 weights should be used in place (%llu bytes copied)", cases[i].file,
                  (unsigned long long)info.weight_bytes_owned);
        compare_with_reference(model, cases[i].file, cases[i].ref, cases[i].min_cosine);
        clip_model_free(model);
    }
}

/* ---- hand-made archives ---- */

static void archive(tbuf *zip, const tbuf *pkl, const tzip_entry *extra, int n_extra) {
    tzip_entry entries[8] = {{"archive/data.pkl", pkl->v, pkl->n, 0}, {"archive/byteorder", "little", 6, 0}};
    for (int i = 0; i < n_extra; i++) entries[2 + i] = extra[i];
    tzip_build(zip, entries, 2 + n_extra);
}

static clip_status open_archive(const tbuf *zip, st_file **out) {
    return torch_ckpt_open_memory(zip->v, zip->n, "<hand-made>", out);
}

/* OrderedDict {"a": float32 [2, 3], "b": float16 [4] at storage offset 1,
 * "c": float32 [3, 2] transposed view of a} */
static void build_state_dict(tbuf *pkl, const char *b_storage_type) {
    pk_proto(pkl);
    pk_global(pkl, "collections", "OrderedDict");
    tb_u8(pkl, ')');
    tb_u8(pkl, 'R');
    tb_u8(pkl, '(');
    pk_str(pkl, "a");
    pk_tensor_op(pkl, "FloatStorage", "0", 6, 0, 2, (int[]){2, 3}, (int[]){3, 1});
    pk_str(pkl, "b");
    pk_tensor_op(pkl, b_storage_type, "1", 5, 1, 1, (int[]){4}, (int[]){1});
    pk_str(pkl, "c");
    pk_tensor_op(pkl, "FloatStorage", "0", 6, 0, 2, (int[]){3, 2}, (int[]){1, 3});
    tb_u8(pkl, 'u');
    tb_u8(pkl, '.');
}

static void check_state_dict(void) {
    float a[6] = {1, 2, 3, 4, 5, 6};
    uint16_t b[5] = {0, st_float_to_half(0.5f), st_float_to_half(-1.0f), st_float_to_half(2.0f),
                     st_float_to_half(8.0f)};
    tbuf pkl = {0}, zip = {0};
    build_state_dict(&pkl, "HalfStorage");
    tzip_entry data[2] = {{"archive/data/0", a, sizeof a, 0}, {"archive/data/1", b, sizeof b, 0}};
    archive(&zip, &pkl, data, 2);
    st_file *f = NULL;
    clip_status st = open_archive(&zip, &f);
    CHECK(st == CLIP_OK, "hand-made state dict: %s", clip_last_error());
    if (st == CLIP_OK) {
        const st_tensor *ta = st_find(f, "a"), *tb = st_find(f, "b"), *tc = st_find(f, "c");
        CHECK(ta && ta->dtype == ST_F32 && ta->ndim == 2 && ta->shape[0] == 2 && ta->shape[1] == 3 &&
                  memcmp(ta->data, a, sizeof a) == 0 && ((uintptr_t)ta->data - (uintptr_t)zip.v) % 64 == 0,
              "tensor a wrong (or not in place)");
        CHECK(tb && tb->dtype == ST_F16 && tb->numel == 4 && memcmp(tb->data, b + 1, 8) == 0,
              "tensor b wrong (storage offset)");
        float expect_c[6] = {1, 4, 2, 5, 3, 6};
        CHECK(tc && tc->numel == 6 && memcmp(tc->data, expect_c, sizeof expect_c) == 0,
              "tensor c: the strided view was not gathered");
        CHECK(strcmp(tensor_file_format(f), "torch") == 0, "format %s", tensor_file_format(f));
        st_close(f);
    }
    tb_free(&zip);

    /* The same through the file path (mmap, sniffing). */
    archive(&zip, &pkl, data, 2);
    char path[600];
    snprintf(path, sizeof path, "%s/hand.pt", scratch_dir());
    FILE *fp = fopen(path, "wb");
    fwrite(zip.v, 1, zip.n, fp);
    fclose(fp);
    st = tensor_file_open(path, &f);
    CHECK(st == CLIP_OK && st_find(f, "b") && st_count(f) == 3, "tensor_file_open(hand.pt): %s", clip_last_error());
    if (st == CLIP_OK) st_close(f);

    /* Compressed storage: a clear refusal. */
    tb_free(&zip);
    tzip_entry deflated[2] = {{"archive/data/0", a, sizeof a, 8}, {"archive/data/1", b, sizeof b, 0}};
    archive(&zip, &pkl, deflated, 2);
    st = open_archive(&zip, &f);
    CHECK(st == CLIP_ERR_UNSUPPORTED && contains(clip_last_error(), "compressed"), "compressed storage: %d %s", st,
          clip_last_error());

    /* Missing storage entry; storage too small for the view. */
    tb_free(&zip);
    archive(&zip, &pkl, data, 1);
    st = open_archive(&zip, &f);
    CHECK(st == CLIP_ERR_FORMAT && contains(clip_last_error(), "missing"), "missing storage: %s", clip_last_error());
    tb_free(&zip);
    tzip_entry short_data[2] = {{"archive/data/0", a, 8, 0}, {"archive/data/1", b, sizeof b, 0}};
    archive(&zip, &pkl, short_data, 2);
    st = open_archive(&zip, &f);
    CHECK(st == CLIP_ERR_FORMAT, "storage smaller than its elements: %s", clip_last_error());

    /* Truncated archive. */
    tb_free(&zip);
    archive(&zip, &pkl, data, 2);
    st = torch_ckpt_open_memory(zip.v, zip.n - 30, "<truncated>", &f);
    CHECK(st == CLIP_ERR_FORMAT, "truncated archive: %d %s", st, clip_last_error());
    tb_free(&zip);
    tb_free(&pkl);

    /* Unknown storage type. */
    build_state_dict(&pkl, "ComplexFloatStorage");
    archive(&zip, &pkl, data, 2);
    st = open_archive(&zip, &f);
    CHECK(st == CLIP_ERR_UNSUPPORTED && contains(clip_last_error(), "torch.ComplexFloatStorage"),
          "unknown storage type: %s", clip_last_error());
    tb_free(&zip);
    tb_free(&pkl);
}

/* {"epoch": 3, "state_dict": {"module.w": tensor}} */
static void check_nested(void) {
    float w[2] = {3, 4};
    tbuf pkl = {0}, zip = {0};
    pk_proto(&pkl);
    tb_u8(&pkl, '}');
    tb_u8(&pkl, '(');
    pk_str(&pkl, "epoch");
    pk_int(&pkl, 3);
    pk_str(&pkl, "state_dict");
    tb_u8(&pkl, '}');
    pk_str(&pkl, "module.w");
    pk_tensor_op(&pkl, "FloatStorage", "0", 2, 0, 1, (int[]){2}, (int[]){1});
    tb_u8(&pkl, 's');
    tb_u8(&pkl, 'u');
    tb_u8(&pkl, '.');
    tzip_entry data[1] = {{"archive/data/0", w, sizeof w, 0}};
    archive(&zip, &pkl, data, 1);
    st_file *f = NULL;
    clip_status st = open_archive(&zip, &f);
    CHECK(st == CLIP_OK && st_count(f) == 1 && st_find(f, "w"), "nested state dict with module. prefix: %s",
          st == CLIP_OK ? "wrong names" : clip_last_error());
    if (st == CLIP_OK) st_close(f);
    tb_free(&zip);
    tb_free(&pkl);
}

/* A TorchScript-like module tree: root {w, training, sub: {bias}}. */
static void module(tbuf *pkl, const char *cls) {
    pk_global(pkl, "__torch__", cls);
    tb_u8(pkl, ')');
    tb_u8(pkl, 0x81);
    tb_u8(pkl, '}');
    tb_u8(pkl, '(');
}

static void check_torchscript(void) {
    float w[2] = {1, 2}, bias[1] = {5};
    tbuf pkl = {0}, zip = {0};
    pk_proto(&pkl);
    module(&pkl, "Model");
    pk_str(&pkl, "w");
    pk_tensor_op(&pkl, "FloatStorage", "0", 2, 0, 1, (int[]){2}, (int[]){1});
    pk_str(&pkl, "training");
    tb_u8(&pkl, 0x89);
    pk_str(&pkl, "sub");
    module(&pkl, "torch.nn.modules.linear.Linear");
    pk_str(&pkl, "bias");
    pk_tensor_op(&pkl, "FloatStorage", "1", 1, 0, 1, (int[]){1}, (int[]){1});
    tb_u8(&pkl, 'u');
    tb_u8(&pkl, 'b');
    tb_u8(&pkl, 'u');
    tb_u8(&pkl, 'b');
    tb_u8(&pkl, '.');
    tzip_entry data[3] = {{"archive/data/0", w, sizeof w, 0},
                          {"archive/data/1", bias, sizeof bias, 0},
                          {"archive/constants.pkl", "\x80\x02).", 4, 0}};
    archive(&zip, &pkl, data, 3);
    st_file *f = NULL;
    clip_status st = open_archive(&zip, &f);
    CHECK(st == CLIP_OK && st_count(f) == 2 && st_find(f, "w") && st_find(f, "sub.bias"),
          "TorchScript module tree: %s", st == CLIP_OK ? "wrong names" : clip_last_error());
    if (st == CLIP_OK) {
        CHECK(strcmp(tensor_file_format(f), "torchscript") == 0, "format %s", tensor_file_format(f));
        st_close(f);
    }
    tb_free(&zip);
    tb_free(&pkl);
}

static clip_status load_pickle(const tbuf *pkl) {
    pk_doc *doc = NULL;
    clip_status st = pickle_load(pkl->v, pkl->n, "<hostile>", &doc);
    pickle_free(doc);
    return st;
}

static void check_hostile(void) {
    tbuf pkl = {0}, zip = {0};
    /* An unknown global is refused by name, never imported. */
    pk_proto(&pkl);
    pk_global(&pkl, "os", "system");
    pk_str(&pkl, "touch /tmp/pwned");
    tb_u8(&pkl, 0x85);
    tb_u8(&pkl, 'R');
    tb_u8(&pkl, '.');
    clip_status st = load_pickle(&pkl);
    CHECK(st == CLIP_ERR_UNSUPPORTED && contains(clip_last_error(), "'os.system' is not allowed"),
          "os.system: %d %s", st, clip_last_error());
    archive(&zip, &pkl, NULL, 0);
    st_file *f = NULL;
    st = open_archive(&zip, &f);
    CHECK(st == CLIP_ERR_UNSUPPORTED && contains(clip_last_error(), "os.system"), "os.system in an archive: %s",
          clip_last_error());
    tb_free(&zip);
    tb_free(&pkl);

    /* STACK_GLOBAL (protocol 4) is checked the same way. */
    tb_put(&pkl, "\x80\x04", 2);
    tb_u8(&pkl, 0x8c), tb_u8(&pkl, 8), tb_put(&pkl, "builtins", 8);
    tb_u8(&pkl, 0x8c), tb_u8(&pkl, 4), tb_put(&pkl, "eval", 4);
    tb_u8(&pkl, 0x93);
    tb_u8(&pkl, '.');
    st = load_pickle(&pkl);
    CHECK(st == CLIP_ERR_UNSUPPORTED && contains(clip_last_error(), "builtins.eval"), "builtins.eval: %s",
          clip_last_error());
    tb_free(&pkl);

    /* Deep nesting of MARKs. */
    pk_proto(&pkl);
    for (int i = 0; i < 100000; i++) tb_u8(&pkl, '(');
    st = load_pickle(&pkl);
    CHECK(st == CLIP_ERR_LIMIT && contains(clip_last_error(), "nested"), "deep MARKs: %d %s", st, clip_last_error());
    tb_free(&pkl);

    /* Deeply nested containers need no recursion to build: one million
     * tuples inside each other load (and are freed) without trouble. */
    pk_proto(&pkl);
    tb_u8(&pkl, ')');
    for (int i = 0; i < 1000000; i++) tb_u8(&pkl, 0x85);
    tb_u8(&pkl, '.');
    st = load_pickle(&pkl);
    CHECK(st == CLIP_OK, "a million nested tuples: %s", clip_last_error());
    tb_free(&pkl);

    /* A huge memo index in a tiny pickle. */
    pk_proto(&pkl);
    tb_u8(&pkl, 'N');
    pk_put(&pkl, 0xFFFFFF00u);
    tb_u8(&pkl, '.');
    st = load_pickle(&pkl);
    CHECK(st == CLIP_ERR_LIMIT && contains(clip_last_error(), "memo"), "huge memo index: %d %s", st,
          clip_last_error());
    tb_free(&pkl);

    /* Unset memo entry; truncated string; unknown opcode. */
    pk_proto(&pkl);
    pk_get(&pkl, 7);
    tb_u8(&pkl, '.');
    st = load_pickle(&pkl);
    CHECK(st == CLIP_ERR_FORMAT, "unset memo: %s", clip_last_error());
    tb_free(&pkl);
    pk_proto(&pkl);
    tb_u8(&pkl, 'X');
    tb_le(&pkl, 0x7fffffff, 4);
    tb_put(&pkl, "abc", 3);
    st = load_pickle(&pkl);
    CHECK(st == CLIP_ERR_FORMAT && contains(clip_last_error(), "truncated"), "long string: %s", clip_last_error());
    tb_free(&pkl);
    pk_proto(&pkl);
    tb_put(&pkl, "I42\n.", 5);
    st = load_pickle(&pkl);
    CHECK(st == CLIP_ERR_UNSUPPORTED && contains(clip_last_error(), "opcode"), "text opcode: %s", clip_last_error());
    tb_free(&pkl);

    /* Memory growth is bounded by the pickle size: a list appended to
     * itself through the memo many times stays linear. */
    pk_proto(&pkl);
    tb_u8(&pkl, ']');
    pk_put(&pkl, 0);
    for (int r = 0; r < 2000; r++) {
        tb_u8(&pkl, '(');
        for (int i = 0; i < 50; i++) pk_get(&pkl, 0);
        tb_u8(&pkl, 'e');
    }
    tb_u8(&pkl, '.');
    st = load_pickle(&pkl);
    CHECK(st == CLIP_OK, "self-appending list: %s", clip_last_error());
    tb_free(&pkl);

    /* A module tree 100 levels deep, and a module containing itself. */
    float w[1] = {1};
    pk_proto(&pkl);
    for (int i = 0; i < 100; i++) {
        module(&pkl, "M");
        pk_str(&pkl, "child");
    }
    pk_tensor_op(&pkl, "FloatStorage", "0", 1, 0, 1, (int[]){1}, (int[]){1});
    for (int i = 0; i < 100; i++) tb_put(&pkl, "ub", 2);
    tb_u8(&pkl, '.');
    tzip_entry data[1] = {{"archive/data/0", w, sizeof w, 0}};
    archive(&zip, &pkl, data, 1);
    st = open_archive(&zip, &f);
    CHECK(st == CLIP_ERR_LIMIT && contains(clip_last_error(), "deeper"), "deep module tree: %d %s", st,
          clip_last_error());
    tb_free(&zip);
    tb_free(&pkl);

    pk_proto(&pkl);
    module(&pkl, "Loop"); /* object, then EMPTY_DICT and MARK on the stack */
    tb_free(&pkl);
    pk_proto(&pkl);
    pk_global(&pkl, "__torch__", "Loop");
    tb_u8(&pkl, ')');
    tb_u8(&pkl, 0x81);
    pk_put(&pkl, 0);
    tb_u8(&pkl, '}');
    tb_u8(&pkl, '(');
    pk_str(&pkl, "a");
    pk_get(&pkl, 0);
    pk_str(&pkl, "b");
    pk_get(&pkl, 0);
    tb_u8(&pkl, 'u');
    tb_u8(&pkl, 'b');
    tb_u8(&pkl, '.');
    archive(&zip, &pkl, NULL, 0);
    st = open_archive(&zip, &f);
    CHECK(st == CLIP_ERR_LIMIT, "self-containing module: %d %s", st, clip_last_error());
    tb_free(&zip);
    tb_free(&pkl);

    /* Not a checkpoint: a dict of plain values; a zip without data.pkl. */
    pk_proto(&pkl);
    tb_u8(&pkl, '}');
    pk_str(&pkl, "epoch");
    pk_int(&pkl, 1);
    tb_u8(&pkl, 's');
    tb_u8(&pkl, '.');
    archive(&zip, &pkl, NULL, 0);
    st = open_archive(&zip, &f);
    CHECK(st == CLIP_ERR_FORMAT && contains(clip_last_error(), "state_dict"), "dict without tensors: %s",
          clip_last_error());
    tb_free(&zip);
    tzip_entry other[1] = {{"readme.txt", "hi", 2, 0}};
    tzip_build(&zip, other, 1);
    st = open_archive(&zip, &f);
    CHECK(st == CLIP_ERR_FORMAT && contains(clip_last_error(), "data.pkl"), "zip without data.pkl: %s",
          clip_last_error());
    tb_free(&zip);
    tb_free(&pkl);
}

/* Regression (fuzz_torch): an end-of-central-directory record whose
 * directory lies past the end of the file must be refused, not followed. */
static void directory_outside_file(void) {
    unsigned char eocd[22] = {0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 1, 0, 1, 0,
                              16, 0, 0, 0,          /* directory size */
                              0x00, 0xff, 0xff, 0xff, /* directory offset */
                              0, 0};
    zip_archive *z = NULL;
    CHECK(zip_open_memory(eocd, sizeof eocd, "outside.zip", &z) != CLIP_OK && !z &&
              strstr(clip_last_error(), "outside.zip"),
          "a directory outside the file is refused: %s", clip_last_error());
    zip_close(z);
}

int main(void) {
    fixtures_dir();
    directory_outside_file();
    check_state_dict();
    check_nested();
    check_torchscript();
    check_hostile();
    const char *dir = torch_checkpoints();
    if (dir) check_generated(dir);
    return test_finish("test_formats_torch");
}
