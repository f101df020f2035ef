/* Tokenizer against the reference: every case of tokenizer/cases.jsonl
 * (clip.tokenize, context 77, truncate), cases_notrunc.jsonl
 * (SimpleTokenizer.encode, with the cleaned text and pre-tokens checked
 * too) and decode.jsonl, plus truncation, huge inputs, the other
 * vocabulary sources, error messages and fuzzing regressions. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <zlib.h>

#include "harness.h"
#include "tokenizer/bpe.h"
#include "tokenizer/ftfy.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

enum { CONTEXT = 77, MAX_REPORTED = 15 };

static int reported;

static char *read_text_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "FATAL: cannot open %s\n", path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "FATAL: cannot read %s\n", path);
        exit(1);
    }
    buf[n] = '\0';
    fclose(f);
    if (size) *size = (size_t)n;
    return buf;
}

/* Calls fn on each JSON line of a fixture file; returns the line count. */
static int for_each_case(const char *relative, void (*fn)(const cJSON *, void *), void *ctx) {
    char *text = read_text_file(fixture_path(relative), NULL);
    int count = 0;
    for (char *line = text; *line;) {
        char *end = strchr(line, '\n');
        if (end) *end = '\0';
        if (*line) {
            cJSON *obj = cJSON_Parse(line);
            if (!obj) {
                fprintf(stderr, "FATAL: %s line %d is not JSON\n", relative, count + 1);
                exit(1);
            }
            fn(obj, ctx);
            cJSON_Delete(obj);
            count++;
        }
        if (!end) break;
        line = end + 1;
    }
    free(text);
    return count;
}

