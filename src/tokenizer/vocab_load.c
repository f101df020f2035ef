/* Building a tokenizer from its vocabulary sources: OpenAI's merges file
 * (gzip or plain, from disk or a buffer) and Hugging Face's vocab.json +
 * merges.txt pair, plus the default search the tools share. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "core/error.h"
#include "core/limits.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode_props.h"
#include "tokenizer/utf8.h"

/* ---- Strings of the vocabulary, and the string -> id map ---- */

typedef struct vocab {
    byte_buf arena;
    size_t *off, *len;
    size_t n, cap;
    /* string -> id (the last id wins, like the reference's dict) */
    int32_t *slots;
    size_t mask;
} vocab;

static void vocab_free(vocab *v) {
    byte_buf_free(&v->arena);
    free(v->off);
    free(v->len);
    free(v->slots);
    memset(v, 0, sizeof *v);
}

static int vocab_add(vocab *v, const void *s, size_t len) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 1024;
        size_t *off = realloc(v->off, cap * sizeof *off);
        if (off) v->off = off;
        size_t *l = realloc(v->len, cap * sizeof *l);
        if (l) v->len = l;
        if (!off || !l) return 0;
        v->cap = cap;
    }
    v->off[v->n] = v->arena.n;
    v->len[v->n] = len;
    byte_append(&v->arena, s, len);
    v->n++;
    return !v->arena.failed;
}

static const uint8_t *vocab_str(const vocab *v, size_t id) { return v->arena.v + v->off[id]; }

static size_t vocab_slot(const vocab *v, const void *s, size_t len) {
    size_t i = word_cache_hash(s, len) & v->mask;
    while (v->slots[i] >= 0) {
        size_t id = (size_t)v->slots[i];
        if (v->len[id] == len && memcmp(vocab_str(v, id), s, len) == 0) break;
        i = (i + 1) & v->mask;
    }
    return i;
}

static int vocab_index(vocab *v) {
    size_t cap = 64;
    while (cap < v->n * 2) cap *= 2;
    v->slots = malloc(cap * sizeof *v->slots);
    if (!v->slots) return 0;
    memset(v->slots, 0xFF, cap * sizeof *v->slots);
    v->mask = cap - 1;
    for (size_t id = 0; id < v->n; id++) v->slots[vocab_slot(v, vocab_str(v, id), v->len[id])] = (int32_t)id;
    return 1;
}

static int32_t vocab_get(const vocab *v, const void *s, size_t len) { return v->slots[vocab_slot(v, s, len)]; }

/* ---- bytes_to_unicode() ---- */

/* The printable bytes map to themselves; the other 68 to U+0100.. in
 * byte order. Ids 0..255 follow the printable ones first. */
static int printable_byte(int b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); }

static void byte_unicode(uint32_t byte_cp[256], int order[256]) {
    int n = 0, extra = 0;
    for (int b = 0; b < 256; b++)
        if (printable_byte(b)) order[n++] = b;
    for (int b = 0; b < 256; b++) {
        if (printable_byte(b)) {
            byte_cp[b] = (uint32_t)b;
        } else {
            byte_cp[b] = 256u + (uint32_t)extra++;
            order[n++] = b;
        }
    }
}

/* ---- The tokenizer from a vocabulary and merges ---- */

typedef struct merge_line {
    size_t a_off, a_len, b_off, b_len; /* into the merges text */
    size_t start, end;                 /* the whole line */
    int pair;                          /* exactly two parts */
} merge_line;

/* Python's str.split() of one line into at most the two parts a merge has
 * (more parts, or fewer, make it a merge that can never apply). */
