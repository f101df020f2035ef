#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install the dependencies, build,
# and score the fixture images against a few captions with the fixtures'
# tiny random ViT (its scores are meaningless; they show the whole path from
# JPEG/PNG and text to CLIP logits).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
fixtures=${CLIP_FIXTURES:-$here/../shared/fixtures}
bash "$here/scripts/install-deps.sh"
cmake -S "$here" -B "$here/build" -DCMAKE_BUILD_TYPE=Release
cmake --build "$here/build" -j"$(nproc)"
"$here/build/clip" similarity -m "$fixtures/models/tiny-vit.safetensors" \
  --vocab "$fixtures/vocab/bpe_simple_vocab_16e6.txt.gz" \
  --image "$fixtures/images/chelsea.png" --image "$fixtures/images/astronaut_baseline.jpg" \
  --image "$fixtures/images/coffee_progressive.jpg" \
  --text "a photo of a cat" --text "an astronaut" --text "a cup of coffee"