static uint8_t *hex_bytes(const char *hex, size_t *n) {
    size_t len = strlen(hex) / 2;
    uint8_t *out = malloc(len + 1);
    for (size_t i = 0; i < len; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
    *n = len;
    return out;
}

static int32_t *json_ids(const cJSON *arr, size_t *n) {
    *n = (size_t)cJSON_GetArraySize(arr);
    int32_t *ids = malloc((*n + 1) * sizeof *ids);
    size_t i = 0;
    for (const cJSON *it = arr->child; it; it = it->next) ids[i++] = (int32_t)it->valuedouble;
    return ids;
}

static void print_ids(const char *label, const int32_t *ids, size_t n) {
    fprintf(stderr, "    %s:", label);
    for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
    fputc('\n', stderr);
}

/* ---- cases.jsonl ---- */

typedef struct suite {
    clip_tokenizer *tok;
    int passed, failed;
} suite;

static void check_tokenize_case(const cJSON *c, void *p) {
    suite *s = p;
    size_t len, n_expected;
    uint8_t *input = hex_bytes(cJSON_GetObjectItem(c, "input_hex")->valuestring, &len);
    int32_t *expected = json_ids(cJSON_GetObjectItem(c, "ids"), &n_expected);
    int expected_trunc = cJSON_IsTrue(cJSON_GetObjectItem(c, "truncated"));
    int32_t got[CONTEXT];
    int truncated = -1;
    clip_status st = clip_tokenize_ex(s->tok, (const char *)input, len, CONTEXT, 1, got, &truncated);
    int ok = st == CLIP_OK && n_expected == CONTEXT && memcmp(got, expected, sizeof got) == 0 &&
             truncated == expected_trunc;
    /* The public entry point must agree. */
    int32_t again[CONTEXT];
    ok = ok && clip_tokenize(s->tok, (const char *)input, len, CONTEXT, 1, again) == CLIP_OK &&
         memcmp(again, got, sizeof got) == 0;
    CHECK(ok, "cases.jsonl index %d (%s)", cJSON_GetObjectItem(c, "index")->valueint,
          cJSON_GetObjectItem(c, "text")->valuestring);
    if (ok) {
        s->passed++;
    } else {
        s->failed++;
        if (reported++ < MAX_REPORTED) {
            print_ids("expected", expected, n_expected);
            print_ids("got     ", got, CONTEXT);
        }
    }
    free(input);
    free(expected);
}

/* ---- cases_notrunc.jsonl: ids, cleaned text and pre-tokens ---- */

typedef struct joined {
    byte_buf text;
    int words;
    cJSON *pieces;
} joined;

static int join_word(void *p, const uint8_t *w, size_t n) {
    joined *j = p;
    if (j->words++) byte_push(&j->text, ' ');
    byte_append(&j->text, w, n);
    return 0;
}

static int add_piece(void *p, const uint8_t *w, size_t n) {
    joined *j = p;
    char *s = malloc(n + 1);
    memcpy(s, w, n);
    s[n] = '\0';
    cJSON_AddItemToArray(j->pieces, cJSON_CreateString(s));
    free(s);
    return 0;
}

static void check_encode_case(const cJSON *c, void *p) {
    suite *s = p;
    size_t len, n_expected, n_got = 0;
    uint8_t *input = hex_bytes(cJSON_GetObjectItem(c, "input_hex")->valuestring, &len);
    int32_t *expected = json_ids(cJSON_GetObjectItem(c, "ids"), &n_expected);
    int32_t *got = NULL;
    int index = cJSON_GetObjectItem(c, "index")->valueint;
    clip_status st = clip_tokenizer_encode(s->tok, (const char *)input, len, 0, &got, &n_got);
    int ids_ok = st == CLIP_OK && n_got == n_expected && memcmp(got, expected, n_got * sizeof *got) == 0;

    joined j = {0};
    clip_text_words(s->tok, input, len, join_word, &j);
    byte_push(&j.text, '\0');
    const char *cleaned = cJSON_GetObjectItem(c, "cleaned")->valuestring;
    int cleaned_ok = strcmp((const char *)j.text.v, cleaned) == 0;
    CHECK(cleaned_ok, "cases_notrunc.jsonl index %d: cleaned text \"%s\", expected \"%s\"", index,
          (const char *)j.text.v, cleaned);

    j.pieces = cJSON_CreateArray();
    clip_text_pieces(s->tok, input, len, add_piece, &j);
    char *pieces = cJSON_PrintUnformatted(j.pieces);
    char *want = cJSON_PrintUnformatted(cJSON_GetObjectItem(c, "pretokens"));
    int pieces_ok = strcmp(pieces, want) == 0;
    CHECK(pieces_ok, "cases_notrunc.jsonl index %d: pre-tokens %s, expected %s", index, pieces, want);

    CHECK(ids_ok, "cases_notrunc.jsonl index %d: encode ids differ", index);
    if (ids_ok && cleaned_ok && pieces_ok) {
        s->passed++;
    } else {
        s->failed++;
        if (!ids_ok && reported++ < MAX_REPORTED) {
            print_ids("expected", expected, n_expected);
            print_ids("got     ", got, n_got);
        }
    }
    cJSON_free(pieces);
    cJSON_free(want);
    cJSON_Delete(j.pieces);
    byte_buf_free(&j.text);
    clip_free(got);
    free(input);
    free(expected);
}

/* ---- decode.jsonl ---- */

static void check_decode_case(const cJSON *c, void *p) {
    suite *s = p;
    size_t n_ids, n_text;
    int32_t *ids = json_ids(cJSON_GetObjectItem(c, "ids"), &n_ids);
    uint8_t *expected = hex_bytes(cJSON_GetObjectItem(c, "text_hex")->valuestring, &n_text);
    char *text = NULL;
    size_t len = 0;
    clip_status st = clip_tokenizer_decode_len(s->tok, ids, n_ids, &text, &len);
    int ok = st == CLIP_OK && len == n_text && memcmp(text, expected, n_text) == 0;
    CHECK(ok, "decode.jsonl: got \"%s\", expected \"%s\"", text ? text : "(error)",
          cJSON_GetObjectItem(c, "text")->valuestring);
    if (ok) s->passed++;
    else s->failed++;
    clip_free(text);
    free(ids);
    free(expected);
}

static void run_fixture_suites(clip_tokenizer *tok) {
    suite a = {tok, 0, 0}, b = {tok, 0, 0}, d = {tok, 0, 0};
    int na = for_each_case("tokenizer/cases.jsonl", check_tokenize_case, &a);
    int nb = for_each_case("tokenizer/cases_notrunc.jsonl", check_encode_case, &b);
    int nd = for_each_case("tokenizer/decode.jsonl", check_decode_case, &d);
    printf("cases.jsonl: %d/%d exact\n", a.passed, na);
    printf("cases_notrunc.jsonl: %d/%d exact (ids, cleaned text, pre-tokens)\n", b.passed, nb);
    printf("decode.jsonl: %d/%d exact\n", d.passed, nd);
    CHECK(na == 360 && nb == 360 && nd == 91, "fixture case counts %d %d %d", na, nb, nd);
}

/* ---- Truncation and limits ---- */

static void test_truncation(clip_tokenizer *tok) {
    const char *text = "a photo of a cat";
    int32_t ids[8];
    /* 5 BPE ids + SOT + EOT = 7 */
    int truncated = -1;
    CHECK(clip_tokenize_ex(tok, text, strlen(text), 7, 0, ids, &truncated) == CLIP_OK && !truncated, "fits in 7");
    CHECK(ids[0] == CLIP_TOKEN_SOT && ids[5] == 2368 && ids[6] == CLIP_TOKEN_EOT, "SOT/EOT placement");
    CHECK(clip_tokenize_ex(tok, text, strlen(text), 8, 0, ids, &truncated) == CLIP_OK && ids[7] == 0,
          "zero padding");
    CHECK(clip_tokenize_ex(tok, text, strlen(text), 5, 1, ids, &truncated) == CLIP_OK && truncated,
          "5 is too short");
    CHECK(ids[0] == CLIP_TOKEN_SOT && ids[1] == 320 && ids[2] == 1125 && ids[3] == 539 && ids[4] == CLIP_TOKEN_EOT,
          "truncation keeps the first ids and ends with EOT");
    clip_status st = clip_tokenize(tok, text, strlen(text), 5, 0, ids);
    CHECK(st == CLIP_ERR_LIMIT, "no-truncate over-long text fails with CLIP_ERR_LIMIT (%d)", st);
    CHECK(strstr(clip_last_error(), "too long") != NULL, "message: %s", clip_last_error());
    CHECK(clip_tokenize(tok, text, strlen(text), 1, 1, ids) == CLIP_OK && ids[0] == CLIP_TOKEN_EOT,
          "context 1 truncates to [EOT] like the reference");
    CHECK(clip_tokenize(tok, text, strlen(text), 1, 0, ids) == CLIP_ERR_LIMIT, "context 1 without truncation");
    CHECK(clip_tokenize(tok, text, strlen(text), 0, 1, ids) == CLIP_ERR_INVALID_ARGUMENT, "context 0");
    CHECK(clip_tokenize(tok, "", 0, 2, 0, ids) == CLIP_OK && ids[0] == CLIP_TOKEN_SOT && ids[1] == CLIP_TOKEN_EOT,
          "empty text fits in 2");
    int32_t *enc = NULL;
    size_t n = 0;
    CHECK(clip_tokenizer_encode(tok, text, strlen(text), 2, &enc, &n) == CLIP_OK && n == 2 && enc[0] == 320 &&
              enc[1] == 1125,
          "encode stops at max_ids");
    clip_free(enc);
    CHECK(clip_tokenizer_vocab_size(tok) == 49408, "vocab size %d", clip_tokenizer_vocab_size(tok));
    char *dec = NULL;
    int32_t bad = 49408;
    CHECK(clip_tokenizer_decode(tok, &bad, 1, &dec) == CLIP_ERR_INVALID_ARGUMENT && !dec, "decode rejects bad ids");
}

/* CPU time: the machine is shared, and this is about work done. */
static double seconds_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Several MB of text: clip_tokenize must stop at the context, and the ids
 * must be those of the text's beginning. */
static void test_huge_inputs(clip_tokenizer *tok) {
    const char *unit = "A photo of a cat sitting on a red sofa. ";
    size_t unit_len = strlen(unit), reps = 200000; /* 8 MB */
    char *big = malloc(unit_len * reps + 1);
    for (size_t i = 0; i < reps; i++) memcpy(big + i * unit_len, unit, unit_len);
    big[unit_len * reps] = '\0';
    int32_t head[CONTEXT], full[CONTEXT];
    clip_tokenize(tok, big, unit_len * 20, CONTEXT, 1, head);
    double t0 = seconds_now();
    clip_status st = clip_tokenize(tok, big, unit_len * reps, CONTEXT, 1, full);
    double dt = seconds_now() - t0;
    CHECK(st == CLIP_OK && memcmp(head, full, sizeof head) == 0, "8 MB single line: same ids as its start");
    CHECK(dt < 1.0, "8 MB single line tokenized in %.3f s (must stop early)", dt);

    /* Many lines, not ASCII (slow path on every line). */
    for (size_t i = 0; i < reps; i++) big[i * unit_len + unit_len - 1] = '\n';
    const char *accented = "Caf\xc3\xa9 \xe2\x80\x9cna\xc3\xafve\xe2\x80\x9d \xc3\x83\xc2\xa9t\xc3\x83\xc2\xa9\n";
    size_t alen = strlen(accented);
    for (size_t off = 0; off + alen < unit_len * reps; off += unit_len * 3) memcpy(big + off, accented, alen);
    clip_tokenize(tok, big, unit_len * 30, CONTEXT, 1, head);
    t0 = seconds_now();
    st = clip_tokenize(tok, big, unit_len * reps, CONTEXT, 1, full);
    dt = seconds_now() - t0;
    CHECK(st == CLIP_OK && memcmp(head, full, sizeof head) == 0, "8 MB of lines: same ids as its start");
    CHECK(dt < 1.0, "8 MB of lines tokenized in %.3f s", dt);

    /* encode with max_ids on the whole text agrees with encode of a prefix */
    int32_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    clip_tokenizer_encode(tok, big, unit_len * reps, 500, &a, &na);
    clip_tokenizer_encode(tok, big, unit_len * 60, 0, &b, &nb);
    CHECK(na == 500 && nb >= 500 && memcmp(a, b, 500 * sizeof *a) == 0, "encode(max_ids=500) is the prefix");
    clip_free(a);
    clip_free(b);

    /* One 3 MB word without spaces: bounded and exact on its start. */
    memset(big, 'x', 3u << 20);
    t0 = seconds_now();
    st = clip_tokenize(tok, big, 3u << 20, CONTEXT, 1, full);
    dt = seconds_now() - t0;
    CHECK(st == CLIP_OK && full[CONTEXT - 1] == CLIP_TOKEN_EOT, "3 MB word tokenizes");
    CHECK(dt < 20.0, "3 MB word in %.3f s (no quadratic BPE)", dt);

    /* 2 MB of non-ASCII on one line (ftfy's 1M-character segment cap). */
    for (size_t i = 0; i + 2 <= (2u << 20); i += 2) memcpy(big + i, "\xc3\xa9", 2);
    t0 = seconds_now();
    st = clip_tokenize(tok, big, 2u << 20, CONTEXT, 1, full);
    dt = seconds_now() - t0;
    CHECK(st == CLIP_OK, "2 MB of e-acute");
    CHECK(dt < 20.0, "2 MB of e-acute in %.3f s", dt);
    free(big);
}

/* ---- Other vocabulary sources ---- */

static uint8_t *gunzip_fixture(size_t *n) {
    gzFile gz = gzopen(fixture_path("vocab/bpe_simple_vocab_16e6.txt.gz"), "rb");
    if (!gz) {
        fprintf(stderr, "FATAL: cannot open the vocabulary fixture\n");
        exit(1);
    }
    size_t cap = 4u << 20, len = 0;
    uint8_t *buf = malloc(cap);
    int got;
    while ((got = gzread(gz, buf + len, (unsigned)(cap - len))) > 0) {
        len += (size_t)got;
        if (len == cap) buf = realloc(buf, cap *= 2);
    }
    gzclose(gz);
    *n = len;
    return buf;
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n) {
        fprintf(stderr, "FATAL: cannot write %s\n", path);
        exit(1);
    }
    fclose(f);
}