static merge_line split_merge(const uint8_t *text, size_t start, size_t end) {
    merge_line m = {0};
    size_t parts = 0, i = start;
    size_t offs[2] = {0}, lens[2] = {0};
    while (i < end) {
        uint32_t c;
        size_t len = clip_utf8_next(text + i, end - i, &c);
        if (clip_py_isspace(c)) {
            i += len;
            continue;
        }
        size_t s = i;
        while (i < end) {
            len = clip_utf8_next(text + i, end - i, &c);
            if (clip_py_isspace(c)) break;
            i += len;
        }
        if (parts < 2) {
            offs[parts] = s;
            lens[parts] = i - s;
        }
        parts++;
    }
    m.a_off = offs[0];
    m.a_len = lens[0];
    m.b_off = offs[1];
    m.b_len = lens[1];
    m.pair = parts == 2;
    m.start = start;
    m.end = end;
    return m;
}

/* ''.join(line.split()): the vocabulary entry of any merge line. */
static void join_parts(const uint8_t *text, const merge_line *m, byte_buf *out) {
    for (size_t i = m->start; i < m->end;) {
        uint32_t c;
        size_t len = clip_utf8_next(text + i, m->end - i, &c);
        if (!clip_py_isspace(c)) byte_append(out, text + i, len);
        i += len;
    }
}

/* Fills the byte ids, merges and decoder of `tok` from `v` (ids are
 * positions in v) and the merge lines. `strict`: every symbol a merge
 * needs must be in the vocabulary (Hugging Face files name each one). */
static clip_status finish(clip_tokenizer *tok, vocab *v, const uint8_t *mtext, const merge_line *lines, size_t n_lines,
                          int strict, const char *label) {
    if (!vocab_index(v)) return clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", label);
    uint32_t byte_cp[256];
    int order[256];
    byte_unicode(byte_cp, order);
    for (int b = 0; b < 256; b++) {
        uint8_t s[8];
        size_t len = clip_utf8_put(byte_cp[b], s);
        tok->byte_id[b] = vocab_get(v, s, len);
        memcpy(s + len, "</w>", 4);
        tok->byte_end_id[b] = vocab_get(v, s, len + 4);
        if (tok->byte_id[b] < 0 || tok->byte_end_id[b] < 0)
            return clip_fail(CLIP_ERR_VOCAB, "%s: vocabulary lacks the symbol for byte 0x%02X", label, b);
    }
    tok->sot_id = vocab_get(v, "<|startoftext|>", 15);
    tok->eot_id = vocab_get(v, "<|endoftext|>", 13);
    if (tok->sot_id < 0 || tok->eot_id < 0)
        return clip_fail(CLIP_ERR_VOCAB, "%s: vocabulary lacks <|startoftext|> or <|endoftext|>", label);

    if (!bpe_merges_init(&tok->merges, n_lines)) return clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", label);
    byte_buf joined = {0};
    for (size_t k = 0; k < n_lines; k++) {
        const merge_line *m = &lines[k];
        if (!m->pair) continue;
        int32_t a = vocab_get(v, mtext + m->a_off, m->a_len), b = vocab_get(v, mtext + m->b_off, m->b_len);
        joined.n = 0;
        byte_append(&joined, mtext + m->a_off, m->a_len);
        byte_append(&joined, mtext + m->b_off, m->b_len);
        int32_t ab = joined.failed ? -1 : vocab_get(v, joined.v, joined.n);
        if (a < 0 || b < 0 || ab < 0) {
            if (strict || joined.failed) {
                byte_buf_free(&joined);
                if (joined.failed) return clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", label);
                return clip_fail(CLIP_ERR_VOCAB, "%s: merge %zu (\"%.*s %.*s\") uses a symbol missing from the vocabulary",
                                 label, k + 1, (int)m->a_len, (const char *)mtext + m->a_off, (int)m->b_len,
                                 (const char *)mtext + m->b_off);
            }
            continue; /* can never apply: its symbols never occur */
        }
        bpe_merges_put(&tok->merges, a, b, (int32_t)k, ab);
    }
    byte_buf_free(&joined);

    /* Decoder: each symbol's characters back to bytes. */
    uint32_t cp_byte[512];
    for (int i = 0; i < 512; i++) cp_byte[i] = 0xFFFFFFFFu;
    for (int b = 0; b < 256; b++) cp_byte[byte_cp[b]] = (uint32_t)b;
    byte_buf dec = {0};
    for (size_t id = 0; id < v->n; id++) {
        tok->dec_off[id] = (uint32_t)dec.n;
        const uint8_t *s = vocab_str(v, id);
        size_t len = v->len[id];
        for (size_t i = 0; i < len;) {
            uint32_t c;
            size_t l = clip_utf8_next(s + i, len - i, &c);
            if (c < 512 && cp_byte[c] != 0xFFFFFFFFu) byte_push(&dec, (uint8_t)cp_byte[c]);
            else byte_append(&dec, s + i, l);
            i += l;
        }
    }
    tok->dec_off[v->n] = (uint32_t)dec.n;
    if (dec.failed || dec.n > UINT32_MAX) {
        byte_buf_free(&dec);
        return clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", label);
    }
    tok->dec_bytes = dec.v;
    return CLIP_OK;
}

