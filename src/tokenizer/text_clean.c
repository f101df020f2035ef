/* whitespace_clean(basic_clean(text)).lower() followed by the
 * pre-tokenizer, streamed: the text is cut into ftfy's segments (lines),
 * each is cleaned on its own and its words are handed on at once, so a
 * caller that needs only the first ids stops early on a huge input.
 *
 * Why this is exact: ftfy works per segment (its only state across
 * segments is "a '<' was seen", which turns HTML unescaping off);
 * html.unescape cannot match across '\n'; whitespace collapsing, Python's
 * lower() (final sigma looks no further than the next space) and the
 * pre-tokenizer's pieces all stop at White_Space. */
#include <string.h>

#include "core/error.h"
#include "tokenizer/ftfy.h"
#include "tokenizer/html_unescape.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode_props.h"
#include "tokenizer/utf8.h"

/* Bytes that pass through ftfy and html.unescape unchanged wherever they
 * are: printable ASCII except '&', plus tab, newline and form feed. */
static inline int plain_byte(uint8_t b) {
    return (b >= 0x20 && b <= 0x7E && b != '&') || b == '\t' || b == '\n' || b == '\f';
}

static int plain_segment(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!plain_byte(s[i])) return 0;
    return 1;
}

static inline int ascii_space(uint8_t b) { return b == ' ' || (b >= 0x09 && b <= 0x0D); }

/* White_Space test at s[i] (valid UTF-8); *len gets the character's size. */
static inline int space_at(const uint8_t *s, size_t n, size_t i, size_t *len) {
    if (s[i] < 0x80) {
        *len = 1;
        return ascii_space(s[i]);
    }
    uint32_t c;
    *len = clip_utf8_next(s + i, n - i, &c);
    return clip_is_white_space(c);
}

/* Lower-cases one word and hands it on. */
static int emit_word(clip_tokenizer *tok, const uint8_t *w, size_t n, clip_piece_sink sink, void *ctx) {
    int ascii = 1, upper = 0;
    for (size_t i = 0; i < n; i++) {
        if (w[i] >= 0x80) ascii = 0;
        else if (w[i] >= 'A' && w[i] <= 'Z') upper = 1;
    }
    if (ascii && !upper) return sink(ctx, w, n);
    byte_buf *lowered = &tok->word_bytes;
    lowered->n = 0;
    if (ascii) {
        if (!byte_buf_reserve(lowered, n)) return -1;
        for (size_t i = 0; i < n; i++) lowered->v[i] = (uint8_t)(w[i] >= 'A' && w[i] <= 'Z' ? w[i] + 32 : w[i]);
        lowered->n = n;
    } else {
        tok->word_cp.n = tok->lower_cp.n = 0;
        clip_utf8_decode_replace(w, n, &tok->word_cp);
        clip_py_lower_append(tok->word_cp.v, tok->word_cp.n, &tok->lower_cp);
        clip_utf8_encode_append(tok->lower_cp.v, tok->lower_cp.n, lowered);
        if (tok->word_cp.failed || tok->lower_cp.failed || lowered->failed) return -1;
    }
    return sink(ctx, lowered->v, lowered->n);
}

static int flush_pending(clip_tokenizer *tok, clip_piece_sink sink, void *ctx) {
    int stop = emit_word(tok, tok->pending.v, tok->pending.n, sink, ctx);
    tok->pending.n = 0;
    return stop;
}

/* Splits a cleaned segment into words. A word touching the end of a
 * segment that is not the last may continue in the next one (only when
 * ftfy's length cap cut a line), so it waits in tok->pending. */
static int emit_words(clip_tokenizer *tok, const uint8_t *s, size_t n, int last, clip_piece_sink sink, void *ctx) {
    size_t i = 0, len = 0;
    int stop = 0;
    for (;;) {
        size_t ws_start = i;
        while (i < n && space_at(s, n, i, &len)) i += len;
        if (i > ws_start && tok->pending.n && (stop = flush_pending(tok, sink, ctx))) return stop;
        if (i >= n) break;
        size_t start = i;
        while (i < n && !space_at(s, n, i, &len)) i += len;
        if (i == n && !last) {
            byte_append(&tok->pending, s + start, i - start);
            if (tok->pending.failed) return -1;
            /* A word longer than this is cut: the reference would BPE a
             * pre-token of unbounded length in one piece. */
            if (tok->pending.n > CLIP_TOKENIZER_MAX_INPUT && (stop = flush_pending(tok, sink, ctx))) return stop;
            break;
        }
        if (tok->pending.n) {
            byte_append(&tok->pending, s + start, i - start);
            if (tok->pending.failed) return -1;
            if ((stop = flush_pending(tok, sink, ctx))) return stop;
            continue;
        }
        if ((stop = emit_word(tok, s + start, i - start, sink, ctx))) return stop;
    }
    if (last && tok->pending.n) return flush_pending(tok, sink, ctx);
    return 0;
}

