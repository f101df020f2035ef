#include "formats/vocab_export.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves,
 * the others for code points 256 and up, in byte order. */
static void byte_code_points(uint32_t cp[256]) {
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        cp[b] = printable ? (uint32_t)b : (uint32_t)(256 + n++);
    }
}

static size_t put_utf8(uint32_t c, char *out) {
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    out[0] = (char)(0xC0 | (c >> 6));
    out[1] = (char)(0x80 | (c & 0x3F));
    return 2; /* every code point here is below 0x800 */
}

void vocab_strings_free(vocab_strings *v) {
    for (size_t i = 0; v->tokens && i < v->n_tokens; i++) free(v->tokens[i]);
    for (size_t i = 0; v->merges && i < v->n_merges; i++) free(v->merges[i]);
    free(v->tokens);
    free(v->token_lens);
    free(v->merges);
    free(v->merge_lens);
    memset(v, 0, sizeof *v);
}

typedef struct ranked {
    int32_t rank, left, right;
} ranked;

static int by_rank(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    return (x->rank > y->rank) - (x->rank < y->rank);
}

static char *join(const char *a, size_t la, const char *b, size_t lb, size_t *len) {
    char *s = malloc(la + lb + 2);
    if (!s) return NULL;
    memcpy(s, a, la);
    s[la] = ' ';
    memcpy(s + la + 1, b, lb);
    s[la + 1 + lb] = '\0';
    *len = la + 1 + lb;
    return s;
}

clip_status vocab_export(const clip_tokenizer *tok, vocab_strings *out) {
    memset(out, 0, sizeof *out);
    uint32_t cp[256];
    byte_code_points(cp);
    size_t n = (size_t)tok->n_vocab;
    out->tokens = calloc(n, sizeof *out->tokens);
    out->token_lens = calloc(n, sizeof *out->token_lens);
    if (!out->tokens || !out->token_lens) goto oom;
    out->n_tokens = n;
    for (size_t id = 0; id < n; id++) {
        const uint8_t *raw = tok->dec_bytes + tok->dec_off[id];
        size_t len = tok->dec_off[id + 1] - tok->dec_off[id];
        int special = (int32_t)id == tok->sot_id || (int32_t)id == tok->eot_id;
        /* "</w>" and the special tokens are printable ASCII: unchanged. */
        char *s = malloc(2 * len + 1);
        if (!s) goto oom;
        size_t used = 0;
        for (size_t i = 0; i < len; i++) used += special ? (s[used] = (char)raw[i], 1) : put_utf8(cp[raw[i]], s + used);
        s[used] = '\0';
        out->tokens[id] = s;
        out->token_lens[id] = used;
    }
    const bpe_merges *m = &tok->merges;
    ranked *list = malloc((m->count + 1) * sizeof *list);
    if (!list) goto oom;
    size_t k = 0;
    for (size_t i = 0; i <= m->mask && k < m->count; i++)
        if (m->keys[i] != UINT64_MAX)
            list[k++] = (ranked){m->rank[i], (int32_t)(m->keys[i] >> 32), (int32_t)(m->keys[i] & 0xffffffffu)};
    qsort(list, k, sizeof *list, by_rank);
    out->merges = calloc(k + 1, sizeof *out->merges);
    out->merge_lens = calloc(k + 1, sizeof *out->merge_lens);
    if (!out->merges || !out->merge_lens) {
        free(list);
        goto oom;
    }
    for (size_t i = 0; i < k; i++) {
        size_t l = (size_t)list[i].left, r = (size_t)list[i].right;
        out->merges[i] = join(out->tokens[l], out->token_lens[l], out->tokens[r], out->token_lens[r], &out->merge_lens[i]);
        if (!out->merges[i]) {
            free(list);
            goto oom;
        }
        out->n_merges = i + 1;
    }
    free(list);
    return CLIP_OK;
oom:
    vocab_strings_free(out);
    return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory exporting the vocabulary");
}

clip_status vocab_merges_text(char *const *merges, const size_t *lens, size_t n, char **text, size_t *len) {
    static const char header[] = "#version: 0.2\n";
    size_t total = sizeof header - 1;
    for (size_t i = 0; i < n; i++) total += lens[i] + 1;
    char *s = malloc(total + 1);
    if (!s) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    size_t at = sizeof header - 1;
    memcpy(s, header, at);
    for (size_t i = 0; i < n; i++) {
        memcpy(s + at, merges[i], lens[i]);
        at += lens[i];
        s[at++] = '\n';
    }
    s[at] = '\0';
    *text = s;
    *len = at;
    return CLIP_OK;
}

/* ---- merges from the token list ---- */

/* string -> id, open addressing */
typedef struct str_map {
    const char **keys;
    const size_t *lens;
    int32_t *slots;
    size_t mask;
} str_map;

static uint64_t hash(const char *s, size_t len) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    return h;
}

static int32_t map_get(const str_map *m, const char *s, size_t len) {
    for (size_t i = hash(s, len) & m->mask;; i = (i + 1) & m->mask) {
        int32_t id = m->slots[i];
        if (id < 0) return -1;
        if (m->lens[id] == len && memcmp(m->keys[id], s, len) == 0) return id;
    }
}

/* (left, right) -> rank of the merges recovered so far */
typedef struct pair_map {
    uint64_t *keys;
    int32_t *ranks;
    size_t mask;
} pair_map;