/* Python's text.split('\n') lines [first, first + max). */
static size_t collect_lines(const uint8_t *text, size_t size, size_t first, size_t max, merge_line *lines) {
    size_t line = 0, start = 0, n = 0;
    for (size_t i = 0; i <= size && n < max; i++) {
        if (i == size || text[i] == '\n') {
            if (line >= first) lines[n++] = split_merge(text, start, i);
            line++;
            start = i + 1;
        }
    }
    return n;
}

static clip_status check_utf8(const uint8_t *text, size_t size, const char *label) {
    for (size_t i = 0; i < size;) {
        if (text[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t c;
        size_t len = clip_utf8_next(text + i, size - i, &c);
        if (c == 0xFFFD && !(len == 3 && text[i] == 0xEF))
            return clip_fail(CLIP_ERR_VOCAB, "%s: not UTF-8 text (byte offset %zu)", label, i);
        i += len;
    }
    return CLIP_OK;
}

/* OpenAI's layout: the vocabulary is the 256 byte symbols, the same with
 * "</w>", one symbol per merge, then the two special tokens. */
static clip_status from_merges_text(const uint8_t *text, size_t size, const char *label, clip_tokenizer **out) {
    *out = NULL;
    clip_status st = check_utf8(text, size, label);
    if (st != CLIP_OK) return st;
    merge_line *lines = malloc(CLIP_BPE_MERGES * sizeof *lines);
    if (!lines) return clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", label);
    size_t n_lines = collect_lines(text, size, 1, CLIP_BPE_MERGES, lines), n_pairs = 0;
    for (size_t k = 0; k < n_lines; k++) n_pairs += lines[k].pair;
    if (n_pairs == 0) {
        free(lines);
        return clip_fail(CLIP_ERR_VOCAB, "%s: no merges after the header line (not a BPE merges file?)", label);
    }
    vocab v = {0};
    uint32_t byte_cp[256];
    int order[256];
    byte_unicode(byte_cp, order);
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < 256; i++) {
            uint8_t s[8];
            size_t len = clip_utf8_put(byte_cp[order[i]], s);
            if (pass) memcpy(s + len, "</w>", 4), len += 4;
            vocab_add(&v, s, len);
        }
    byte_buf joined = {0};
    for (size_t k = 0; k < n_lines; k++) {
        joined.n = 0;
        join_parts(text, &lines[k], &joined);
        vocab_add(&v, joined.v ? joined.v : (const uint8_t *)"", joined.n);
    }
    if (joined.failed) v.arena.failed = 1;
    byte_buf_free(&joined);
    vocab_add(&v, "<|startoftext|>", 15);
    vocab_add(&v, "<|endoftext|>", 13);
    clip_tokenizer *tok = v.arena.failed ? NULL : clip_tokenizer_alloc((int)v.n);
    if (!tok) {
        vocab_free(&v);
        free(lines);
        return clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", label);
    }
    st = finish(tok, &v, text, lines, n_lines, 0, label);
    vocab_free(&v);
    free(lines);
    if (st != CLIP_OK) {
        clip_tokenizer_free(tok);
        return st;
    }
    *out = tok;
    return CLIP_OK;
}

clip_status clip_tokenizer_from_merges(const char *merges, size_t size, clip_tokenizer **out) {
    if (!out || (!merges && size)) return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_tokenizer_from_merges: NULL argument");
    return from_merges_text((const uint8_t *)merges, size, "merges text", out);
}

/* gzip.open(...).read(): every member of the stream, at most
 * clip_limits.max_vocab_bytes of output (a gzip bomb stops there). */
static clip_status gunzip(const uint8_t *in, size_t n, const char *label, uint8_t **out, size_t *out_n) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) return clip_fail(CLIP_ERR_NO_MEMORY, "%s: zlib init failed", label);
    const size_t max = limit_size(LIMIT_VOCAB_BYTES);
    size_t cap = n * 4 + 4096, len = 0;
    if (cap > max) cap = max;
    uint8_t *buf = malloc(cap);
    clip_status st = CLIP_OK;
    zs.next_in = (Bytef *)in;
    size_t left = n;
    for (;;) {
        if (!buf) {
            st = clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", label);
            break;
        }
        if (len == cap) {
            if (cap >= max) {
                st = limit_fail(LIMIT_VOCAB_BYTES, "%s: vocabulary decompresses to more than %zu bytes", label, max);
                break;
            }
            cap = cap > max / 2 ? max : cap * 2;
            uint8_t *b = realloc(buf, cap);
            if (!b) {
                st = clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", label);
                break;
            }
            buf = b;
        }
        uInt chunk_in = left > (1u << 30) ? (1u << 30) : (uInt)left;
        zs.avail_in = chunk_in;
        zs.next_out = buf + len;
        zs.avail_out = (uInt)(cap - len);
        int rc = inflate(&zs, Z_NO_FLUSH);
        left -= chunk_in - zs.avail_in;
        len = cap - zs.avail_out;
        if (rc == Z_STREAM_END) {
            if (left == 0) break;
            /* Another gzip member follows. */
            if (inflateReset(&zs) != Z_OK) {
                st = clip_fail(CLIP_ERR_FORMAT, "%s: corrupt gzip data", label);
                break;
            }
            continue;
        }
        if (rc == Z_BUF_ERROR && zs.avail_out != 0) {
            st = clip_fail(CLIP_ERR_FORMAT, "%s: truncated gzip data", label);
            break;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            st = clip_fail(CLIP_ERR_FORMAT, "%s: corrupt gzip data (%s)", label, zs.msg ? zs.msg : "inflate failed");
            break;
        }
    }
    inflateEnd(&zs);
    if (st != CLIP_OK) {
        free(buf);
        return st;
    }
    *out = buf;
    *out_n = len;
    return CLIP_OK;
}

