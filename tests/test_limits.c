/* Resource limits (clip_limits): the API itself, then each limit lowered
 * (or, where the default leaves no room below, exceeded) on a real input,
 * which must fail with CLIP_ERR_LIMIT and a message naming the input, the
 * limit, its value and how to raise it; with the limit restored the same
 * input must pass that check again. The environment variables and
 * `clip --limit` are checked by cli_limits.sh (the environment is read
 * once per process). */
#include <archive.h>
#include <archive_entry.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include "data/data.h"
#include "data/idx.h"
#include "formats/npy.h"
#include "formats/pickle.h"
#include "formats/torch_ckpt.h"
#include "server/server.h"
#include "test_formats_common.h"
#include "tokenizer/tokenizer.h"

static void reset_limits(void) {
    clip_limits defaults = {0};
    clip_limits_set(&defaults);
}

static void set_limit(const char *name, const char *value) {
    CHECK(clip_limit_set_by_name(name, value) == CLIP_OK, "set %s=%s: %s", name, value, clip_last_error());
}

/* The refusal every limit shares: CLIP_ERR_LIMIT, the input named, and
 * the limit's name, value and environment variable in the message. */
static void expect_limit(clip_status st, const char *limit, const char *value, const char *input) {
    const char *msg = clip_last_error();
    char env[96], shown[128];
    snprintf(env, sizeof env, "CLIP_LIMIT_");
    for (size_t i = 0; limit[i] && i + 12 < sizeof env; i++) {
        env[11 + i] = (char)(limit[i] >= 'a' && limit[i] <= 'z' ? limit[i] - 32 : limit[i]);
        env[12 + i] = '\0';
    }
    snprintf(shown, sizeof shown, "%s = %s", limit, value);
    CHECK(st == CLIP_ERR_LIMIT, "%s: expected a limit error, got %s (%s)", limit, clip_status_name(st), msg);
    CHECK(strstr(msg, shown) != NULL, "%s: message does not show '%s': %s", limit, shown, msg);
    CHECK(strstr(msg, env) != NULL, "%s: message does not name %s: %s", limit, env, msg);
    CHECK(strstr(msg, "clip --limit") != NULL, "%s: message does not say how to raise it: %s", limit, msg);
    CHECK(!input || strstr(msg, input) != NULL, "%s: message does not name %s: %s", limit, input, msg);
}

static const char *scratch_file(const char *name) {
    static char paths[4][700];
    static int next;
    char *p = paths[next++ % 4];
    snprintf(p, sizeof paths[0], "%s/%s", scratch_dir(), name);
    return p;
}

static void write_text(const char *path, const char *text) {
    FILE *fp = fopen(path, "w");
    if (fp) {
        fputs(text, fp);
        fclose(fp);
    }
}

/* ---- the API ---- */

static void check_api(void) {
    clip_limits l;
    clip_limits_get(&l);
    CHECK(l.max_image_pixels == CLIP_DEFAULT_MAX_PIXELS, "default image pixels %llu",
          (unsigned long long)l.max_image_pixels);
    CHECK(l.max_npy_header == 65536 && l.max_safetensors_header == 100u << 20, "documented defaults");
    l.max_npy_header = 100;
    CHECK(clip_limits_set(&l) == CLIP_OK, "set");
    clip_limits got;
    clip_limits_get(&got);
    CHECK(got.max_npy_header == 100 && got.max_image_pixels == CLIP_DEFAULT_MAX_PIXELS, "set one field");
    reset_limits();
    clip_limits_get(&got);
    CHECK(got.max_npy_header == 65536, "zero restores the default");
    set_limit("max_text_bytes", "2M");
    clip_limits_get(&got);
    CHECK(got.max_text_bytes == 2u << 20, "suffix M: %llu", (unsigned long long)got.max_text_bytes);
    CHECK(clip_limit_set_by_name("max_text_bytes", "0") == CLIP_ERR_INVALID_ARGUMENT, "zero refused by name");
    CHECK(clip_limit_set_by_name("max_text_bytes", "12Q") == CLIP_ERR_INVALID_ARGUMENT, "bad suffix refused");
    CHECK(clip_limit_set_by_name("max_text_bytes", "99999999999T") == CLIP_ERR_INVALID_ARGUMENT, "overflow refused");
    CHECK(clip_limit_set_by_name("no_such_limit", "1") == CLIP_ERR_INVALID_ARGUMENT &&
              strstr(clip_last_error(), "max_image_pixels"),
          "unknown name lists the known ones: %s", clip_last_error());
    int n = 0;
    const char *name, *env;
    uint64_t value, def;
    while (clip_limit_describe(n, &name, &env, &value, &def)) {
        CHECK(strncmp(env, "CLIP_LIMIT_MAX_", 15) == 0 && strncmp(name, "max_", 4) == 0, "names: %s %s", name, env);
        n++;
    }
    CHECK(n == (int)(sizeof(clip_limits) / sizeof(uint64_t)), "one description per field: %d", n);
    reset_limits();
}

