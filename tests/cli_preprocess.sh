#!/usr/bin/env bash
# `clip preprocess` end to end: the .npy it writes must hold exactly the
# reference tensors of preprocess/expected_224.safetensors, for one image,
# for a batch with a bad file in it, and via the --resized PNG. Plain bash:
# tensors are compared byte for byte against their span in the fixture.
set -euo pipefail
: "${CLIP_BIN:?CLIP_BIN must point to the clip binary}"
fixtures=${CLIP_FIXTURES:-${CLIP_FIXTURES_DEFAULT:-}}
[ -f "$fixtures/MANIFEST.json" ] || { echo "FATAL: fixtures not found at '$fixtures'" >&2; exit 1; }
tmp=${CLIP_TEST_TMP:-/tmp}/cli_preprocess.$$
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
ref=$fixtures/preprocess/expected_224.safetensors
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# Byte range [start, end) of tensor $1's data in $ref, from its JSON header.
header_len=$(od -An -t u8 -N 8 "$ref" | tr -d ' ')
header=$(head -c $((8 + header_len)) "$ref" | tail -c "$header_len")
tensor_span() {
  local entry
  entry=$(printf '%s' "$header" | grep -o "\"$1\":{[^}]*}")
  printf '%s' "$entry" | sed -E 's/.*"data_offsets":\[([0-9]+),([0-9]+)\].*/\1 \2/'
}
# Writes tensor $1's bytes from the fixture to file $2.
extract() {
  local span start end
  span=$(tensor_span "$1")
  start=${span% *}
  end=${span#* }
  dd if="$ref" of="$2" bs=65536 iflag=skip_bytes,count_bytes skip=$((8 + header_len + start)) \
    count=$((end - start)) status=none
}
# The .npy data after its header (numpy's 64-byte aligned v1.0 header).
npy_data() {
  local hlen
  hlen=$(od -An -t u2 -j 8 -N 2 "$1" | tr -d ' ')
  tail -c +$((10 + hlen + 1)) "$1"
}
npy_header() {
  local hlen
  hlen=$(od -An -t u2 -j 8 -N 2 "$1" | tr -d ' ')
  head -c $((10 + hlen)) "$1" | tail -c "$hlen"
}

# --help works and exits 0.
"$CLIP_BIN" preprocess --help | grep "resize-mode" >/dev/null || fail "--help"

# One image: [3, 224, 224], exactly the reference.
for name in coffee_progressive.jpg chelsea_rgba.png astronaut_palette.png gray16.png; do
  "$CLIP_BIN" preprocess "$fixtures/images/$name" -o "$tmp/one.npy" >"$tmp/one.json" || fail "$name: exit $?"
  npy_header "$tmp/one.npy" | grep "'shape': (3, 224, 224)" >/dev/null || fail "$name: header $(npy_header "$tmp/one.npy")"
  extract "$name" "$tmp/want.bin"
  cmp -s <(npy_data "$tmp/one.npy") "$tmp/want.bin" || fail "$name: tensor differs from the reference"
  grep -q "\"row\": 0" "$tmp/one.json" || fail "$name: no JSON line"
done

# A batch with a broken file: the good images are written in order, the
# bad one is reported on stderr, and the exit status is 1.
printf 'not an image' >"$tmp/broken.jpg"
set +e
"$CLIP_BIN" preprocess "$fixtures/images/chelsea.png" "$tmp/broken.jpg" "$fixtures/images/tiny_7x5.png" \
  -o "$tmp/batch.npy" >"$tmp/batch.json" 2>"$tmp/batch.err"
status=$?
set -e
[ "$status" -eq 1 ] || fail "batch with a bad file: exit $status, want 1"
grep -q "broken.jpg" "$tmp/batch.err" || fail "bad file not named on stderr: $(cat "$tmp/batch.err")"
[ "$(wc -l <"$tmp/batch.json")" -eq 2 ] || fail "batch: want 2 JSON lines"
npy_header "$tmp/batch.npy" | grep "'shape': (2, 3, 224, 224)" >/dev/null || fail "batch header"
extract chelsea.png "$tmp/a.bin"
extract tiny_7x5.png "$tmp/b.bin"
cmp -s <(npy_data "$tmp/batch.npy") <(cat "$tmp/a.bin" "$tmp/b.bin") || fail "batch tensors differ"

# --resized writes the image before cropping; preprocessing that PNG (its
# shorter side is already 224) must give the same tensor again.
"$CLIP_BIN" preprocess "$fixtures/images/retina_333x517.png" -o "$tmp/r.npy" --resized "$tmp/r.png" >/dev/null
"$CLIP_BIN" preprocess "$tmp/r.png" -o "$tmp/r2.npy" >"$tmp/r2.json"
grep -q '"width": 224, "height": 347' "$tmp/r2.json" || fail "--resized size: $(cat "$tmp/r2.json")"
extract retina_333x517.png "$tmp/want.bin"
cmp -s <(npy_data "$tmp/r2.npy") "$tmp/want.bin" || fail "--resized PNG round trip differs"

# Other sizes and modes produce the announced shapes.
"$CLIP_BIN" preprocess --size 64 --resize-mode pad "$fixtures/images/chelsea.png" -o "$tmp/pad.npy" >/dev/null
npy_header "$tmp/pad.npy" | grep "'shape': (3, 64, 64)" >/dev/null || fail "pad shape"
[ "$(npy_data "$tmp/pad.npy" | wc -c)" -eq $((3 * 64 * 64 * 4)) ] || fail "pad data size"
"$CLIP_BIN" preprocess --resize-mode squash --fast-decode --exif-rotate "$fixtures/images/hubble_large.jpg" \
  -o "$tmp/fast.npy" >/dev/null || fail "squash + fast decode"
# --fast-decode with the centre crop decodes only the part it reads: the same
# tensor as with --resized (which needs the whole decode), and the JSON line
# still reports the whole (scaled) image.
"$CLIP_BIN" preprocess --fast-decode "$fixtures/images/hubble_large.jpg" -o "$tmp/fc.npy" >"$tmp/fc.json" \
  || fail "fast decode with crop"
grep '"width": 500, "height": 375' "$tmp/fc.json" >/dev/null || fail "fast decode size: $(cat "$tmp/fc.json")"
"$CLIP_BIN" preprocess --fast-decode "$fixtures/images/hubble_large.jpg" -o "$tmp/fw.npy" --resized "$tmp/fw.png" \
  >/dev/null || fail "fast decode with --resized"
cmp -s "$tmp/fc.npy" "$tmp/fw.npy" || fail "part and whole fast decodes differ"

# Usage errors exit 2 and write nothing; a lone bad file exits 1.
for args in "--size 0 x.png -o $tmp/u.npy" "--resize-mode crop x.png -o $tmp/u.npy" "$fixtures/images/chelsea.png" \
            "--resized $tmp/u.png a.png b.png -o $tmp/u.npy"; do
  set +e
  # shellcheck disable=SC2086
  "$CLIP_BIN" preprocess $args >/dev/null 2>&1
  status=$?
  set -e
  [ "$status" -eq 2 ] || fail "usage error '$args': exit $status"
done
[ ! -e "$tmp/u.npy" ] || fail "usage error wrote a file"
set +e
"$CLIP_BIN" preprocess --max-pixels 1000 "$fixtures/images/chelsea.png" -o "$tmp/none.npy" >/dev/null 2>"$tmp/none.err"
status=$?
set -e
[ "$status" -eq 1 ] || fail "over --max-pixels: exit $status"
grep -q "exceeds the limit" "$tmp/none.err" || fail "limit message: $(cat "$tmp/none.err")"
[ ! -e "$tmp/none.npy" ] || fail "output written although no image loaded"

if [ "$failures" -ne 0 ]; then
  echo "cli_preprocess: $failures failures" >&2
  exit 1
fi
echo "cli_preprocess: all checks passed"