clip_status clip_tokenizer_from_buffer(const void *data, size_t size, const char *label, clip_tokenizer **out) {
    if (!out || (!data && size)) return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_tokenizer_from_buffer: NULL argument");
    *out = NULL;
    if (!label) label = "vocabulary";
    const uint8_t *bytes = data;
    if (size >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B) {
        uint8_t *text = NULL;
        size_t n = 0;
        clip_status st = gunzip(bytes, size, label, &text, &n);
        if (st != CLIP_OK) return st;
        st = from_merges_text(text, n, label, out);
        free(text);
        return st;
    }
    if (size > limit_value(LIMIT_VOCAB_BYTES))
        return limit_fail(LIMIT_VOCAB_BYTES, "%s: merges text of %zu bytes is over the limit", label, size);
    return from_merges_text(bytes, size, label, out);
}

/* Reads at most clip_limits.max_vocab_bytes (plus one chunk to notice). */
static clip_status read_file(const char *path, uint8_t **data, size_t *size) {
    const size_t max = limit_size(LIMIT_VOCAB_BYTES);
    FILE *f = fopen(path, "rb");
    if (!f) return clip_fail(errno == ENOENT ? CLIP_ERR_VOCAB : CLIP_ERR_IO, "%s: %s", path, strerror(errno));
    byte_buf b = {0};
    uint8_t chunk[1 << 16];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        byte_append(&b, chunk, got);
        if (b.failed || b.n > max) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        byte_buf_free(&b);
        return clip_fail(CLIP_ERR_IO, "%s: read error", path);
    }
    if (b.failed) {
        byte_buf_free(&b);
        return clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    if (b.n > max) {
        byte_buf_free(&b);
        return limit_fail(LIMIT_VOCAB_BYTES, "%s: vocabulary file larger than %zu bytes", path, max);
    }
    *data = b.v ? b.v : malloc(1);
    *size = b.n;
    return *data ? CLIP_OK : clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", path);
}