/* ---- images ---- */

static void check_images(void) {
    const char *path = fixture_path("images/chelsea.png");
    clip_image *img = NULL;
    set_limit("max_image_pixels", "1000");
    expect_limit(clip_image_load_file(path, NULL, &img), "max_image_pixels", "1000", "chelsea.png");
    /* A caller's own max_pixels wins over the process-wide limit. */
    clip_image_options mine = {.max_pixels = 100000000};
    CHECK(clip_image_load_file(path, &mine, &img) == CLIP_OK, "caller's max_pixels: %s", clip_last_error());
    clip_image_free(img);
    img = NULL;
    reset_limits();
    CHECK(clip_image_load_file(path, NULL, &img) == CLIP_OK, "default limit: %s", clip_last_error());

    float *pixels = malloc(sizeof(float) * 3 * 224 * 224);
    clip_preprocess_options po = {.size = 224};
    set_limit("max_resize_weights", "100");
    expect_limit(clip_image_preprocess(img, &po, pixels), "max_resize_weights", "100", "resize");
    reset_limits();
    CHECK(clip_image_preprocess(img, &po, pixels) == CLIP_OK, "resize at the default: %s", clip_last_error());

    uint8_t *rgb = NULL;
    int w, h;
    set_limit("max_resized_pixels", "1K");
    expect_limit(clip_image_resized_rgb(img, &po, &rgb, &w, &h), "max_resized_pixels", "1024", "clip_image_resized_rgb");
    reset_limits();
    CHECK(clip_image_resized_rgb(img, &po, &rgb, &w, &h) == CLIP_OK, "resized at the default: %s", clip_last_error());
    clip_free(rgb);
    free(pixels);
    clip_image_free(img);
}

/* ---- model files ---- */

static void check_safetensors(void) {
    clip_model *m = NULL;
    clip_load_options o = {.n_threads = 1};
    set_limit("max_safetensors_header", "64");
    expect_limit(clip_model_load(fixture_path("models/tiny-vit.safetensors"), &o, &m), "max_safetensors_header", "64",
                 "tiny-vit.safetensors");
    reset_limits();
    CHECK(clip_model_load(fixture_path("models/tiny-vit.safetensors"), &o, &m) == CLIP_OK, "default: %s",
          clip_last_error());
    clip_model_free(m);
}

static void check_npy(void) {
    const char *path = scratch_file("limits.npy");
    float data[4] = {1, 2, 3, 4};
    int64_t shape[2] = {2, 2};
    CHECK(npy_write_f32(path, 2, shape, data) == CLIP_OK, "npy write");
    npy_array a;
    set_limit("max_npy_header", "32");
    expect_limit(npy_read(path, &a), "max_npy_header", "32", "limits.npy");
    reset_limits();
    CHECK(npy_read(path, &a) == CLIP_OK, "npy at the default: %s", clip_last_error());
    npy_free(&a);
}

/* A pickle of one list holding `n` empty dicts: 2 bytes per dict in the
 * file, far more per dict in memory. */
static void many_dicts(tbuf *b, int n) {
    pk_proto(b);
    tb_u8(b, ']');
    for (int i = 0; i < n; i++) tb_put(b, "}a", 2);
    tb_u8(b, '.');
}

