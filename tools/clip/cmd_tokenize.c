/* clip tokenize: CLIP BPE ids of texts, or the text of ids (--decode). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "commands.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

static void usage(FILE *out) {
    fputs("usage: clip tokenize [--vocab PATH] [--context N] [--no-truncate] [--ids-only] [TEXT...]\n"
          "       clip tokenize [--vocab PATH] --decode ID...\n\n"
          "Tokenizes each TEXT (or, without any, each line of standard input) exactly as OpenAI's\n"
          "clip.tokenize does: ftfy and HTML clean-up, lower case, byte-level BPE, then\n"
          "<|startoftext|> ids <|endoftext|> padded with zeros to the context length.\n"
          "One JSON line per text: {\"text\": ..., \"ids\": [...], \"truncated\": false}.\n\n"
          "  --vocab PATH     bpe_simple_vocab_16e6.txt.gz (gzip or plain) or a Hugging Face\n"
          "                   tokenizer folder / vocab.json (with merges.txt beside it).\n"
          "                   Default: $CLIP_VOCAB, then bpe_simple_vocab_16e6.txt.gz in\n"
          "                   ~/.cache/clip/ and /usr/share/clip/\n"
          "  --context N      ids per text (default 77)\n"
          "  --no-truncate    fail on a text longer than the context instead of cutting it\n"
          "                   (the cut keeps the first N-1 ids and ends with <|endoftext|>)\n"
          "  --ids-only       print just the JSON array of ids per text\n"
          "  --decode         print the text of the ids given as arguments (\"320 1125\" or\n"
          "                   \"[320, 1125]\"), as SimpleTokenizer.decode does\n",
          out);
}

/* JSON string of possibly invalid UTF-8: bad bytes become U+FFFD, the way
 * Python decoded them. */
static void json_text(FILE *out, const char *text, size_t len) {
    const uint8_t *s = (const uint8_t *)text;
    fputc('"', out);
    for (size_t i = 0; i < len;) {
        uint32_t c;
        size_t n = clip_utf8_next(s + i, len - i, &c);
        if (c == '"' || c == '\\') fprintf(out, "\\%c", (char)c);
        else if (c == '\n') fputs("\\n", out);
        else if (c == '\t') fputs("\\t", out);
        else if (c < 0x20 || c == 0x7F) fprintf(out, "\\u%04x", c);
        else if (c == 0xFFFD && !(n == 3 && s[i] == 0xEF)) fputs("\xef\xbf\xbd", out);
        else fwrite(s + i, 1, n, out);
        i += n;
    }
    fputc('"', out);
}

static int tokenize_one(clip_tokenizer *tok, const char *text, size_t len, int number, int context, int truncate,
                        int ids_only, int32_t *ids) {
    int truncated = 0;
    if (clip_tokenize_ex(tok, text, len, context, truncate, ids, &truncated) != CLIP_OK) {
        char what[64];
        snprintf(what, sizeof what, "text %d%s", number, truncated ? " (without --no-truncate it is cut)" : "");
        cli_error("tokenize", what);
        return 0;
    }
    if (!ids_only) {
        fputs("{\"text\": ", stdout);
        json_text(stdout, text, len);
        fputs(", \"ids\": ", stdout);
    }
    putchar('[');
    for (int i = 0; i < context; i++) printf(i ? ", %d" : "%d", ids[i]);
    putchar(']');
    if (!ids_only) printf(", \"truncated\": %s}", truncated ? "true" : "false");
    putchar('\n');
    return 1;
}

/* Ids from arguments such as "320", "320,1125" or "[320, 1125]". */
static int parse_ids(int argc, char **argv, int32_t **ids, size_t *n) {
    size_t cap = 64;
    *ids = malloc(cap * sizeof **ids);
    *n = 0;
    if (!*ids) return 0;
    for (int a = 0; a < argc; a++) {
        const char *p = argv[a];
        while (*p) {
            if (*p == '[' || *p == ']' || *p == ',' || *p == ' ' || *p == '\t' || *p == '\n') {
                p++;
                continue;
            }
            char *end;
            long v = strtol(p, &end, 10);
            if (end == p || v < 0 || v > INT32_MAX) {
                fprintf(stderr, "clip tokenize: '%s' is not a list of token ids\n", argv[a]);
                return 0;
            }
            if (*n == cap) {
                int32_t *grown = realloc(*ids, (cap *= 2) * sizeof **ids);
                if (!grown) return 0;
                *ids = grown;
            }
            (*ids)[(*n)++] = (int32_t)v;
            p = end;
        }
    }
    return 1;
}

static int decode_ids(clip_tokenizer *tok, int argc, char **argv) {
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = 1;
    if (parse_ids(argc, argv, &ids, &n)) {
        char *text = NULL;
        size_t len = 0;
        if (clip_tokenizer_decode_len(tok, ids, n, &text, &len) == CLIP_OK) {
            fwrite(text, 1, len, stdout);
            putchar('\n');
            rc = 0;
        } else {
            cli_error("tokenize", "--decode");
        }
        clip_free(text);
    }
    free(ids);
    return rc;
}

int cmd_tokenize(int argc, char **argv) {
    static const struct option options[] = {
        {"vocab", required_argument, NULL, 'v'}, {"context", required_argument, NULL, 'c'},
        {"no-truncate", no_argument, NULL, 'n'}, {"ids-only", no_argument, NULL, 'i'},
        {"decode", no_argument, NULL, 'd'},      {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *vocab = NULL;
    long context = CLIP_DEFAULT_CONTEXT;
    int truncate = 1, ids_only = 0, decode = 0, opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'v': vocab = optarg; break;
        case 'c': if (!cli_parse_int("--context", optarg, 1, 1 << 20, &context)) return 2; break;
        case 'n': truncate = 0; break;
        case 'i': ids_only = 1; break;
        case 'd': decode = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (decode && optind == argc) {
        usage(stderr);
        return 2;
    }
    clip_tokenizer *tok = NULL;
    if (clip_tokenizer_find_default(vocab, &tok) != CLIP_OK) {
        cli_error("tokenize", NULL);
        return 1;
    }
    int rc = 0;
    if (decode) {
        rc = decode_ids(tok, argc - optind, argv + optind);
    } else {
        int32_t *ids = malloc((size_t)context * sizeof *ids);
        if (!ids) {
            fprintf(stderr, "clip tokenize: out of memory\n");
            rc = 1;
        } else if (optind < argc) {
            for (int a = optind; a < argc && !rc; a++)
                if (!tokenize_one(tok, argv[a], strlen(argv[a]), a - optind + 1, (int)context, truncate, ids_only, ids))
                    rc = 1;
        } else {
            char *line = NULL;
            size_t cap = 0;
            ssize_t len;
            int number = 0;
            while (!rc && (len = getline(&line, &cap, stdin)) >= 0) {
                if (len > 0 && line[len - 1] == '\n') len--;
                if (!tokenize_one(tok, line, (size_t)len, ++number, (int)context, truncate, ids_only, ids)) rc = 1;
            }
            free(line);
        }
        free(ids);
    }
    clip_tokenizer_free(tok);
    return rc;
}
