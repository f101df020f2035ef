#!/usr/bin/env bash
# Threads under contention: clip.c with 1 and with 2 threads while another
# CPU-bound process (`yes > /dev/null`) runs, wall-clock items/s side by
# side. On a 2-core machine the 2-thread run shares a core with the hog;
# it must not fall below the 1-thread run (a pool whose workers spin, or
# whose every op waits for a preempted worker, does).
#   bash bench/contention.sh [BUILD_DIR]   (HOGS=1, ITERS=5, BATCH=1,8,32, TOWERS=image,text77, MODEL=ViT-B-32)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
hogs=${HOGS:-1}
pids=()
for _ in $(seq 1 "$hogs"); do yes > /dev/null & pids+=($!); done
trap 'kill "${pids[@]}" 2>/dev/null' EXIT
sleep 0.5
"$build/bench/bench_towers" --models "${MODEL:-ViT-B-32}" --batch "${BATCH:-1,8,32}" --threads 1,2 --iters "${ITERS:-5}" \
  --towers "${TOWERS:-image,text77}" 2>&1 |
  awk '/^  (image|text)/ { print; rate[$1 " " $2, $3] = $5 }
       /^  (image|text)/ && $3 == 2 { r = $5 / rate[$1 " " $2, 1];
         printf "    -> %s batch %s: 2 threads / 1 thread = %.2f%s\n", $1, $2, r, r < 1 ? "  SLOWER" : "" }'
