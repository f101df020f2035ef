#!/usr/bin/env bash
# `clip convert` end to end: the fixture models to GGUF and to quantised
# safetensors with --report, `clip info` on the results, and the errors
# for unusable requests. Fails (exit 1) on any mismatch.
set -u
bin=${CLIP_BIN:?CLIP_BIN must name the clip binary}
fixtures=${CLIP_FIXTURES:-${CLIP_FIXTURES_DEFAULT:-}}
if [ ! -f "$fixtures/MANIFEST.json" ]; then
  echo "FATAL: fixtures not found at '$fixtures' (set CLIP_FIXTURES)" >&2
  exit 1
fi
vocab="$fixtures/vocab/bpe_simple_vocab_16e6.txt.gz"
vit="$fixtures/models/tiny-vit.safetensors"
tmp=$(mktemp -d "${CLIP_TEST_TMP:-${TMPDIR:-/tmp}}/cli_convert.XXXXXX" 2>/dev/null || mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export CLIP_OFFLINE=1
passed=0
failed=0

ok() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*" >&2; }
contains() { # contains NAME NEEDLE HAYSTACK
  case "$3" in *"$2"*) ok ;; *) fail "$1: no '$2' in: $3" ;; esac
}
field() { # field NAME JSON -> the number after "NAME":
  printf '%s' "$2" | grep -o "\"$1\": [-0-9.e]*" | head -n 1 | sed 's/.*: //'
}
at_least() { # at_least NAME VALUE MIN
  if awk -v v="$2" -v m="$3" 'BEGIN { exit !(v != "" && v + 0 >= m + 0) }'; then ok; else fail "$1: $2 < $3"; fi
}
# safetensors -> GGUF f16, with the vocabulary and the accuracy report.
out=$("$bin" convert "$vit" "$tmp/vit.gguf" --dtype f16 --vocab "$vocab" --report --images 3 --texts 3 \
  --text "a photo of a cat" 2>"$tmp/err")
contains "gguf: target" '"to": "gguf"' "$out"
contains "gguf: dtype" '"dtype": "F16"' "$out"
contains "gguf: vocabulary" '"vocabulary": true' "$out"
contains "gguf: texts" '"texts": 4' "$out"
at_least "gguf f16 image cosine" "$(field image_cosine_min "$out")" 0.9999
at_least "gguf f16 text cosine" "$(field text_cosine_min "$out")" 0.9999
in=$(field bytes_in "$out"); outb=$(field bytes_out "$out")
at_least "gguf f16 is about half the size (plus the vocabulary)" "$((in * 7 / 10))" "$outb"
[ -s "$tmp/vit.gguf" ] && ok || fail "no GGUF written"
[ "$(head -c 4 "$tmp/vit.gguf")" = "GGUF" ] && ok || fail "GGUF magic"

# GGUF -> safetensors q8_0 (the vocabulary travels inside).
out=$("$bin" convert "$tmp/vit.gguf" "$tmp/vit-q8.safetensors" --dtype q8_0 2>"$tmp/err")
contains "q8_0: source format" '"from": "gguf"' "$out"
contains "q8_0: vocabulary from the GGUF" '"vocabulary": true' "$out"
at_least "q8_0 shrinks" "$(( $(field bytes_in "$out") * 7 / 10 ))" "$(field bytes_out "$out")"
out=$("$bin" convert "$tmp/vit-q8.safetensors" "$tmp/vit-q8-again.gguf" --dtype q8_0 --report --images 2 --texts 2 2>"$tmp/err")
at_least "q8_0 image cosine" "$(field image_cosine_min "$out")" 0.999
at_least "q8_0 text cosine" "$(field text_cosine_min "$out")" 0.999
out=$("$bin" convert "$vit" "$tmp/vit-q4.safetensors" --dtype q4_0 --vocab "$vocab" --report --images 2 --texts 2)
at_least "q4_0 image cosine" "$(field image_cosine_min "$out")" 0.99
contains "q4_0 dtypes" '"output_dtypes": "' "$out"

# A ResNet converts to safetensors (bfloat16), not to clip.cpp's GGUF.
out=$("$bin" convert "$fixtures/models/tiny-rn.safetensors" "$tmp/rn.safetensors" --dtype bf16 --report \
  --images 2 --texts 2 2>"$tmp/err")
at_least "rn bf16 image cosine" "$(field image_cosine_min "$out")" 0.999
"$bin" convert "$fixtures/models/tiny-rn.safetensors" "$tmp/rn.gguf" 2>"$tmp/err" && fail "ResNet to GGUF succeeded"
contains "ResNet to GGUF: reason" "ViT" "$(cat "$tmp/err")"
[ ! -e "$tmp/rn.gguf" ] && ok || fail "a refused conversion left rn.gguf"

# `clip info` on the converted files (once model.c opens every format).
info=$("$bin" info -m "$tmp/rn.safetensors" 2>&1)
contains "info: converted ResNet" '"dtypes": "' "$info"
info=$("$bin" info -m "$tmp/vit.gguf" 2>&1)
case "$info" in
  *'not a safetensors'*|*'header length'*|*'is not a JSON object'*) echo "NOTE: clip_model_load does not open GGUF yet (model.c: tensor_file_open)" ;;
  *) contains "info: GGUF format" '"format": "gguf"' "$info"; contains "info: GGUF layout" '"layout": "openai"' "$info" ;;
esac

# Errors.
"$bin" convert "$vit" "$tmp/x.safetensors" --dtype q5_1 2>"$tmp/err"; code=$?
[ "$code" = 1 ] && ok || fail "unknown dtype: exit $code"
contains "unknown dtype: message" "unknown --dtype 'q5_1'" "$(cat "$tmp/err")"
"$bin" convert "$vit" 2>/dev/null; code=$?
[ "$code" = 2 ] && ok || fail "missing OUT: exit $code"
head -c 4096 /dev/urandom > "$tmp/noise.bin"
"$bin" convert "$tmp/noise.bin" "$tmp/x.safetensors" 2>"$tmp/err" && fail "noise converted"
contains "noise: message" "not a safetensors, PyTorch (zip) or GGUF file" "$(cat "$tmp/err")"
"$bin" convert "$tmp/missing.pt" "$tmp/x.safetensors" 2>"$tmp/err" && fail "missing input converted"
contains "missing input: message" "cannot open" "$(cat "$tmp/err")"
head -c 100000 "$tmp/vit.gguf" > "$tmp/cut.gguf"
"$bin" convert "$tmp/cut.gguf" "$tmp/x.safetensors" 2>"$tmp/err" && fail "truncated GGUF converted"
contains "truncated GGUF: message" "truncated" "$(cat "$tmp/err")"
"$bin" convert --help | grep -q "q8_0" && ok || fail "--help"

echo "cli_convert: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
