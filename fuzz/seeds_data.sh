#!/usr/bin/env bash
# Seeds for fuzz_data: a TSV and a CSV manifest naming fixture images, and a
# WebDataset shard of two image-caption pairs (first byte: 0 tsv, 1 csv, 2 tar).
set -euo pipefail
out=$1
img="${CLIP_FIXTURES:?}/images"
printf '\000filepath\ttitle\n%s/tiny_7x5.png\ta tiny image\n%s/solid_300x200.png\ta solid colour\n' "$img" "$img" > "$out/manifest_tsv"
printf '\001%s/tiny_7x5.png,"a tiny, quoted ""image"""\n' "$img" > "$out/manifest_csv"
work=$(mktemp -d)
cp "$img/tiny_7x5.png" "$work/000001.png"
echo "a tiny image" > "$work/000001.txt"
cp "$img/checker_1px_250.png" "$work/000002.png"
echo "a checkerboard" > "$work/000002.txt"
(cd "$work" && tar --format=ustar -cf shard.tar 000001.png 000001.txt 000002.png 000002.txt)
{ printf '\002'; cat "$work/shard.tar"; } > "$out/shard_tar"
rm -rf "$work"
