#!/usr/bin/env bash
# Resource limits from the command line: `clip limits` lists them, the
# CLIP_LIMIT_* environment variables and the global `--limit NAME=VALUE`
# option change them, and a refusal names the file, the limit, its value
# and how to raise it. (tests/test_limits.c covers each limit through the
# library.) Fails (exit 1) on any mismatch.
set -u
source "$(dirname "$0")/common.sh"
image="$fixtures/images/chelsea.png"
model="$fixtures/models/tiny-vit.safetensors"
vocab="$fixtures/vocab/bpe_simple_vocab_16e6.txt.gz"

# The listing: one JSON line per clip_limits field, defaults in force.
out=$("$bin" limits)
check "limits: 16 lines" 16 "$(printf '%s\n' "$out" | wc -l)"
contains "limits: image default" '{"name": "max_image_pixels", "value": 178956970, "default": 178956970, "env": "CLIP_LIMIT_MAX_IMAGE_PIXELS"}' "$out"

# Environment variables are read with the suffixes, and listed.
out=$(CLIP_LIMIT_MAX_NPY_HEADER=2K CLIP_LIMIT_MAX_HTTP_BODY=1M "$bin" limits)
contains "env: npy header" '"name": "max_npy_header", "value": 2048,' "$out"
contains "env: http body" '"name": "max_http_body", "value": 1048576,' "$out"
err=$(CLIP_LIMIT_MAX_NPY_HEADER=lots "$bin" limits 2>&1 >/dev/null)
contains "env: bad value named" "ignoring CLIP_LIMIT_MAX_NPY_HEADER=lots" "$err"

# --limit wins over the environment, both spellings.
out=$(CLIP_LIMIT_MAX_TEXT_BYTES=5 "$bin" --limit max_text_bytes=7 --limit=max_npy_header=9 limits)
contains "--limit over env" '"name": "max_text_bytes", "value": 7,' "$out"
contains "--limit=NAME=VALUE" '"name": "max_npy_header", "value": 9,' "$out"
"$bin" --limit max_nonsense=1 limits >/dev/null 2>"$tmp/err"
check "unknown limit exit" 2 $?
contains "unknown limit lists names" "known: max_image_pixels" "$(cat "$tmp/err")"
"$bin" --limit max_text_bytes limits >/dev/null 2>"$tmp/err"
check "--limit without =" 2 $?

# Refusals through commands, from the environment and from --limit.
CLIP_LIMIT_MAX_IMAGE_PIXELS=1000 "$bin" preprocess "$image" -o "$tmp/x.npy" 2>"$tmp/err"
check "env image limit exit" 1 $?
for needle in chelsea.png "limit max_image_pixels = 1000" CLIP_LIMIT_MAX_IMAGE_PIXELS "clip --limit max_image_pixels=N"; do
  contains "env image limit message" "$needle" "$(cat "$tmp/err")"
done
"$bin" --limit max_image_pixels=1G preprocess "$image" -o "$tmp/x.npy" 2>"$tmp/err"
check "raised image limit" 0 $?
"$bin" --limit max_safetensors_header=100 info -m "$model" >/dev/null 2>"$tmp/err"
check "--limit header exit" 1 $?
contains "--limit header message" "tiny-vit.safetensors: safetensors header of" "$(cat "$tmp/err")"
contains "--limit header value" "limit max_safetensors_header = 100" "$(cat "$tmp/err")"
"$bin" --limit max_text_bytes=8 tokenize --vocab "$vocab" "a photo of a cat" >/dev/null 2>"$tmp/err"
check "--limit text exit" 1 $?
contains "--limit text message" "limit max_text_bytes = 8" "$(cat "$tmp/err")"
"$bin" --limit max_text_bytes=8 tokenize --vocab "$vocab" "a cat" >/dev/null 2>&1
check "text under the limit" 0 $?

finish