/* ftfy, then html.unescape twice, on one segment; the result (UTF-8) in
 * tok->seg_bytes. */
static int clean_segment(clip_tokenizer *tok, const uint8_t *s, size_t n, int unescape_html) {
    cp_buf *seg = &tok->seg, *tmp = &tok->tmp;
    seg->n = tmp->n = 0;
    clip_utf8_decode_replace(s, n, seg);
    clip_ftfy_fix_segment(seg, unescape_html);
    clip_html_unescape(seg->v, seg->n, tmp);
    seg->n = 0;
    clip_html_unescape(tmp->v, tmp->n, seg);
    tok->seg_bytes.n = 0;
    clip_utf8_encode_append(seg->v, seg->n, &tok->seg_bytes);
    return !(seg->failed || tmp->failed || tok->seg_bytes.failed);
}

/* Bytes of the segment starting at text[0]: through the next '\n', or
 * ftfy's cap of CLIP_FTFY_MAX_SEGMENT characters. */
static size_t segment_length(const uint8_t *text, size_t len) {
    size_t window = len < 4 * (size_t)CLIP_FTFY_MAX_SEGMENT ? len : 4 * (size_t)CLIP_FTFY_MAX_SEGMENT;
    const uint8_t *nl = memchr(text, '\n', window);
    size_t n = nl ? (size_t)(nl - text) + 1 : window;
    if (n <= CLIP_FTFY_MAX_SEGMENT) return n;
    size_t i = 0, chars = 0;
    while (i < n && chars < CLIP_FTFY_MAX_SEGMENT) {
        uint32_t c;
        i += text[i] < 0x80 ? 1 : clip_utf8_next(text + i, n - i, &c);
        chars++;
    }
    return i;
}

static void release_scratch(clip_tokenizer *tok) {
    /* Keep small buffers for the next call; give back what a huge input
     * made grow. */
    enum { KEEP = 1 << 16 };
    if (tok->seg.cap > KEEP) cp_buf_free(&tok->seg);
    if (tok->tmp.cap > KEEP) cp_buf_free(&tok->tmp);
    if (tok->seg_bytes.cap > KEEP) byte_buf_free(&tok->seg_bytes);
    if (tok->pending.cap > KEEP) byte_buf_free(&tok->pending);
    tok->seg.failed = tok->tmp.failed = tok->seg_bytes.failed = tok->pending.failed = 0;
    tok->word_cp.failed = tok->lower_cp.failed = tok->word_bytes.failed = 0;
    tok->pending.n = 0;
}

clip_status clip_text_words(clip_tokenizer *tok, const uint8_t *text, size_t len, clip_piece_sink sink, void *ctx) {
    int unescape_html = 1;
    size_t pos = 0;
    int stop = 0;
    tok->pending.n = 0;
    while (pos < len && !stop) {
        size_t n = segment_length(text + pos, len - pos);
        const uint8_t *s = text + pos;
        int last = pos + n == len;
        /* ftfy turns HTML unescaping off for good at the first segment
         * holding '<' (that segment included). */
        if (unescape_html && memchr(s, '<', n)) unescape_html = 0;
        if (plain_segment(s, n)) {
            stop = emit_words(tok, s, n, last, sink, ctx);
        } else if (!clean_segment(tok, s, n, unescape_html)) {
            stop = -1;
        } else {
            stop = emit_words(tok, tok->seg_bytes.v, tok->seg_bytes.n, last, sink, ctx);
        }
        pos += n;
    }
    release_scratch(tok);
    if (stop < 0) return clip_fail(CLIP_ERR_NO_MEMORY, "tokenizer: out of memory cleaning %zu bytes of text", len);
    return CLIP_OK;
}

typedef struct piece_adapter {
    clip_piece_sink sink;
    void *ctx;
} piece_adapter;

static int pretokenize_word(void *p, const uint8_t *word, size_t len) {
    piece_adapter *a = p;
    return clip_pretokenize(word, len, a->sink, a->ctx);
}

clip_status clip_text_pieces(clip_tokenizer *tok, const uint8_t *text, size_t len, clip_piece_sink sink, void *ctx) {
    piece_adapter a = {sink, ctx};
    return clip_text_words(tok, text, len, pretokenize_word, &a);
}
