#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install the dependencies,
# build, train a small CLIP from scratch on Fashion-MNIST (offline: Debian's
# dataset-fashion-mnist), print its zero-shot accuracy on the 10,000 test
# images with prompt templates the training captions never used, and
# classify a few test images by prompt.
#   EPOCHS (default 8) sets the training length; THREADS the worker threads.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
fixtures=${CLIP_FIXTURES:-$here/../shared/fixtures}
epochs=${EPOCHS:-8}
bash "$here/scripts/install-deps.sh"
cmake -S "$here" -B "$here/build" -DCMAKE_BUILD_TYPE=Release
cmake --build "$here/build" -j"$(nproc)"
clip="$here/build/clip"
out="$here/build/demo"
rm -rf "$out"
mkdir -p "$out"

echo "== a new CLIP (2-layer ViT on 28x28 px, 2-layer text transformer, 64-d embeddings)"
"$clip" init --config "$here/examples/fashion-mnist-vit.json" --seed 1 \
  --vocab "$fixtures/vocab/bpe_simple_vocab_16e6.txt.gz" -o "$out/init.safetensors"

echo "== training on the 60,000 Fashion-MNIST training images ($epochs epochs)"
"$clip" train --model "$out/init.safetensors" --data fashion-mnist:train --eval-data fashion-mnist:test \
  --batch-size 256 --epochs "$epochs" --lr 2e-3 --class-aware --seed 1 --eval-every 234 --eval-items 2000 \
  ${THREADS:+--threads "$THREADS"} -o "$out/run" | grep -E '"eval"|"event"'

echo "== zero-shot accuracy on the 10,000 test images (held-out prompt templates)"
"$clip" eval -m "$out/run/model.safetensors" --zeroshot fashion-mnist:test

echo "== classifying a few test images by prompt"
"$clip" eval --save-images "$out/samples" --zeroshot fashion-mnist:test --items 6
"$clip" classify -m "$out/run/model.safetensors" "$out"/samples/*.png --top 2 --no-cache \
  --labels "T-shirt/top,trouser,pullover,dress,coat,sandal,shirt,sneaker,bag,ankle boot"
echo "(file names carry the true class; curves: $out/run/curves.svg)"