static void write_str(const char *path, const char *text) { write_file(path, text, strlen(text)); }

/* UTF-8 of bytes_to_unicode()[b], and the byte order of ids 0..255. */
static size_t byte_symbol(int b, uint8_t *out) {
    static uint32_t cps[256];
    static int ready;
    if (!ready) {
        int extra = 0;
        for (int x = 0; x < 256; x++) {
            int printable = (x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF);
            cps[x] = printable ? (uint32_t)x : 256u + (uint32_t)extra++;
        }
        ready = 1;
    }
    return clip_utf8_put(cps[b], out);
}

static void json_string(byte_buf *out, const uint8_t *s, size_t n) {
    byte_push(out, '"');
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\') byte_push(out, '\\');
        byte_push(out, s[i]);
    }
    byte_push(out, '"');
}

/* Writes Hugging Face's layout of the same vocabulary: vocab.json maps
 * each symbol to its id, merges.txt has a "#version" line then the merges. */
static void write_hf_files(const char *dir, const uint8_t *merges, size_t n) {
    int order[256], k = 0;
    for (int b = 0; b < 256; b++)
        if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) order[k++] = b;
    for (int b = 0; b < 256; b++)
        if (!((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))) order[k++] = b;
    byte_buf json = {0}, mtxt = {0};
    byte_push(&json, '{');
    int id = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < 256; i++) {
            uint8_t s[16];
            size_t len = byte_symbol(order[i], s);
            if (pass) memcpy(s + len, "</w>", 4), len += 4;
            if (id) byte_push(&json, ',');
            json_string(&json, s, len);
            char num[32];
            snprintf(num, sizeof num, ":%d", id++);
            byte_append(&json, num, strlen(num));
        }
    byte_append(&mtxt, "#version: 0.2\n", 14);
    const uint8_t *p = memchr(merges, '\n', n) + 1;
    for (int m = 0; m < CLIP_BPE_MERGES; m++) {
        const uint8_t *end = memchr(p, '\n', (size_t)(merges + n - p));
        const uint8_t *space = memchr(p, ' ', (size_t)(end - p));
        byte_append(&mtxt, p, (size_t)(end - p) + 1);
        uint8_t joined[256];
        size_t a = (size_t)(space - p), b = (size_t)(end - space - 1);
        memcpy(joined, p, a);
        memcpy(joined + a, space + 1, b);
        byte_push(&json, ',');
        json_string(&json, joined, a + b);
        char num[32];
        snprintf(num, sizeof num, ":%d", id++);
        byte_append(&json, num, strlen(num));
        p = end + 1;
    }
    char tail[128];
    snprintf(tail, sizeof tail, ",\"<|startoftext|>\":%d,\"<|endoftext|>\":%d}", id, id + 1);
    byte_append(&json, tail, strlen(tail));
    char path[1024];
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    write_file(path, json.v, json.n);
    snprintf(path, sizeof path, "%s/merges.txt", dir);
    write_file(path, mtxt.v, mtxt.n);
    byte_buf_free(&json);
    byte_buf_free(&mtxt);
}

