/* The public tokenizer API: clip.tokenize(), SimpleTokenizer.encode() and
 * .decode() on top of the cleaning pipeline and the BPE. */
#include "tokenizer/tokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/limits.h"
#include "tokenizer/utf8.h"

clip_tokenizer *clip_tokenizer_alloc(int n_vocab) {
    clip_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) return NULL;
    tok->n_vocab = n_vocab;
    tok->dec_off = calloc((size_t)n_vocab + 1, sizeof *tok->dec_off);
    if (!tok->dec_off) {
        free(tok);
        return NULL;
    }
    return tok;
}

void clip_tokenizer_free(clip_tokenizer *tok) {
    if (!tok) return;
    bpe_merges_free(&tok->merges);
    free(tok->dec_bytes);
    free(tok->dec_off);
    word_cache_free(&tok->cache);
    bpe_scratch_free(&tok->bpe);
    free(tok->symbols);
    free(tok->piece_ids);
    cp_buf_free(&tok->seg);
    cp_buf_free(&tok->tmp);
    cp_buf_free(&tok->word_cp);
    cp_buf_free(&tok->lower_cp);
    byte_buf_free(&tok->seg_bytes);
    byte_buf_free(&tok->word_bytes);
    byte_buf_free(&tok->pending);
    free(tok);
}

int clip_tokenizer_vocab_size(const clip_tokenizer *tok) { return tok ? tok->n_vocab : 0; }

const int32_t *clip_piece_ids(clip_tokenizer *tok, const uint8_t *piece, size_t len, int32_t *scratch, size_t *n) {
    /* The reference's cache starts with the two special tokens, so typing
     * them in the text gives their ids. */
    if (len == 15 && memcmp(piece, "<|startoftext|>", 15) == 0) {
        *n = 1;
        return &tok->sot_id;
    }
    if (len == 13 && memcmp(piece, "<|endoftext|>", 13) == 0) {
        *n = 1;
        return &tok->eot_id;
    }
    uint64_t hash = 0;
    int cacheable = len <= WORD_CACHE_MAX_KEY && !tok->cache_disabled;
    if (cacheable) {
        hash = word_cache_hash(piece, len);
        const int32_t *hit = word_cache_get(&tok->cache, hash, piece, len, n);
        if (hit) return hit;
    }
    if (len > tok->symbols_cap) {
        size_t cap = len < 256 ? 256 : len;
        int32_t *s = realloc(tok->symbols, cap * sizeof *s);
        if (!s) return NULL;
        tok->symbols = s;
        tok->symbols_cap = cap;
    }
    for (size_t i = 0; i + 1 < len; i++) tok->symbols[i] = tok->byte_id[piece[i]];
    tok->symbols[len - 1] = tok->byte_end_id[piece[len - 1]];
    *n = bpe_encode(&tok->merges, &tok->bpe, tok->symbols, len, scratch);
    if (!*n) return NULL;
    if (cacheable) word_cache_put(&tok->cache, hash, piece, len, scratch, *n);
    return scratch;
}

/* Collects ids up to `limit`; `grow` lets the array be reallocated. */
typedef struct collector {
    clip_tokenizer *tok;
    int32_t *ids;
    size_t n, cap, limit;
    int grow, oom;
} collector;

static int collect_piece(void *p, const uint8_t *piece, size_t len) {
    collector *c = p;
    clip_tokenizer *tok = c->tok;
    if (len > tok->piece_ids_cap) {
        size_t cap = len < 256 ? 256 : len;
        int32_t *s = realloc(tok->piece_ids, cap * sizeof *s);
        if (!s) {
            c->oom = 1;
            return -1;
        }
        tok->piece_ids = s;
        tok->piece_ids_cap = cap;
    }
    size_t n;
    const int32_t *ids = clip_piece_ids(tok, piece, len, tok->piece_ids, &n);
    if (!ids) {
        c->oom = 1;
        return -1;
    }
    size_t take = n < c->limit - c->n ? n : c->limit - c->n;
    if (c->grow && c->n + take > c->cap) {
        size_t cap = c->cap ? c->cap : 64;
        while (cap < c->n + take) cap *= 2;
        int32_t *v = realloc(c->ids, cap * sizeof *v);
        if (!v) {
            c->oom = 1;
            return -1;
        }
        c->ids = v;
        c->cap = cap;
    }
    memcpy(c->ids + c->n, ids, take * sizeof *ids);
    c->n += take;
    return c->n >= c->limit;
}

static clip_status run_collector(collector *c, const char *text, size_t len) {
    clip_status st = clip_text_pieces(c->tok, (const uint8_t *)text, len, collect_piece, c);
    if (c->tok->piece_ids_cap > (1u << 16)) {
        free(c->tok->piece_ids);
        c->tok->piece_ids = NULL;
        c->tok->piece_ids_cap = 0;
    }
    if (st == CLIP_OK && c->oom) st = clip_fail(CLIP_ERR_NO_MEMORY, "tokenizer: out of memory");
    return st;
}

/* Text per call is bounded so a caller passing untrusted input (a request
 * body, a file) cannot make encode's id array grow without end. */
static clip_status check_text_length(const char *what, size_t len) {
    if (len > limit_value(LIMIT_TEXT_BYTES))
        return limit_fail(LIMIT_TEXT_BYTES, "%s: text of %zu bytes is over the limit", what, len);
    return CLIP_OK;
}