/* ---- Hugging Face: vocab.json + merges.txt ---- */

clip_status clip_tokenizer_load_hf(const char *vocab_json_path, const char *merges_txt_path, clip_tokenizer **out) {
    if (!out || !vocab_json_path || !merges_txt_path)
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_tokenizer_load_hf: NULL argument");
    *out = NULL;
    uint8_t *json_text = NULL, *mtext = NULL;
    size_t json_n, m_n;
    clip_status st = read_file(vocab_json_path, &json_text, &json_n);
    if (st != CLIP_OK) return st;
    st = read_file(merges_txt_path, &mtext, &m_n);
    if (st != CLIP_OK) {
        free(json_text);
        return st;
    }
    cJSON *root = cJSON_ParseWithLength((const char *)json_text, json_n);
    free(json_text);
    vocab v = {0};
    merge_line *lines = NULL;
    clip_tokenizer *tok = NULL;
    if (!root || !cJSON_IsObject(root)) {
        st = clip_fail(CLIP_ERR_FORMAT, "%s: not a JSON object", vocab_json_path);
        goto done;
    }
    int count = cJSON_GetArraySize(root);
    if (count <= 0) {
        st = clip_fail(CLIP_ERR_VOCAB, "%s: empty vocabulary", vocab_json_path);
        goto done;
    }
    /* Order the strings by id: ids must be exactly 0..count-1. */
    const cJSON **items = malloc((size_t)count * sizeof *items);
    if (!items) {
        st = clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", vocab_json_path);
        goto done;
    }
    for (int i = 0; i < count; i++) items[i] = NULL;
    for (const cJSON *it = root->child; it; it = it->next) {
        double d = cJSON_IsNumber(it) ? it->valuedouble : -1;
        if (d < 0 || d >= count || d != (double)(int)d || items[(int)d]) {
            st = clip_fail(CLIP_ERR_VOCAB, "%s: entry \"%s\" has id %s (ids must be 0..%d, each once)", vocab_json_path,
                           it->string ? it->string : "", cJSON_IsNumber(it) ? "out of range or repeated" : "that is not a number",
                           count - 1);
            free(items);
            goto done;
        }
        items[(int)d] = it;
    }
    for (int i = 0; i < count; i++) vocab_add(&v, items[i]->string, strlen(items[i]->string));
    free(items);
    /* CLIPTokenizer: merges.read().strip().split("\n")[1:49152-256-2+1] */
    size_t a = 0, b = m_n;
    while (a < b) {
        uint32_t c;
        size_t l = clip_utf8_next(mtext + a, b - a, &c);
        if (!clip_py_isspace(c)) break;
        a += l;
    }
    while (b > a && mtext[b - 1] < 0x80 && clip_py_isspace(mtext[b - 1])) b--;
    st = check_utf8(mtext, m_n, merges_txt_path);
    if (st != CLIP_OK) goto done;
    lines = malloc(CLIP_BPE_MERGES * sizeof *lines);
    if (!lines || v.arena.failed) {
        st = clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", merges_txt_path);
        goto done;
    }
    size_t n_lines = collect_lines(mtext + a, b - a, 1, CLIP_BPE_MERGES, lines);
    for (size_t k = 0; k < n_lines; k++) {
        lines[k].a_off += a;
        lines[k].b_off += a;
    }
    tok = clip_tokenizer_alloc(count);
    if (!tok) {
        st = clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", vocab_json_path);
        goto done;
    }
    st = finish(tok, &v, mtext, lines, n_lines, 1, merges_txt_path);
done:
    cJSON_Delete(root);
    vocab_free(&v);
    free(lines);
    free(mtext);
    if (st != CLIP_OK) {
        clip_tokenizer_free(tok);
        return st;
    }
    *out = tok;
    return CLIP_OK;
}