typedef struct same_ids {
    clip_tokenizer *ref, *other;
    int diff;
} same_ids;

static void compare_case(const cJSON *c, void *p) {
    same_ids *s = p;
    size_t len;
    uint8_t *input = hex_bytes(cJSON_GetObjectItem(c, "input_hex")->valuestring, &len);
    int32_t a[CONTEXT], b[CONTEXT];
    clip_tokenize(s->ref, (const char *)input, len, CONTEXT, 1, a);
    clip_tokenize(s->other, (const char *)input, len, CONTEXT, 1, b);
    if (memcmp(a, b, sizeof a) != 0) s->diff++;
    free(input);
}

static void check_same(clip_tokenizer *ref, clip_tokenizer *other, const char *what) {
    same_ids s = {ref, other, 0};
    int n = for_each_case("tokenizer/cases.jsonl", compare_case, &s);
    CHECK(s.diff == 0, "%s: %d of %d cases differ from the gz vocabulary", what, s.diff, n);
    char *a = NULL, *b = NULL;
    int32_t ids[] = {320, 1125, 539, 320, 2368, 49406, 49407, 0, 256, 511};
    clip_tokenizer_decode(ref, ids, 10, &a);
    clip_tokenizer_decode(other, ids, 10, &b);
    CHECK(a && b && strcmp(a, b) == 0, "%s: decode differs", what);
    clip_free(a);
    clip_free(b);
}