static void check_pickle(void) {
    tbuf pkl = {0};
    many_dicts(&pkl, 200000);
    pk_doc *doc = NULL;
    set_limit("max_pickle_memory_ratio", "1");
    expect_limit(pickle_load(pkl.v, pkl.n, "many-dicts.pkl", &doc), "max_pickle_memory_ratio", "1", "many-dicts.pkl");
    reset_limits();
    CHECK(pickle_load(pkl.v, pkl.n, "many-dicts.pkl", &doc) == CLIP_OK, "pickle at the default: %s", clip_last_error());
    pickle_free(doc);
    tb_free(&pkl);
}

/* A checkpoint of 300 transposed views of one 256 KiB storage: each view
 * is legal, but gathering them all copies 75 MiB out of a file of about
 * 300 KiB (the limit: 2 x the file + 64 MiB). */
static void check_tensor_copy(void) {
    enum { SIDE = 256, VIEWS = 300 };
    float *storage = calloc(SIDE * SIDE, sizeof(float));
    tbuf pkl = {0}, zip = {0};
    pk_proto(&pkl);
    pk_global(&pkl, "collections", "OrderedDict");
    tb_put(&pkl, ")R(", 3);
    for (int i = 0; i < VIEWS; i++) {
        char name[16];
        snprintf(name, sizeof name, "t%d", i);
        pk_str(&pkl, name);
        pk_tensor_op(&pkl, "FloatStorage", "0", SIDE * SIDE, 0, 2, (int[]){SIDE, SIDE}, (int[]){1, SIDE});
    }
    tb_put(&pkl, "u.", 2);
    tzip_entry entries[3] = {{"archive/data.pkl", pkl.v, pkl.n, 0},
                             {"archive/byteorder", "little", 6, 0},
                             {"archive/data/0", storage, SIDE * SIDE * sizeof(float), 0}};
    tzip_build(&zip, entries, 3);
    st_file *f = NULL;
    expect_limit(torch_ckpt_open_memory(zip.v, zip.n, "views.pt", &f), "max_tensor_copy_ratio", "2", "views.pt");
    set_limit("max_tensor_copy_ratio", "1000");
    CHECK(torch_ckpt_open_memory(zip.v, zip.n, "views.pt", &f) == CLIP_OK, "raised copy ratio: %s", clip_last_error());
    st_close(f);
    reset_limits();
    free(storage);
    tb_free(&pkl);
    tb_free(&zip);
}

/* A checkpoint whose data.pkl is deflated: 256 KiB of pickle in a zip of
 * a few KiB. Stored entries (what PyTorch writes) never exceed the file. */
static void check_zip_entry(void) {
    tbuf pkl = {0}, zip = {0};
    pk_proto(&pkl);
    enum { PAD = 256 << 10 };
    char *pad = malloc(PAD);
    memset(pad, 'a', PAD);
    tb_u8(&pkl, 'X');
    tb_le(&pkl, PAD, 4);
    tb_put(&pkl, pad, PAD);
    tb_put(&pkl, "0}.", 3); /* POP the string; an empty dict */
    free(pad);
    uLongf comp_n = compressBound(pkl.n);
    uint8_t *comp = malloc(comp_n);
    z_stream zs = {0};
    deflateInit2(&zs, 9, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY); /* raw deflate, as zip stores it */
    zs.next_in = pkl.v;
    zs.avail_in = (uInt)pkl.n;
    zs.next_out = comp;
    zs.avail_out = (uInt)comp_n;
    deflate(&zs, Z_FINISH);
    comp_n = zs.total_out;
    deflateEnd(&zs);
    tzip_entry entries[2] = {{"archive/data.pkl", comp, comp_n, 8}, {"archive/byteorder", "little", 6, 0}};
    tzip_build(&zip, entries, 2);
    /* tzip_build records one size: patch the inflated size and its CRC
     * into the local header (offset 0) and the first central entry. */
    uint32_t crc = (uint32_t)crc32(0, pkl.v, (uInt)pkl.n);
    for (size_t i = 0; i + 4 <= zip.n; i++) {
        if (memcmp(zip.v + i, "PK\1\2", 4) == 0) {
            for (int k = 0; k < 4; k++) zip.v[i + 16 + k] = (uint8_t)(crc >> (8 * k));
            for (int k = 0; k < 4; k++) zip.v[i + 24 + k] = (uint8_t)(pkl.n >> (8 * k));
            break;
        }
    }
    for (int k = 0; k < 4; k++) zip.v[14 + k] = (uint8_t)(crc >> (8 * k));
    for (int k = 0; k < 4; k++) zip.v[22 + k] = (uint8_t)(pkl.n >> (8 * k));
    st_file *f = NULL;
    expect_limit(torch_ckpt_open_memory(zip.v, zip.n, "deflated.pt", &f), "max_zip_entry_ratio", "1", "deflated.pt");
    set_limit("max_zip_entry_ratio", "1000");
    clip_status st = torch_ckpt_open_memory(zip.v, zip.n, "deflated.pt", &f);
    CHECK(st != CLIP_ERR_LIMIT, "raised zip ratio still refused: %s", clip_last_error());
    if (st == CLIP_OK) st_close(f);
    reset_limits();
    free(comp);
    tb_free(&pkl);
    tb_free(&zip);
}

