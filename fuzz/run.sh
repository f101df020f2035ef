#!/usr/bin/env bash
# Runs each fuzz target for ${FUZZ_SECONDS:-60} seconds (random seed
# ${FUZZ_SEED:-1}) from a seed corpus
# generated from the fixtures (fuzz/seeds_<target>.sh, when present, fills
# it). Any crash, leak or sanitizer report fails the run.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${FUZZ_BUILD:-$here/build-fuzz}
seconds=${FUZZ_SECONDS:-60}
# A fixed seed makes CI's runs repeatable (the same mutations in the same
# order); soaks pass FUZZ_SEED=0 for a random one.
seed=${FUZZ_SEED:-1}
fixtures=${CLIP_FIXTURES:-$here/../shared/fixtures}
[ -f "$fixtures/MANIFEST.json" ] || { echo "fuzz: fixtures not found at $fixtures" >&2; exit 1; }
bash "$here/fuzz/build.sh" "$out"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=($(cd "$here/fuzz" && ls fuzz_*.c | sed 's/\.c$//'))
for name in "${targets[@]}"; do
  corpus="$out/corpus/$name"
  rm -rf "$corpus"; mkdir -p "$corpus"
  if [ -f "$here/fuzz/seeds_${name#fuzz_}.sh" ]; then
    CLIP_FIXTURES="$fixtures" bash "$here/fuzz/seeds_${name#fuzz_}.sh" "$corpus"
  fi
  echo "fuzz: $name for ${seconds}s ($(ls "$corpus" | wc -l) seeds)"
  # The whole log stays in $out/$name.log; shown: its end on a finding,
  # else the final coverage line and the statistics (soak figures).
  if ! (cd "$out" && CLIP_FIXTURES="$fixtures" "./$name" -max_total_time="$seconds" -seed="$seed" -rss_limit_mb=4096 -timeout=20 -print_final_stats=1 "$corpus" >"$out/$name.log" 2>&1); then
    tail -n 40 "$out/$name.log"
    echo "fuzz: $name found a problem (full log: $out/$name.log)" >&2
    exit 1
  fi
  grep -E "DONE|^Done|^stat::" "$out/$name.log" || true
done
echo "fuzz: all targets clean"