static void test_vocab_sources(clip_tokenizer *ref) {
    size_t n;
    uint8_t *merges = gunzip_fixture(&n);
    const char *dir = scratch_dir();

    clip_tokenizer *tok = NULL;
    CHECK(clip_tokenizer_from_merges((const char *)merges, n, &tok) == CLIP_OK, "from_merges: %s", clip_last_error());
    if (tok) check_same(ref, tok, "plain merges text");
    clip_tokenizer_free(tok);

    tok = NULL;
    CHECK(clip_tokenizer_from_buffer(merges, n, "plain", &tok) == CLIP_OK, "from_buffer plain: %s", clip_last_error());
    if (tok) check_same(ref, tok, "buffer (plain)");
    clip_tokenizer_free(tok);

    size_t gz_n;
    char *gz = read_text_file(fixture_path("vocab/bpe_simple_vocab_16e6.txt.gz"), &gz_n);
    tok = NULL;
    CHECK(clip_tokenizer_from_buffer(gz, gz_n, "embedded", &tok) == CLIP_OK, "from_buffer gz: %s", clip_last_error());
    if (tok) check_same(ref, tok, "buffer (gzip)");
    clip_tokenizer_free(tok);
    tok = NULL;
    CHECK(clip_tokenizer_from_buffer(gz, gz_n / 2, "cut", &tok) == CLIP_ERR_FORMAT && !tok,
          "truncated gzip is a format error: %s", clip_last_error());
    free(gz);

    char plain_path[1024];
    snprintf(plain_path, sizeof plain_path, "%s/bpe.txt", dir);
    write_file(plain_path, merges, n);
    tok = NULL;
    CHECK(clip_tokenizer_load(plain_path, &tok) == CLIP_OK, "load plain file: %s", clip_last_error());
    if (tok) check_same(ref, tok, "plain file");
    clip_tokenizer_free(tok);

    write_hf_files(dir, merges, n);
    char vocab_path[1024], merges_path[1024];
    snprintf(vocab_path, sizeof vocab_path, "%s/vocab.json", dir);
    snprintf(merges_path, sizeof merges_path, "%s/merges.txt", dir);
    tok = NULL;
    CHECK(clip_tokenizer_load_hf(vocab_path, merges_path, &tok) == CLIP_OK, "load_hf: %s", clip_last_error());
    if (tok) {
        check_same(ref, tok, "Hugging Face vocab.json + merges.txt");
        CHECK(clip_tokenizer_vocab_size(tok) == 49408, "HF vocab size %d", clip_tokenizer_vocab_size(tok));
    }
    clip_tokenizer_free(tok);
    tok = NULL;
    CHECK(clip_tokenizer_load(dir, &tok) == CLIP_OK, "load(dir): %s", clip_last_error());
    if (tok) check_same(ref, tok, "Hugging Face folder");
    clip_tokenizer_free(tok);
    tok = NULL;
    CHECK(clip_tokenizer_load(vocab_path, &tok) == CLIP_OK, "load(vocab.json): %s", clip_last_error());
    clip_tokenizer_free(tok);

    /* Broken Hugging Face files are reported, naming the file. */
    char bad_dir[1024], bad_vocab[1100], bad_merges[1100];
    snprintf(bad_dir, sizeof bad_dir, "%s/bad_hf", dir);
    mkdir(bad_dir, 0700);
    snprintf(bad_vocab, sizeof bad_vocab, "%s/vocab.json", bad_dir);
    snprintf(bad_merges, sizeof bad_merges, "%s/merges.txt", bad_dir);
    write_str(bad_merges, "#version: 0.2\na b\n");
    write_str(bad_vocab, "{\"a\": 0, ");
    tok = NULL;
    CHECK(clip_tokenizer_load(bad_dir, &tok) == CLIP_ERR_FORMAT && !tok && strstr(clip_last_error(), "vocab.json"),
          "truncated vocab.json: %s", clip_last_error());
    write_str(bad_vocab, "{\"a\": 0, \"b\": 0}");
    CHECK(clip_tokenizer_load(bad_dir, &tok) == CLIP_ERR_VOCAB && !tok, "repeated id: %s", clip_last_error());
    write_str(bad_vocab, "{\"a\": 0, \"b\": 1}");
    CHECK(clip_tokenizer_load(bad_dir, &tok) == CLIP_ERR_VOCAB && !tok && strstr(clip_last_error(), "byte"),
          "byte symbols missing: %s", clip_last_error());
    free(merges);
}

