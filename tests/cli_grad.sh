#!/usr/bin/env bash
# `clip grad` end to end against the fixtures' grads/ files: pixels from
# `clip preprocess` of the fixture's images, tokens from the fixture, one
# forward + backward per model and BatchNorm mode, and the written file
# compared tensor by tensor by test_grad's --compare mode (the same
# tolerances as tests/test_grad.c). Then the usage errors.
set -euo pipefail
: "${CLIP_BIN:?CLIP_BIN must point to the clip binary}"
fixtures=${CLIP_FIXTURES:-${CLIP_FIXTURES_DEFAULT:-}}
[ -f "$fixtures/MANIFEST.json" ] || { echo "FATAL: fixtures not found at '$fixtures'" >&2; exit 1; }
helper=${CLIP_TEST_GRAD:-$(dirname "$CLIP_BIN")/tests/test_grad}
[ -x "$helper" ] || { echo "FATAL: test_grad helper not found at '$helper' (set CLIP_TEST_GRAD)" >&2; exit 1; }
tmp=${CLIP_TEST_TMP:-/tmp}/cli_grad.$$
mkdir -p "$tmp"
tmp=$(cd "$tmp" && pwd)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

"$CLIP_BIN" grad --help | grep -q -- "--pixels" || fail "--help"

while read -r model fixture bn; do
  mapfile -t names < <("$helper" --images "$fixture")
  [ "${#names[@]}" -gt 1 ] || { fail "$fixture: no image list"; continue; }
  images=()
  for name in "${names[@]}"; do images+=("$fixtures/images/$name"); done
  "$CLIP_BIN" preprocess "${images[@]}" -o "$tmp/pixels.npy" >/dev/null || { fail "$fixture: preprocess"; continue; }
  "$helper" --write-tokens "$fixture" "$tmp/tokens.npy" || { fail "$fixture: tokens"; continue; }
  rm -f "$tmp/out.safetensors"
  if ! "$CLIP_BIN" grad -m "$fixtures/models/$model" --pixels "$tmp/pixels.npy" --tokens "$tmp/tokens.npy" \
      --bn "$bn" -t 2 -o "$tmp/out.safetensors" >"$tmp/out.json"; then
    fail "$fixture: clip grad exited $?"
    continue
  fi
  grep -q "\"loss\": " "$tmp/out.json" || fail "$fixture: no loss in $(cat "$tmp/out.json")"
  if ! "$helper" --compare "$fixture" "$tmp/out.safetensors" >"$tmp/compare.txt" 2>&1; then
    cat "$tmp/compare.txt" >&2
    fail "$fixture: gradients differ from the reference"
  else
    echo "$model $fixture (--bn $bn): $(tail -n 1 "$tmp/compare.txt")"
  fi
  # Reductions run in a fixed order: the thread count changes no bit.
  "$CLIP_BIN" grad -m "$fixtures/models/$model" --pixels "$tmp/pixels.npy" --tokens "$tmp/tokens.npy" \
    --bn "$bn" -t 1 -o "$tmp/one_thread.safetensors" >/dev/null || fail "$fixture: -t 1 exited $?"
  cmp -s "$tmp/out.safetensors" "$tmp/one_thread.safetensors" || fail "$fixture: 1 and 2 threads differ"
done <<'CASES'
tiny-vit.safetensors grads_vit.safetensors train
tiny-rn.safetensors grads_rn_eval.safetensors eval
tiny-rn.safetensors grads_rn_train.safetensors train
CASES

# Usage errors: exit 2, nothing written.
model=$fixtures/models/tiny-vit.safetensors
set +e
"$CLIP_BIN" grad -m "$model" --pixels "$tmp/pixels.npy" -o "$tmp/x.safetensors" 2>/dev/null
[ $? -eq 2 ] || fail "missing --tokens: expected exit 2"
"$CLIP_BIN" grad -m "$model" --pixels "$tmp/pixels.npy" --tokens "$tmp/tokens.npy" --bn sideways \
  -o "$tmp/x.safetensors" 2>/dev/null
[ $? -eq 2 ] || fail "bad --bn: expected exit 2"
# A batch whose images and texts do not pair up: exit 1, nothing written.
"$CLIP_BIN" preprocess "$fixtures/images/chelsea.png" -o "$tmp/one.npy" >/dev/null
"$CLIP_BIN" grad -m "$model" --pixels "$tmp/one.npy" --tokens "$tmp/tokens.npy" -o "$tmp/x.safetensors" \
  2>"$tmp/err.txt"
[ $? -eq 1 ] || fail "1 image for 4 texts: expected exit 1"
grep -q "pairs image i with text i" "$tmp/err.txt" || fail "mismatch message: $(cat "$tmp/err.txt")"
# Pixels of the wrong shape or dtype are refused with the expected shape.
"$CLIP_BIN" grad -m "$model" --pixels "$tmp/tokens.npy" --tokens "$tmp/tokens.npy" -o "$tmp/x.safetensors" \
  2>"$tmp/err.txt"
[ $? -eq 1 ] || fail "tokens as pixels: expected exit 1"
grep -q "expected float32" "$tmp/err.txt" || fail "dtype message: $(cat "$tmp/err.txt")"
set -e
[ ! -e "$tmp/x.safetensors" ] || fail "a failed run left an output file"

if [ "$failures" -ne 0 ]; then
  echo "cli_grad: $failures failure(s)" >&2
  exit 1
fi
echo "cli_grad: all passed"
