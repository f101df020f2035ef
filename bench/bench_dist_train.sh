#!/usr/bin/env bash
# Data-parallel scaling of `clip train`: samples/s of N ranks x 1 thread
# against 1 rank x 1 thread on the same global batch, median of REPEATS runs.
# Steady state only: the first logged window (warm-up, packing) is skipped.
#   bash bench/bench_dist_train.sh [BUILD_DIR]
#   RANKS (default 2), STEPS (default 60), BATCH (default 256), REPEATS (3),
#   CONFIG (default examples/fashion-mnist-vit.json: the README demo's model)
# Quote wall-clock figures only from a quiet machine: every rank needs a core.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
clip=$build/clip
ranks=${RANKS:-2} steps=${STEPS:-60} batch=${BATCH:-256} repeats=${REPEATS:-3}
config=${CONFIG:-$here/examples/fashion-mnist-vit.json}
fixtures=${CLIP_FIXTURES:-$here/../shared/fixtures}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$clip" init --config "$config" --seed 1 --vocab "$fixtures/vocab/bpe_simple_vocab_16e6.txt.gz" \
  -o "$tmp/init.safetensors" >/dev/null
args=(--model "$tmp/init.safetensors" --data fashion-mnist:train --batch-size "$batch" --steps "$steps" --lr 2e-3
      --class-aware --seed 1 --threads 1)
# Median over runs of the mean samples/s of the logged windows after the first.
rate() { grep -o '"samples_per_s": [0-9.]*' "$1/log.jsonl" | sed 's/.*: //' | tail -n +2 |
         awk '{ s += $1; n++ } END { printf "%.1f", s / n }'; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
one=() many=()
for r in $(seq 1 "$repeats"); do
  rm -rf "$tmp/one" "$tmp/many"
  "$clip" train "${args[@]}" -o "$tmp/one" >/dev/null
  one+=("$(rate "$tmp/one")")
  mpirun --oversubscribe --allow-run-as-root --bind-to none -np "$ranks" "$clip" train "${args[@]}" -o "$tmp/many" >/dev/null
  many+=("$(rate "$tmp/many")")
  echo "run $r: 1 rank ${one[-1]} samples/s, $ranks ranks ${many[-1]} samples/s" >&2
done
m1=$(printf '%s\n' "${one[@]}" | median)
mn=$(printf '%s\n' "${many[@]}" | median)
awk -v a="$m1" -v b="$mn" -v n="$ranks" -v B="$batch" 'BEGIN {
  printf "{\"batch\": %d, \"ranks\": %d, \"one_rank_samples_per_s\": %.1f, \"ranks_samples_per_s\": %.1f, \"speedup\": %.2f, \"efficiency\": %.2f}\n",
         B, n, a, b, b / a, b / a / n }'