static void test_errors(void) {
    clip_tokenizer *tok = NULL;
    clip_status st = clip_tokenizer_load("/nonexistent/bpe_simple_vocab_16e6.txt.gz", &tok);
    CHECK(st == CLIP_ERR_VOCAB && !tok, "missing file: %s", clip_status_name(st));
    CHECK(strstr(clip_last_error(), "/nonexistent/bpe_simple_vocab_16e6.txt.gz") != NULL, "message names the path: %s",
          clip_last_error());

    const char *dir = scratch_dir();
    char junk[1024];
    snprintf(junk, sizeof junk, "%s/junk.txt", dir);
    write_str(junk, "#version\n");
    st = clip_tokenizer_load(junk, &tok);
    CHECK(st == CLIP_ERR_VOCAB && strstr(clip_last_error(), "junk.txt"), "header-only file: %s", clip_last_error());
    write_str(junk, "#v\n\xff\xfe x\n");
    st = clip_tokenizer_load(junk, &tok);
    CHECK(st == CLIP_ERR_VOCAB && strstr(clip_last_error(), "UTF-8"), "not UTF-8: %s", clip_last_error());

    /* The default search, with nothing to find. */
    char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    char *old_vocab = getenv("CLIP_VOCAB") ? strdup(getenv("CLIP_VOCAB")) : NULL;
    setenv("HOME", dir, 1);
    unsetenv("CLIP_VOCAB");
    struct stat sb;
    if (stat("/usr/share/clip/bpe_simple_vocab_16e6.txt.gz", &sb) != 0) {
        st = clip_tokenizer_find_default(NULL, &tok);
        const char *msg = clip_last_error();
        CHECK(st == CLIP_ERR_VOCAB && !tok, "nothing found: %s", clip_status_name(st));
        CHECK(strstr(msg, "--vocab") && strstr(msg, "CLIP_VOCAB") && strstr(msg, "/.cache/clip/") &&
                  strstr(msg, "/usr/share/clip/"),
              "message says where it looked and what to do: %s", msg);
    }
    setenv("CLIP_VOCAB", "/nonexistent/vocab.gz", 1);
    st = clip_tokenizer_find_default(NULL, &tok);
    CHECK(st == CLIP_ERR_VOCAB && strstr(clip_last_error(), "CLIP_VOCAB") && strstr(clip_last_error(), "/nonexistent"),
          "a broken CLIP_VOCAB is reported: %s", clip_last_error());
    setenv("CLIP_VOCAB", fixture_path("vocab/bpe_simple_vocab_16e6.txt.gz"), 1);
    st = clip_tokenizer_find_default(NULL, &tok);
    CHECK(st == CLIP_OK && tok, "CLIP_VOCAB is used: %s", clip_last_error());
    clip_tokenizer_free(tok);
    if (old_home) setenv("HOME", old_home, 1);
    if (old_vocab) setenv("CLIP_VOCAB", old_vocab, 1);
    else unsetenv("CLIP_VOCAB");
    free(old_home);
    free(old_vocab);
}

