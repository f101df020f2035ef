#!/usr/bin/env bash
# clip.c against PyTorch and ONNX Runtime on the same weights, in one go:
# creates (or reuses) the random model in --dir, exports it to ONNX once,
# runs the three benchmarks with the same batches/threads/iterations and
# prints throughput ratios. See docs/performance.md.
#
#   bash bench/compare.sh [--model ViT-B-32] [--batch 1,8,32] [--threads 1,2] [--iters 5]
#                         [--towers image,text77,textshort] [--dir /tmp/clip-bench] [--build build-perf]
#
# Needs: a build of bench_towers, python3-torch (Debian; /usr/bin/python3),
# python3-onnx for the export, and `npm install` done in bench/onnx
# (ONNXRUNTIME_NODE_INSTALL=skip: the CPU runtime ships in the package).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
model=ViT-B-32 batch=1,8,32 threads=1,2 iters=5 towers=image,text77,textshort dir=/tmp/clip-bench
build=$root/build-perf
while [ $# -gt 0 ]; do
  case $1 in
    --model) model=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --iters) iters=$2; shift 2 ;;
    --towers) towers=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    *) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
python=/usr/bin/python3
[ -x "$python" ] || python=python3
bench=$build/bench/bench_towers
[ -x "$bench" ] || { echo "compare.sh: build bench_towers first ($bench)" >&2; exit 1; }
[ -d "$here/onnx/node_modules/onnxruntime-node" ] ||
  (cd "$here/onnx" && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund >/dev/null)

out=$dir/compare-$model   # the raw outputs stay here for a second look
mkdir -p "$out"
common=(--batch "$batch" --threads "$threads" --iters "$iters" --towers "$towers" --tsv)

echo "== clip.c"
"$bench" --dir "$dir" --models "$model" "${common[@]}" | tee "$out/clip.txt" | grep -v '^RESULT'
weights=$dir/$model-seed0.safetensors

echo "== PyTorch"
OMP_WAIT_POLICY=PASSIVE "$python" "$here/baseline_pytorch.py" --model "$weights" "${common[@]}" |
  tee "$out/torch.txt" | grep -v '^RESULT'

echo "== ONNX Runtime"
if [ ! -f "$dir/onnx/$model-image.onnx" ] || [ "$weights" -nt "$dir/onnx/$model-image.onnx" ]; then
  "$python" "$here/baseline_pytorch.py" --model "$weights" --export-onnx "$dir/onnx" 2>/dev/null
fi
node "$here/onnx/run.mjs" --dir "$dir/onnx" --name "$model" "${common[@]}" | tee "$out/ort.txt" | grep -v '^RESULT'

# One table per clock: CPU time is what a run cost (the fair figure on a
# shared machine, and the one for 1 thread); wall time is what a user waits.
for clock in cpu wall; do
  echo
  echo "== items/s by $clock time, and clip.c's ratio to each baseline"
  cat "$out/clip.txt" "$out/torch.txt" "$out/ort.txt" | awk -F'\t' -v clock="$clock" '
    $1 == "RESULT" && $2 != "impl" {
      key = $3 "\t" $4 "\t" $5 "\t" $6
      val[$2, key] = (clock == "cpu") ? $8 : $7
      if (!(key in seen)) { seen[key] = 1; keys[n++] = key }
    }
    END {
      printf "%-9s %-9s %5s %3s | %9s %9s %9s | %8s %8s\n", "model", "tower", "batch", "thr",
             "clip.c", "pytorch", "onnxrt", "vs torch", "vs ort"
      for (i = 0; i < n; i++) {
        split(keys[i], k, "\t")
        c = val["clip.c", keys[i]]; t = val["pytorch", keys[i]]; o = val["onnxruntime", keys[i]]
        printf "%-9s %-9s %5s %3s | %9.2f %9.2f %9.2f | %7.2fx %7.2fx\n", k[1], k[2], k[3], k[4],
               c, t, o, (t > 0 ? c / t : 0), (o > 0 ? c / o : 0)
      }
    }'
done