static int32_t pair_rank(const pair_map *p, int32_t a, int32_t b) {
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    for (size_t i = (key * 0x9E3779B97F4A7C15ull >> 20) & p->mask;; i = (i + 1) & p->mask) {
        if (p->keys[i] == UINT64_MAX) return -1;
        if (p->keys[i] == key) return p->ranks[i];
    }
}

static void pair_put(pair_map *p, int32_t a, int32_t b, int32_t rank) {
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    size_t i = (key * 0x9E3779B97F4A7C15ull >> 20) & p->mask;
    while (p->keys[i] != UINT64_MAX && p->keys[i] != key) i = (i + 1) & p->mask;
    p->keys[i] = key;
    p->ranks[i] = rank;
}

static size_t utf8_len(unsigned char c) { return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4; }

/* BPE of one token string with the merges so far; returns the number of
 * symbols (ids in sym[]), 0 if a starting symbol is unknown. */
static size_t encode(const str_map *m, const pair_map *p, const char *s, size_t len, int32_t *sym, size_t *start,
                     size_t *slen) {
    size_t body = len, n = 0;
    int word_end = len > 4 && memcmp(s + len - 4, "</w>", 4) == 0;
    if (word_end) body -= 4;
    for (size_t i = 0; i < body;) {
        size_t l = utf8_len((unsigned char)s[i]);
        if (i + l > body) l = body - i;
        start[n] = i;
        slen[n] = l + (word_end && i + l == body ? 4 : 0);
        sym[n] = map_get(m, s + i, slen[n]);
        if (sym[n] < 0) return 0;
        n++;
        i += l;
    }
    for (;;) {
        int32_t best = -1;
        size_t at = 0;
        for (size_t i = 0; i + 1 < n; i++) {
            int32_t r = pair_rank(p, sym[i], sym[i + 1]);
            if (r >= 0 && (best < 0 || r < best)) best = r, at = i;
        }
        if (best < 0) return n;
        slen[at] += slen[at + 1];
        sym[at] = map_get(m, s + start[at], slen[at]);
        if (sym[at] < 0) return 0;
        memmove(sym + at + 1, sym + at + 2, (n - at - 2) * sizeof *sym);
        memmove(start + at + 1, start + at + 2, (n - at - 2) * sizeof *start);
        memmove(slen + at + 1, slen + at + 2, (n - at - 2) * sizeof *slen);
        n--;
    }
}

clip_status vocab_merges_from_tokens(vocab_strings *v) {
    size_t n = v->n_tokens;
    if (n < 514) return clip_fail(CLIP_ERR_VOCAB, "a token list of %zu entries is too short for CLIP's BPE", n);
    size_t cap = 1;
    while (cap < 2 * n) cap <<= 1;
    str_map m = {(const char **)v->tokens, v->token_lens, malloc(cap * sizeof(int32_t)), cap - 1};
    pair_map p = {malloc(cap * sizeof(uint64_t)), malloc(cap * sizeof(int32_t)), cap - 1};
    size_t longest = 0;
    for (size_t i = 0; i < n; i++) longest = v->token_lens[i] > longest ? v->token_lens[i] : longest;
    int32_t *sym = malloc((longest + 1) * sizeof *sym);
    size_t *start = malloc((longest + 1) * sizeof *start), *slen = malloc((longest + 1) * sizeof *slen);
    v->merges = calloc(n, sizeof *v->merges);
    v->merge_lens = calloc(n, sizeof *v->merge_lens);
    clip_status st = CLIP_OK;
    if (!m.slots || !p.keys || !p.ranks || !sym || !start || !slen || !v->merges || !v->merge_lens) {
        st = clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
        goto done;
    }
    memset(m.slots, 0xff, cap * sizeof(int32_t));
    memset(p.keys, 0xff, cap * sizeof(uint64_t));
    for (size_t id = 0; id < n; id++) {
        size_t i = hash(v->tokens[id], v->token_lens[id]) & m.mask;
        while (m.slots[i] >= 0 && !(v->token_lens[m.slots[i]] == v->token_lens[id] &&
                                    memcmp(v->tokens[m.slots[i]], v->tokens[id], v->token_lens[id]) == 0))
            i = (i + 1) & m.mask;
        m.slots[i] = (int32_t)id; /* a later duplicate wins, as in a dict */
    }
    v->n_merges = 0;
    for (size_t id = 512; id < n; id++) {
        const char *s = v->tokens[id];
        size_t len = v->token_lens[id];
        if (len >= 4 && s[0] == '<' && s[1] == '|' && s[len - 1] == '>' && s[len - 2] == '|') continue; /* special */
        size_t k = encode(&m, &p, s, len, sym, start, slen);
        if (k != 2) {
            st = clip_fail(CLIP_ERR_VOCAB, "token %zu ('%.40s') is not the merge of two earlier tokens; the merges "
                                           "cannot be recovered from this token list",
                           id, s);
            goto done;
        }
        pair_put(&p, sym[0], sym[1], (int32_t)v->n_merges);
        v->merges[v->n_merges] = join(v->tokens[sym[0]], v->token_lens[sym[0]], v->tokens[sym[1]],
                                      v->token_lens[sym[1]], &v->merge_lens[v->n_merges]);
        if (!v->merges[v->n_merges]) {
            st = clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
            goto done;
        }
        v->n_merges++;
    }
done:
    free(m.slots);
    free(p.keys);
    free(p.ranks);
    free(sym);
    free(start);
    free(slen);
    return st;
}