/* ---- BPE against a literal port of SimpleTokenizer.bpe ---- */

static size_t reference_bpe(const bpe_merges *m, int32_t *w, size_t n) {
    for (;;) {
        int32_t best = -1, best_merged = 0, l = 0, r = 0;
        for (size_t i = 0; i + 1 < n; i++) {
            int32_t merged, rank = bpe_merges_get(m, w[i], w[i + 1], &merged);
            if (rank >= 0 && (best < 0 || rank < best)) {
                best = rank;
                best_merged = merged;
                l = w[i];
                r = w[i + 1];
            }
        }
        if (best < 0) return n;
        size_t k = 0;
        for (size_t i = 0; i < n;) {
            if (i + 1 < n && w[i] == l && w[i + 1] == r) {
                w[k++] = best_merged;
                i += 2;
            } else {
                w[k++] = w[i++];
            }
        }
        n = k;
    }
}

static void test_bpe_random(void) {
    /* Random merges over a small alphabet, including ones a learned merge
     * list never has (a merge enabling a lower-ranked one). */
    srand(12345);
    int mismatches = 0;
    for (int trial = 0; trial < 200; trial++) {
        bpe_merges m;
        bpe_merges_init(&m, 64);
        /* Ranks are unique, as in any merges list (a rank is a line). */
        int32_t ranks[30];
        for (int k = 0; k < 30; k++) ranks[k] = k;
        for (int k = 29; k > 0; k--) {
            int j = rand() % (k + 1);
            int32_t t = ranks[k];
            ranks[k] = ranks[j];
            ranks[j] = t;
        }
        int next_id = 4;
        for (int k = 0; k < 30; k++) {
            int32_t a = rand() % next_id, b = rand() % next_id;
            /* A merge of a pair already ranked replaces it (Python dict). */
            bpe_merges_put(&m, a, b, ranks[k], next_id++);
        }
        bpe_scratch s = {0};
        for (int word = 0; word < 20; word++) {
            size_t n = 1 + (size_t)(rand() % 40);
            int32_t w[64], ref[64], out[64];
            for (size_t i = 0; i < n; i++) w[i] = ref[i] = rand() % 4;
            size_t nr = reference_bpe(&m, ref, n);
            size_t no = bpe_encode(&m, &s, w, n, out);
            if (nr != no || memcmp(ref, out, nr * sizeof *out) != 0) mismatches++;
        }
        bpe_scratch_free(&s);
        bpe_merges_free(&m);
    }
    CHECK(mismatches == 0, "heap BPE vs literal BPE: %d mismatches", mismatches);
}

/* ---- ftfy details not covered by the fixtures (ftfy's own examples) ---- */

static void check_ftfy(const char *in, const char *want) {
    cp_buf t = {0};
    clip_utf8_decode_replace((const uint8_t *)in, strlen(in), &t);
    clip_ftfy_fix_segment(&t, 1);
    byte_buf out = {0};
    clip_utf8_encode_append(t.v, t.n, &out);
    byte_push(&out, '\0');
    CHECK(strcmp((const char *)out.v, want) == 0, "ftfy(\"%s\") = \"%s\", expected \"%s\"", in, (const char *)out.v, want);
    cp_buf_free(&t);
    byte_buf_free(&out);
}

