#!/usr/bin/env bash
# Builds bench/faiss_baseline.cpp against Debian's libfaiss-dev and runs it
# beside bench_search on the same data: prints both JSON lines and fails if
# FAISS finds a different top-10. Usage: bash bench/faiss_baseline.sh
# [BUILD_DIR] [extra bench args, e.g. --n 100000]. Not part of ctest (the
# full run needs ~5 GB of memory and a few minutes).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
shift || true
[ -x "$build/bench/bench_search" ] || { echo "build bench_search first (cmake --build $build)" >&2; exit 1; }
[ -f /usr/include/faiss/IndexFlat.h ] || { echo "libfaiss-dev missing: bash scripts/install-deps.sh" >&2; exit 1; }
out=$build/bench/faiss_baseline
g++ -O3 -march=native -fopenmp -std=c++17 "$here/bench/faiss_baseline.cpp" -o "$out" \
    -lfaiss -lopenblas -lgomp -lpthread
ids=$(mktemp)
trap 'rm -f "$ids"' EXIT
"$build/bench/bench_search" --ids "$ids" "$@"
# FAISS at its best here: OpenMP workers that sleep instead of spinning and a
# single-threaded BLAS under FAISS's own OpenMP (untuned, its batch-64
# figure drops ~8x on this 2-core machine; docs/retrieval.md).
OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1} \
  "$out" --ids "$ids" "$@"