/* ---- text ---- */

static void check_text(void) {
    clip_tokenizer *tok = NULL;
    CHECK(clip_tokenizer_load(fixture_path("vocab/bpe_simple_vocab_16e6.txt.gz"), &tok) == CLIP_OK, "vocab: %s",
          clip_last_error());
    if (!tok) return;
    const char *text = "a photo of a cat sitting on a mat, next to a dog sleeping in the sun";
    int32_t ids[77];
    int32_t *enc = NULL;
    size_t n = 0;
    set_limit("max_text_bytes", "16");
    expect_limit(clip_tokenize(tok, text, strlen(text), 77, 1, ids), "max_text_bytes", "16", "clip_tokenize");
    expect_limit(clip_tokenizer_encode(tok, text, strlen(text), 0, &enc, &n), "max_text_bytes", "16",
                 "clip_tokenizer_encode");
    CHECK(clip_tokenize(tok, "a cat", 5, 77, 1, ids) == CLIP_OK, "short text under the limit");
    reset_limits();
    CHECK(clip_tokenize(tok, text, strlen(text), 77, 1, ids) == CLIP_OK, "default: %s", clip_last_error());
    clip_tokenizer_free(tok);

    /* The vocabulary: the file itself (1.3 MB), then its gunzipped text. */
    set_limit("max_vocab_bytes", "1M");
    expect_limit(clip_tokenizer_load(fixture_path("vocab/bpe_simple_vocab_16e6.txt.gz"), &tok), "max_vocab_bytes",
                 "1048576", "bpe_simple_vocab_16e6.txt.gz");
    FILE *fp = fopen(fixture_path("vocab/bpe_simple_vocab_16e6.txt.gz"), "rb");
    static uint8_t gz[2 << 20];
    size_t gz_n = fp ? fread(gz, 1, sizeof gz, fp) : 0;
    if (fp) fclose(fp);
    char value[32];
    snprintf(value, sizeof value, "%zu", gz_n + 1);
    set_limit("max_vocab_bytes", value);
    expect_limit(clip_tokenizer_from_buffer(gz, gz_n, "vocab.gz", &tok), "max_vocab_bytes", value, "vocab.gz");
    reset_limits();
    CHECK(clip_tokenizer_from_buffer(gz, gz_n, "vocab.gz", &tok) == CLIP_OK, "default: %s", clip_last_error());
    clip_tokenizer_free(tok);
}

/* ---- training data ---- */

static void write_tar(const char *path, const char *const *names, const char *const *contents, int n) {
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    archive_write_open_filename(a, path);
    for (int i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, names[i]);
        archive_entry_set_size(e, (la_int64_t)strlen(contents[i]));
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_write_header(a, e);
        archive_write_data(a, contents[i], strlen(contents[i]));
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
}