static void test_ftfy_examples(void) {
    check_ftfy("\xc3\xa2\xc5\x93\xe2\x80\x9d No problems", "\xe2\x9c\x94 No problems");      /* âœ” */
    check_ftfy("\xc3\x83\xc2\xb3", "\xc3\xb3");                                               /* Ã³ */
    check_ftfy("s\xc3\x83\xc2\xb3", "s\xc3\xb3");                                             /* sÃ³ */
    check_ftfy("voil\xc3\x83 le travail", "voil\xc3\xa0 le travail");                         /* restore_byte_a0 */
    check_ftfy("&ntilde; &Ntilde; &NTILDE; &nTILDE;", "\xc3\xb1 \xc3\x91 \xc3\x91 &nTILDE;"); /* all-caps entities */
    check_ftfy("BUNDESSTRA&SZLIG;E", "BUNDESSTRASSE");
    check_ftfy("&Jscr;ohn &HilbertSpace;ancock", "\xf0\x9d\x92\xa5ohn \xe2\x84\x8b" "ancock");
    check_ftfy("\xef\xbc\xb5\xef\xbe\x80\xef\xbd\xb0\xef\xbe\x9d", "U\xe3\x82\xbf\xe3\x83\xbc\xe3\x83\xb3"); /* Ｕﾀｰﾝ */
    check_ftfy("\x1b[36;44mI'm blue, da ba dee da ba doo...\x1b[0m", "I'm blue, da ba dee da ba doo...");
    check_ftfy("fl\xef\xac\x82uffy \xc5\x89", "flfluffy 'n");                                /* ligatures, ŉ */
    check_ftfy("&#59; &#x3b; &#12x; &#1;x", "&#59; &#x3b; &#12x; x");
    check_ftfy("This text was never UTF-8 at all\xc2\x85", "This text was never UTF-8 at all\xe2\x80\xa6");
    /* From ftfy's "in the wild" test cases. */
    check_ftfy("R\303\204\302\253ga", "R\304\253ga"); /* Windows-1257 (new in 6.3) */
    check_ftfy("RUF MICH ZUR\303\203\305\223CK", "RUF MICH ZUR\303\234CK"); /* Ü in an upper-case word (6.3) */
    check_ftfy("Hi guys \303\255\302\240\302\275\303\255\302\270\302\215", "Hi guys \360\237\230\215"); /* CESU-8 */
    check_ftfy("upgraded to \303\242\342\202\254\305\223bb+\303\242\342\202\254\077 from",
               "upgraded to \042bb+\357\277\275 from"); /* lossy, with '?' */
    check_ftfy("aten\303\203\302\247\303\203\302\243o \303\203 s crian\303\203\302\247as",
               "aten\303\247\303\243o \303\240s crian\303\247as"); /* 'às' kept whole */
    check_ftfy("wei\342\210\232\303\274", "wei\303\237"); /* MacRoman */
    check_ftfy("#\342\225\250\342\224\220\342\225\244\303\207\342\225\250\342\226\221\342\225\250\342\226\223",
               "#\320\277\321\200\320\260\320\262"); /* cp437 */
    check_ftfy("a bigger-than-expected \320\223\342\200\232\320\222\320\2105.8bn",
               "a bigger-than-expected \302\2435.8bn"); /* 1252 then 1251 */
    check_ftfy("Campeonatos > III Divis\303\203\302\243o - S\303\203\302\251rie F > Jornadas Classifica\303\247\303\243o",
               "Campeonatos > III Divis\303\243o - S\303\251rie F > Jornadas Classifica\303\247\303\243o");
    check_ftfy("10\303\216&frac14;s", "10\316\274s"); /* entity on top of mojibake */
}

/* ---- Regressions (fuzzing and review) ---- */

static void test_regressions(clip_tokenizer *tok) {
    /* fuzz: a merge at the first symbol read next[-1] (found by ASan). */
    int32_t s_ids[4];
    CHECK(clip_tokenize(tok, "'s", 2, 4, 1, s_ids) == CLIP_OK && s_ids[1] == 568, "'s -> %d", s_ids[1]);
    /* html.unescape with an entity name holding NUL must not read past the
     * table's strings. */
    static const char nul_name[] = "&a\0mp;x";
    int32_t ids[CONTEXT];
    CHECK(clip_tokenize(tok, nul_name, sizeof nul_name - 1, CONTEXT, 1, ids) == CLIP_OK, "NUL in entity name");
    /* An enormous decimal reference saturates to U+FFFD. */
    const char *huge = "&#99999999999999999999999999999999999999;";
    int32_t *got = NULL, *want = NULL;
    size_t ng = 0, nw = 0;
    clip_tokenizer_encode(tok, huge, strlen(huge), 0, &got, &ng);
    clip_tokenizer_encode(tok, "\xef\xbf\xbd", 3, 0, &want, &nw);
    CHECK(ng == nw && memcmp(got, want, ng * sizeof *got) == 0, "huge charref -> U+FFFD");
    clip_free(got);
    clip_free(want);
    /* ſ folds to s: "<|ſtartoftext|>" is one pre-token, but not the special id. */
    const char *longs = "<|\xc5\xbftartoftext|>";
    clip_tokenizer_encode(tok, longs, strlen(longs), 0, &got, &ng);
    CHECK(ng > 1 && got[0] != CLIP_TOKEN_SOT, "long-s special token is BPE'd");
    clip_free(got);
}

int main(void) {
    clip_tokenizer *tok = NULL;
    clip_status st = clip_tokenizer_load(fixture_path("vocab/bpe_simple_vocab_16e6.txt.gz"), &tok);
    if (st != CLIP_OK) {
        fprintf(stderr, "FATAL: %s\n", clip_last_error());
        return 1;
    }
    run_fixture_suites(tok);
    test_truncation(tok);
    test_huge_inputs(tok);
    test_vocab_sources(tok);
    test_errors();
    test_bpe_random();
    test_ftfy_examples();
    test_regressions(tok);
    clip_tokenizer_free(tok);
    return test_finish("test_tokenizer");
}
