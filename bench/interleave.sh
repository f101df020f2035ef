#!/usr/bin/env bash
# clip.c against ONNX Runtime in alternating rounds, one thread, by CPU time:
# on a shared VM both programs drift by 5-15% over minutes, so one run of
# each (compare.sh) can put the ratio anywhere in that band. Each round runs
# bench_towers and then run.mjs on the same model, batch and tower; the
# ratio is taken per round and the median over the rounds is printed.
# Needs what compare.sh needs, and compare.sh run once for the ONNX export.
#
#   bash bench/interleave.sh [--model ViT-B-32] [--batch 32] [--tower image] [--rounds 5]
#                            [--iters 3] [--dir /tmp/clip-bench] [--build build-perf]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
model=ViT-B-32 batch=32 tower=image rounds=5 iters=3 dir=/tmp/clip-bench build=$root/build-perf
while [ $# -gt 0 ]; do
  case $1 in
    --model) model=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --tower) tower=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --iters) iters=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    *) echo "interleave.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
bench=$build/bench/bench_towers
[ -x "$bench" ] || { echo "interleave.sh: build bench_towers first ($bench)" >&2; exit 1; }
onnx_tower=image
[ "$tower" = image ] || onnx_tower=text
[ -f "$dir/onnx/$model-$onnx_tower.onnx" ] ||
  { echo "interleave.sh: no ONNX export of $model in $dir/onnx: run bench/compare.sh once" >&2; exit 1; }
# OpenBLAS (linked for the BLAS fallback) starts a worker that spins for a
# moment at start-up; one thread of it is all a one-thread run needs.
export OPENBLAS_NUM_THREADS=1

export LC_ALL=C
[ "$rounds" -ge 1 ] 2>/dev/null || { echo "interleave.sh: --rounds must be 1 or more" >&2; exit 2; }

# Items per CPU second: bench_towers' tab-separated RESULT line (field 8),
# run.mjs's last column. Either prints nothing when its program fails.
clip_rate() {
  "$bench" --dir "$dir" --models "$model" --batch "$batch" --threads 1 --towers "$tower" --iters "$iters" --tsv \
    2>/dev/null | awk -F'\t' -v t="$tower" '$1 == "RESULT" && $4 == t { printf "%.2f\n", $8 }' || true
}
ort_rate() {
  node "$here/onnx/run.mjs" --dir "$dir/onnx" --name "$model" --batch "$batch" --threads 1 --iters "$iters" \
    --towers "$tower" 2>/dev/null | awk -v t="$tower" '$1 == t { print $NF }' || true
}

printf '%s %s batch %s, one thread, items per CPU second\n' "$model" "$tower" "$batch"
printf '%-6s %9s %9s %7s\n' round clip.c onnxrt ratio
ratios=()
for r in $(seq "$rounds"); do
  c=$(clip_rate)
  [ -n "$c" ] || { echo "interleave.sh: bench_towers printed no result (round $r)" >&2; exit 1; }
  o=$(ort_rate)
  awk -v o="$o" 'BEGIN { exit !(o + 0 > 0) }' ||
    { echo "interleave.sh: ONNX Runtime (bench/onnx/run.mjs) printed no result (round $r)" >&2; exit 1; }
  ratio=$(awk -v c="$c" -v o="$o" 'BEGIN { printf "%.3f", c / o }')
  ratios+=("$ratio")
  printf '%-6s %9s %9s %7s\n' "$r" "$c" "$o" "$ratio"
done
printf '%s\n' "${ratios[@]}" | sort -n |
  awk '{ v[NR] = $1 } END { printf "median ratio %.3f (range %.3f-%.3f over %d rounds)\n", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2), v[1], v[NR], NR }'