/* ---- Loading by path, and the default search ---- */

static int is_dir(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

clip_status clip_tokenizer_load(const char *path, clip_tokenizer **out) {
    if (!out || !path) return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_tokenizer_load: NULL argument");
    *out = NULL;
    char vocab_path[4096], merges_path[4096];
    if (is_dir(path)) {
        snprintf(vocab_path, sizeof vocab_path, "%s/vocab.json", path);
        snprintf(merges_path, sizeof merges_path, "%s/merges.txt", path);
        return clip_tokenizer_load_hf(vocab_path, merges_path, out);
    }
    if (ends_with(path, ".json")) {
        snprintf(merges_path, sizeof merges_path, "%s", path);
        char *slash = strrchr(merges_path, '/');
        size_t dir_len = slash ? (size_t)(slash - merges_path) + 1 : 0;
        snprintf(merges_path + dir_len, sizeof merges_path - dir_len, "merges.txt");
        return clip_tokenizer_load_hf(path, merges_path, out);
    }
    uint8_t *data;
    size_t size;
    clip_status st = read_file(path, &data, &size);
    if (st != CLIP_OK) return st;
    st = clip_tokenizer_from_buffer(data, size, path, out);
    free(data);
    return st;
}

clip_status clip_tokenizer_find_default(const char *explicit_path, clip_tokenizer **out) {
    if (!out) return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_tokenizer_find_default: NULL argument");
    *out = NULL;
    if (explicit_path && *explicit_path) return clip_tokenizer_load(explicit_path, out);
    const char *env = getenv("CLIP_VOCAB");
    /* A vocabulary named on purpose must load: no silent fallback. */
    if (env && *env) {
        clip_status st = clip_tokenizer_load(env, out);
        if (st != CLIP_OK) clip_fail_context(st, "CLIP_VOCAB: ");
        return st;
    }
    char places[2][4096];
    int n_places = 0;
    const char *home = getenv("HOME");
    if (home && *home) snprintf(places[n_places++], sizeof places[0], "%s/.cache/clip/%s", home, CLIP_VOCAB_FILE_NAME);
    snprintf(places[n_places++], sizeof places[0], "/usr/share/clip/%s", CLIP_VOCAB_FILE_NAME);
    for (int i = 0; i < n_places; i++) {
        struct stat sb;
        if (stat(places[i], &sb) == 0) {
            clip_status st = clip_tokenizer_load(places[i], out);
            return st;
        }
    }
    char looked[9000];
    int used = snprintf(looked, sizeof looked, "$CLIP_VOCAB: not set");
    for (int i = 0; i < n_places && used > 0 && (size_t)used < sizeof looked; i++)
        used += snprintf(looked + used, sizeof looked - (size_t)used, "; %s: not found", places[i]);
    return clip_fail(CLIP_ERR_VOCAB,
                     "no tokenizer vocabulary found (looked for %s). Pass --vocab PATH or set CLIP_VOCAB to OpenAI's "
                     "%s or to a Hugging Face tokenizer folder (vocab.json + merges.txt), or put %s in ~/.cache/clip/",
                     looked, CLIP_VOCAB_FILE_NAME, CLIP_VOCAB_FILE_NAME);
}
