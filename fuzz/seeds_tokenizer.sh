#!/usr/bin/env bash
# Seed corpus for fuzz_tokenizer: the exact input bytes of every fixture
# tokenizer case (input_hex), one file each, into the directory $1.
set -euo pipefail
out=${1:?usage: seeds_tokenizer.sh DIR}
fixtures=${CLIP_FIXTURES:?CLIP_FIXTURES must name the fixtures folder}
mkdir -p "$out"
n=0
while IFS= read -r hex; do
  printf "$(printf '%s' "$hex" | sed 's/../\\x&/g')" > "$out/case_$n"
  n=$((n + 1))
done < <(sed 's/.*"input_hex": "\([0-9a-f]*\)".*/\1/' "$fixtures/tokenizer/cases.jsonl")
# A merges file, for the parser path (byte 0xFE selects it).
{ printf '\xfe#version: 0.2\n'; printf 'a b\nab c\nt h\nth e</w>\n'; } > "$out/merges_plain"
echo "seeds_tokenizer: $n cases written to $out"
