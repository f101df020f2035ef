#!/usr/bin/env bash
# Seeds for fuzz_image: the fixture images, cut copies of two of them
# (truncation paths) and a tiny hand-made BMP (no other tool needed).
set -euo pipefail
out=${1:?usage: seeds_image.sh CORPUS_DIR}
images=${CLIP_FIXTURES:?CLIP_FIXTURES must point to the fixtures}/images
mkdir -p "$out"
for f in "$images"/*.png "$images"/*.jpg; do
  cp "$f" "$out/"
done
head -c 20000 "$images/coffee_progressive.jpg" >"$out/cut_progressive.jpg"
head -c 100 "$images/tiny_7x5.png" >"$out/cut_tiny.png"
# 2x2 24-bit BMP, bottom-up, rows padded to 4 bytes.
printf 'BM\x46\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00\x01\x00\x18\x00\x00\x00\x00\x00\x10\x00\x00\x00\x13\x0b\x00\x00\x13\x0b\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\x00\x00\x00\xff\x00\x00\x00\x00\x00\xff\xff\xff\xff\x00\x00' >"$out/tiny.bmp"