static void check_data(void) {
    clip_data *d = NULL;
    const char *manifest = scratch_file("limits.tsv");
    char text[4096] = "";
    for (int i = 0; i < 5; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "img%d.png\ta caption for picture %d\n", i, i);
    write_text(manifest, text);
    set_limit("max_manifest_line", "16");
    expect_limit(clip_data_open(manifest, NULL, &d), "max_manifest_line", "16", "limits.tsv:1");
    reset_limits();
    set_limit("max_dataset_items", "3");
    expect_limit(clip_data_open(manifest, NULL, &d), "max_dataset_items", "3", "limits.tsv");
    reset_limits();
    CHECK(clip_data_open(manifest, NULL, &d) == CLIP_OK && clip_data_size(d) == 5, "manifest at the defaults: %s",
          clip_last_error());
    clip_data_close(d);
    d = NULL;

    /* WebDataset: three pairs, one caption 2000 bytes long. */
    char long_caption[2001];
    memset(long_caption, 'x', 2000);
    long_caption[2000] = '\0';
    const char *names[6] = {"a.png", "a.txt", "b.png", "b.txt", "c.png", "c.txt"};
    const char *contents[6] = {"not really a png", "first", "not really a png", long_caption, "not really a png",
                               "third"};
    const char *shard = scratch_file("limits.tar");
    write_tar(shard, names, contents, 6);
    set_limit("max_shard_member", "1000");
    expect_limit(clip_data_open(shard, NULL, &d), "max_shard_member", "1000", "limits.tar");
    reset_limits();
    set_limit("max_dataset_items", "2");
    expect_limit(clip_data_open(shard, NULL, &d), "max_dataset_items", "2", "limits.tar");
    reset_limits();
    CHECK(clip_data_open(shard, NULL, &d) == CLIP_OK && clip_data_size(d) == 3, "shard at the defaults: %s",
          clip_last_error());
    clip_data_close(d);

    /* IDX (Fashion-MNIST's format): 10 images of 28 x 28. */
    const char *idx = scratch_file("limits-idx3-ubyte");
    FILE *fp = fopen(idx, "wb");
    unsigned char header[16] = {0, 0, 8, 3, 0, 0, 0, 10, 0, 0, 0, 28, 0, 0, 0, 28};
    static unsigned char pixels[10 * 28 * 28];
    if (fp) {
        fwrite(header, 1, sizeof header, fp);
        fwrite(pixels, 1, sizeof pixels, fp);
        fclose(fp);
    }
    idx_array arr;
    set_limit("max_idx_bytes", "1000");
    expect_limit(idx_read_u8(idx, 3, &arr), "max_idx_bytes", "1000", "limits-idx3-ubyte");
    reset_limits();
    CHECK(idx_read_u8(idx, 3, &arr) == CLIP_OK, "IDX at the default: %s", clip_last_error());
    idx_free(&arr);
}

/* ---- HTTP ---- */

/* Sends a POST announcing `length` bytes (and sending them) and returns
 * the status code of the reply, or -1. */
static int post_status(int port, size_t length) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    char head[256];
    int n = snprintf(head, sizeof head,
                     "POST /v1/embed HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                     length);
    char *body = malloc(length);
    memset(body, ' ', length);
    body[0] = '{';
    body[length - 1] = '}';
    ssize_t sent = write(fd, head, (size_t)n);
    if (sent == n) sent = write(fd, body, length); /* may stop early: the server refuses from the header */
    free(body);
    char reply[64] = "";
    ssize_t got = read(fd, reply, sizeof reply - 1);
    close(fd);
    int status = -1;
    if (got > 12) sscanf(reply, "HTTP/1.%*d %d", &status);
    return status;
}

static void check_http(void) {
    clip_model *m = NULL;
    clip_load_options o = {.n_threads = 1};
    if (clip_model_load(fixture_path("models/tiny-vit.safetensors"), &o, &m) != CLIP_OK) {
        CHECK(0, "model: %s", clip_last_error());
        return;
    }
    set_limit("max_http_body", "1K");
    clip_server_options so = {.model = m};
    clip_server *server = NULL;
    if (clip_server_start(&so, &server) != CLIP_OK) {
        CHECK(0, "server: %s", clip_last_error());
        clip_model_free(m);
        return;
    }
    reset_limits(); /* the server keeps the limit it started with */
    int port = clip_server_port(server);
    CHECK(post_status(port, 4096) == 413, "a 4 KiB body over a 1 KiB limit is refused with 413");
    CHECK(post_status(port, 512) != 413, "a 512-byte body is read");
    clip_server_stop(server, 1000);
    clip_model_free(m);
}

int main(void) {
    fixtures_dir();
    check_api();
    check_images();
    check_safetensors();
    check_npy();
    check_pickle();
    check_tensor_copy();
    check_zip_entry();
    check_text();
    check_data();
    check_http();
    return test_finish("test_limits");
}
