/* Internal tokenizer interface: the object, and the entry points the model
 * loader and the CLI use beyond clip.h. */
#ifndef CLIP_TOKENIZER_TOKENIZER_H
#define CLIP_TOKENIZER_TOKENIZER_H
#include <stddef.h>
#include <stdint.h>

#include "clip.h"
#include "tokenizer/bpe.h"
#include "tokenizer/buffers.h"
#include "tokenizer/word_cache.h"

/* The OpenAI merges file name the default search looks for. */
#define CLIP_VOCAB_FILE_NAME "bpe_simple_vocab_16e6.txt.gz"
/* Merges the reference uses: lines 1..48894 after the header
 * (merges[1:49152-256-2+1] in simple_tokenizer.py). */
#define CLIP_BPE_MERGES 48894

struct clip_tokenizer {
    int n_vocab;
    int32_t sot_id, eot_id;
    /* Initial symbol of byte b, and of byte b ending a word ("</w>"). */
    int32_t byte_id[256], byte_end_id[256];
    bpe_merges merges;
    /* Raw bytes each id decodes to ("</w>" kept literally). */
    uint8_t *dec_bytes;
    uint32_t *dec_off; /* n_vocab + 1 offsets */
    /* Per-call state, reused (so a tokenizer serves one thread at a time). */
    word_cache cache;
    int cache_disabled; /* benchmarks: measure BPE without the cache */
    bpe_scratch bpe;
    int32_t *symbols, *piece_ids;
    size_t symbols_cap, piece_ids_cap;
    cp_buf seg, tmp, word_cp, lower_cp;
    byte_buf seg_bytes, word_bytes, pending;
};

/* Merges text from a buffer, gzip-compressed (1f 8b) or plain: for a
 * vocabulary embedded in a model file. `label` names it in errors. */
clip_status clip_tokenizer_from_buffer(const void *data, size_t size, const char *label, clip_tokenizer **out);

/* The vocabulary the tools and the model loader use: `explicit_path` when
 * given, else $CLIP_VOCAB, else bpe_simple_vocab_16e6.txt.gz in
 * ~/.cache/clip/ then /usr/share/clip/. The error lists the places tried
 * and how to supply one. */
clip_status clip_tokenizer_find_default(const char *explicit_path, clip_tokenizer **out);

/* clip_tokenize that also reports whether the text was too long. */
clip_status clip_tokenize_ex(clip_tokenizer *tok, const char *text, size_t len, int context, int truncate,
                             int32_t *ids, int *truncated);

/* clip_tokenizer_decode that also gives the length: ids of byte 0x00 put
 * NUL characters inside the text, where a C string would end. */
clip_status clip_tokenizer_decode_len(const clip_tokenizer *tok, const int32_t *ids, size_t n_ids, char **text,
                                      size_t *len);

/* --- Building blocks shared by the loaders and the encoder --- */
/* An empty tokenizer of n_vocab ids. */
clip_tokenizer *clip_tokenizer_alloc(int n_vocab);

/* Calls `sink` with each pre-token (UTF-8 bytes of the cleaned,
 * lower-cased text) in order; stops when it returns non-zero. Implements
 * whitespace_clean(basic_clean(text)).lower() and the pre-tokenizer. */
typedef int (*clip_piece_sink)(void *ctx, const uint8_t *piece, size_t len);
clip_status clip_text_pieces(clip_tokenizer *tok, const uint8_t *text, size_t len, clip_piece_sink sink, void *ctx);
/* The same one step earlier: each word of the cleaned, lower-cased text
 * (joined by single spaces they are the reference's cleaned string). */
clip_status clip_text_words(clip_tokenizer *tok, const uint8_t *text, size_t len, clip_piece_sink sink, void *ctx);

/* Pre-tokenizes one lower-cased word (no White_Space inside). Returns the
 * sink's non-zero value if it asked to stop. */
int clip_pretokenize(const uint8_t *word, size_t len, clip_piece_sink sink, void *ctx);

/* BPE ids of one pre-token: a pointer into the cache or into `scratch`
 * (room for len ids). Returns NULL when out of memory. */
const int32_t *clip_piece_ids(clip_tokenizer *tok, const uint8_t *piece, size_t len, int32_t *scratch, size_t *n);

#endif
