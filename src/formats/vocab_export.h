/* The BPE vocabulary as strings, for formats that store it as text (GGUF's
 * tokenizer.ggml.tokens / tokenizer.ggml.merges): each token in GPT-2's
 * bytes_to_unicode form with "</w>" marking a word end, as Hugging Face's
 * vocab.json and clip.cpp spell them. */
#ifndef CLIP_FORMATS_VOCAB_EXPORT_H
#define CLIP_FORMATS_VOCAB_EXPORT_H
#include <stddef.h>

#include "clip.h"

typedef struct vocab_strings {
    char **tokens; /* by id, NUL-terminated */
    size_t *token_lens, n_tokens;
    char **merges; /* "left right", by rank */
    size_t *merge_lens, n_merges;
} vocab_strings;

clip_status vocab_export(const clip_tokenizer *tok, vocab_strings *out);
void vocab_strings_free(vocab_strings *v);

/* The merges file text ("#version: 0.2" header, one merge a line) that
 * clip_tokenizer_from_buffer reads. *text is malloc'd. */
clip_status vocab_merges_text(char *const *merges, const size_t *lens, size_t n, char **text, size_t *len);

/* Merges recovered from the token list alone (clip.cpp's GGUF files carry
 * no merges): CLIP's vocabulary lists one token per merge in rank order
 * after the 512 byte symbols, and each such token is split where BPE with
 * the merges recovered so far splits it. Fills v->merges. */
clip_status vocab_merges_from_tokens(vocab_strings *v);

#endif
