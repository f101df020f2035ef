#!/usr/bin/env bash
# `clip tokenize` end to end: fixture cases through the command line, the
# JSON forms, standard input, --decode, --no-truncate and the error for a
# missing vocabulary. Fails (exit 1) on any mismatch.
set -u
source "$(dirname "$0")/common.sh"
vocab="$fixtures/vocab/bpe_simple_vocab_16e6.txt.gz"
cases="$fixtures/tokenizer/cases.jsonl"

case_field() { # case_field INDEX FIELD -> the raw JSON value
  sed -n "$(($1 + 1))p" "$cases" | sed "s/.*\"$2\": \(\[[^]]*\]\|\"[^\"]*\"\|true\|false\).*/\1/"
}

case_text() { # the exact input bytes of a case (none of those used holds NUL)
  local hex
  hex=$(case_field "$1" input_hex | tr -d '"')
  printf "$(printf '%s' "$hex" | sed 's/../\\x&/g')"
}

# Fixture cases, ids only: plain, curly quotes, İ, mojibake, HTML, emoji, invalid UTF-8.
for index in 3 137 205 209 282 184 251 323 354; do
  text=$(case_text "$index")
  check "case $index ids" "$(case_field "$index" ids)" "$("$bin" tokenize --vocab "$vocab" --ids-only -- "$text")"
done

# The JSON object form, with "truncated" for an over-long case.
out=$("$bin" tokenize --vocab "$vocab" "$(case_text 296)")
contains "object form has text" '"text": "Lorem ipsum' "$out"
contains "object form has ids" "\"ids\": $(case_field 296 ids)" "$out"
contains "over-long case is truncated" '"truncated": true}' "$out"

# Standard input: one line per text.
out=$(printf 'a photo of a cat\nfish &amp; chips\n' | "$bin" tokenize --vocab "$vocab" --ids-only --context 8)
check "stdin lines" "[49406, 320, 1125, 539, 320, 2368, 49407, 0]
[49406, 2759, 261, 8855, 49407, 0, 0, 0]" "$out"

# --context and --no-truncate.
check "context 5 truncates" "[49406, 320, 1125, 539, 49407]" \
  "$("$bin" tokenize --vocab "$vocab" --ids-only --context 5 "a photo of a cat")"
err=$("$bin" tokenize --vocab "$vocab" --context 5 --no-truncate "a photo of a cat" 2>&1 >/dev/null)
rc=$?
check "--no-truncate exit code" 1 "$rc"
contains "--no-truncate message" "too long for context length 5" "$err"

# --decode (decode.jsonl's first row), also as a JSON array.
check "--decode" "a photo of a cat " "$("$bin" tokenize --vocab "$vocab" --decode 320 1125 539 320 2368)"
check "--decode array" "<|startoftext|>a photo of a cat <|endoftext|>" \
  "$("$bin" tokenize --vocab "$vocab" --decode "[49406, 320, 1125, 539, 320, 2368, 49407]")"
"$bin" tokenize --vocab "$vocab" --decode 49408 >/dev/null 2>&1
check "--decode rejects an unknown id" 1 "$?"

# CLIP_VOCAB, and the error when no vocabulary can be found.
mkdir -p "$tmp/home"
check "CLIP_VOCAB" "[49406, 3306, 49407]" \
  "$(HOME="$tmp/home" CLIP_VOCAB="$vocab" "$bin" tokenize --ids-only --context 3 Hello)"
err=$(HOME="$tmp/home" CLIP_VOCAB= "$bin" tokenize Hello 2>&1 >/dev/null)
rc=$?
check "missing vocabulary exit code" 1 "$rc"
contains "missing vocabulary: places" "$tmp/home/.cache/clip/bpe_simple_vocab_16e6.txt.gz" "$err"
contains "missing vocabulary: --vocab" "--vocab PATH" "$err"
contains "missing vocabulary: CLIP_VOCAB" "CLIP_VOCAB" "$err"

out=$("$bin" tokenize --help)
check "--help exit code" 0 "$?"
contains "--help mentions --decode" "--decode" "$out"

finish