clip_status clip_tokenize_ex(clip_tokenizer *tok, const char *text, size_t len, int context, int truncate,
                             int32_t *ids, int *truncated) {
    if (!tok || !ids || (!text && len)) return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_tokenize: NULL argument");
    if (context < 1) return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_tokenize: context length %d < 1", context);
    clip_status length_st = check_text_length("clip_tokenize", len);
    if (length_st != CLIP_OK) {
        memset(ids, 0, (size_t)context * sizeof *ids);
        return length_st;
    }
    memset(ids, 0, (size_t)context * sizeof *ids);
    /* [SOT] + BPE + [EOT] is too long exactly when there are at least
     * context-1 BPE ids, so no more than that many are ever needed. */
    size_t limit = (size_t)context - 1;
    size_t n = 0;
    if (limit > 0) {
        collector c = {.tok = tok, .ids = ids + 1, .cap = limit, .limit = limit};
        clip_status st = run_collector(&c, text, len);
        if (st != CLIP_OK) {
            memset(ids, 0, (size_t)context * sizeof *ids);
            return st;
        }
        n = c.n;
    }
    int too_long = n == limit;
    if (truncated) *truncated = too_long;
    if (too_long && !truncate) {
        memset(ids, 0, (size_t)context * sizeof *ids);
        return clip_fail(CLIP_ERR_LIMIT, "text is too long for context length %d", context);
    }
    ids[0] = tok->sot_id;
    if (too_long) ids[context - 1] = tok->eot_id;
    else ids[n + 1] = tok->eot_id;
    return CLIP_OK;
}

clip_status clip_tokenize(clip_tokenizer *tok, const char *text, size_t len, int context, int truncate,
                          int32_t *ids) {
    return clip_tokenize_ex(tok, text, len, context, truncate, ids, NULL);
}

clip_status clip_tokenizer_encode(clip_tokenizer *tok, const char *text, size_t len, size_t max_ids, int32_t **ids,
                                  size_t *n_ids) {
    if (!tok || !ids || !n_ids || (!text && len))
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_tokenizer_encode: NULL argument");
    *ids = NULL;
    *n_ids = 0;
    clip_status length_st = check_text_length("clip_tokenizer_encode", len);
    if (length_st != CLIP_OK) return length_st;
    collector c = {.tok = tok, .limit = max_ids ? max_ids : SIZE_MAX, .grow = 1};
    clip_status st = run_collector(&c, text, len);
    if (st != CLIP_OK) {
        free(c.ids);
        return st;
    }
    if (!c.ids && !(c.ids = malloc(sizeof *c.ids))) return clip_fail(CLIP_ERR_NO_MEMORY, "tokenizer: out of memory");
    *ids = c.ids;
    *n_ids = c.n;
    return CLIP_OK;
}

clip_status clip_tokenizer_decode(const clip_tokenizer *tok, const int32_t *ids, size_t n_ids, char **text) {
    return clip_tokenizer_decode_len(tok, ids, n_ids, text, NULL);
}

clip_status clip_tokenizer_decode_len(const clip_tokenizer *tok, const int32_t *ids, size_t n_ids, char **text,
                                      size_t *len) {
    if (!tok || !text || (!ids && n_ids)) return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_tokenizer_decode: NULL argument");
    *text = NULL;
    if (len) *len = 0;
    byte_buf raw = {0};
    for (size_t i = 0; i < n_ids; i++) {
        if (ids[i] < 0 || ids[i] >= tok->n_vocab) {
            byte_buf_free(&raw);
            return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_tokenizer_decode: id %ld at position %zu is outside the vocabulary (0..%d)",
                             (long)ids[i], i, tok->n_vocab - 1);
        }
        uint32_t off = tok->dec_off[ids[i]];
        byte_append(&raw, tok->dec_bytes + off, tok->dec_off[ids[i] + 1] - off);
    }
    /* bytes.decode('utf-8', errors='replace'), then '</w>' -> ' '. The
     * result is at most 3x the input (each bad byte becomes U+FFFD). */
    byte_buf out = {0};
    if (!raw.failed && raw.n <= SIZE_MAX / 3 - 1) byte_buf_reserve(&out, raw.n * 3 + 1);
    if (raw.failed || out.failed || !out.v) {
        byte_buf_free(&raw);
        byte_buf_free(&out);
        return clip_fail(CLIP_ERR_NO_MEMORY, "clip_tokenizer_decode: out of memory");
    }
    for (size_t i = 0; i < raw.n;) {
        uint32_t cp;
        size_t len = raw.v[i] < 0x80 ? (cp = raw.v[i], 1) : clip_utf8_next(raw.v + i, raw.n - i, &cp);
        out.n += clip_utf8_put(cp, out.v + out.n);
        i += len;
    }
    size_t w = 0;
    for (size_t i = 0; i < out.n;) {
        if (out.n - i >= 4 && memcmp(out.v + i, "</w>", 4) == 0) {
            out.v[w++] = ' ';
            i += 4;
        } else {
            out.v[w++] = out.v[i++];
        }
    }
    out.v[w] = '\0';
    byte_buf_free(&raw);
    *text = (char *)out.v;
    if (len) *len = w;
    return CLIP_OK;
}
