#!/usr/bin/env bash
# Data-parallel training under mpirun (registered only in builds with MPI):
#  - `clip grad` with the batch split over 2 and 4 ranks matches the
#    fixtures' gradients (every model and BatchNorm mode, so SyncBatchNorm
#    too) and the single-process result;
#  - `clip train` with global batch B on 2 ranks gives the loss curve and
#    parameters of 1 rank with batch B (with and without --accum);
#  - a 1-rank run killed mid-way resumes on 2 ranks and ends where the
#    uninterrupted run ends;
#  - a batch that does not split over the ranks fails fast on every rank.
# Ranks differ from one process only in the order of float32 sums.
set -u
source "$(dirname "$0")/common.sh"
# Containers often forbid the cross-process memory copy (CMA) OpenMPI's
# shared-memory transport tries first for large messages: plain copies
# work everywhere.
export OMPI_MCA_btl_vader_single_copy_mechanism=none
mpiexec=${CLIP_MPIEXEC:-mpirun}
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || {
  echo "FATAL: Fashion-MNIST missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
tests_dir=$(dirname "$bin")/tests
grad_helper=${CLIP_TEST_GRAD:-$tests_dir/test_grad}
dist_helper=${CLIP_TEST_DIST:-$tests_dir/test_dist}
for h in "$grad_helper" "$dist_helper"; do [ -x "$h" ] || { echo "FATAL: helper $h not built" >&2; exit 1; }; done
export CLIP_VOCAB=$fixtures/vocab/bpe_simple_vocab_16e6.txt.gz
# Oversubscribed ranks yield instead of spinning; root is allowed in CI containers.
ranks() { local n=$1; shift; timeout 300 "$mpiexec" --oversubscribe --allow-run-as-root --mca mpi_yield_when_idle 1 -np "$n" "$@"; }

"$bin" --version | grep -q "MPI: yes"; check "clip was built with MPI" 0 $?

# ---- gradients: the fixtures' batches split over ranks ----
while read -r model fixture bn; do
  mapfile -t names < <("$grad_helper" --images "$fixture")
  images=()
  for name in "${names[@]}"; do images+=("$fixtures/images/$name"); done
  "$bin" preprocess "${images[@]}" -o "$tmp/pixels.npy" >/dev/null
  "$grad_helper" --write-tokens "$fixture" "$tmp/tokens.npy"
  grad_args=(grad -m "$fixtures/models/$model" --pixels "$tmp/pixels.npy" --tokens "$tmp/tokens.npy" --bn "$bn" -t 1)
  "$bin" "${grad_args[@]}" -o "$tmp/one.safetensors" >/dev/null
  check "$fixture: 1 process" 0 $?
  for n in 2 4; do
    [ $(( ${#names[@]} % n )) -eq 0 ] || continue
    ranks "$n" "$bin" "${grad_args[@]}" -o "$tmp/ranks.safetensors" >"$tmp/grad.json"
    check "$fixture: clip grad on $n ranks" 0 $?
    check "$fixture: one JSON line from rank 0" 1 "$(grep -c "\"ranks\": $n" "$tmp/grad.json")"
    "$grad_helper" --compare "$fixture" "$tmp/ranks.safetensors" >"$tmp/cmp.txt" 2>&1
    check "$fixture ($n ranks, --bn $bn) matches the fixture's gradients" 0 $?
    tail -n 1 "$tmp/cmp.txt"
    "$dist_helper" --compare "$tmp/one.safetensors" "$tmp/ranks.safetensors" 1e-5 0
    check "$fixture ($n ranks) equals 1 process within 1e-5 of each tensor's scale" 0 $?
  done
done <<'CASES'
tiny-vit.safetensors grads_vit.safetensors train
tiny-rn.safetensors grads_rn_eval.safetensors eval
tiny-rn.safetensors grads_rn_train.safetensors train
CASES

# ---- training: 2 ranks x 32 = 1 rank x 64 ----
cat > "$tmp/arch.json" <<'JSON'
{"embed_dim": 32, "image_resolution": 28, "vision_layers": 1, "vision_width": 32, "vision_patch_size": 7,
 "vision_heads": 2, "context_length": 12, "vocab_size": 49408, "text_width": 32, "text_heads": 2, "text_layers": 1}
JSON
"$bin" init --config "$tmp/arch.json" --seed 3 -o "$tmp/init.safetensors" >/dev/null
check "init" 0 $?
losses() { grep -o '"step": [0-9]*, "epoch": [0-9.]*, "loss": [0-9.]*' "$1/log.jsonl" | sed 's/.*"loss": //'; }
# Loss curves agree to 1e-4 relative at every logged step.
same_curve() {
  paste <(losses "$1") <(losses "$2") | awk 'BEGIN { bad = 0; n = 0 }
    { n++; d = $1 - $2; if (d < 0) d = -d; if (d > 1e-4 * $1) bad++ } END { print (n > 0 && bad == 0) ? "same" : "differ" }'
}
compare_runs() { # Parameters and AdamW moments: 1e-4 of each tensor's scale, plus a 1e-5
  # floor for the attention key bias (zero gradient analytically: its values are rounding noise).
  "$dist_helper" --compare "$1/checkpoint.safetensors" "$2/checkpoint.safetensors" 1e-4 1e-5
}
train_args=(--model "$tmp/init.safetensors" --data fashion-mnist:train --steps 40 --lr 1e-3 --class-aware --threads 1
            --seed 9 --checkpoint-every 5)
"$bin" train "${train_args[@]}" --batch-size 64 -o "$tmp/one" >/dev/null 2>&1
check "1 rank, batch 64" 0 $?
ranks 2 "$bin" train "${train_args[@]}" --batch-size 64 -o "$tmp/two" >"$tmp/two.out" 2>&1
check "2 ranks, batch 64" 0 $?
check "the log says 2 ranks" 1 "$(grep -c '"ranks": 2' "$tmp/two/log.jsonl")"
check "rank 0 alone prints the log (4 logged steps + start + done)" 6 "$(grep -c '"step"\|"event"' "$tmp/two.out")"
check "2 ranks: loss curve of 1 rank" same "$(same_curve "$tmp/one" "$tmp/two")"
compare_runs "$tmp/one" "$tmp/two"
check "2 ranks: parameters and optimiser state of 1 rank" 0 $?

"$bin" train "${train_args[@]}" --batch-size 32 --accum 2 -o "$tmp/one_accum" >/dev/null 2>&1
ranks 2 "$bin" train "${train_args[@]}" --batch-size 32 --accum 2 -o "$tmp/two_accum" >/dev/null 2>&1
check "2 ranks with --accum 2" 0 $?
check "--accum 2: loss curve of 1 rank" same "$(same_curve "$tmp/one_accum" "$tmp/two_accum")"
compare_runs "$tmp/one_accum" "$tmp/two_accum"
check "--accum 2: parameters of 1 rank" 0 $?

# ---- resume with a different number of ranks ----
"$bin" train "${train_args[@]}" --batch-size 64 -o "$tmp/killed" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  grep -q '"step": 10,' "$tmp/killed/log.jsonl" 2>/dev/null && break
  sleep 0.02
done
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
grep -q '"event": "done"' "$tmp/killed/log.jsonl"
check "the 1-rank run was killed before it finished" 1 $?
ranks 2 "$bin" train --resume "$tmp/killed" --threads 1 >/dev/null 2>&1
check "resumed on 2 ranks" 0 $?
check "the resumed run logs step 40 once" 1 "$(grep -c '"step": 40,' "$tmp/killed/log.jsonl")"
compare_runs "$tmp/one" "$tmp/killed"
check "1 rank killed + resumed on 2 = uninterrupted 1 rank" 0 $?

# ---- a global batch that does not split: every rank stops, none hangs ----
ranks 2 "$bin" train "${train_args[@]}" --batch-size 63 -o "$tmp/odd" >"$tmp/odd.out" 2>&1
status=$?
[ "$status" -ne 0 ] && [ "$status" -ne 124 ]; check "batch 63 on 2 ranks fails (exit $status), no hang" 0 $?
grep -q "multiple of the 2 ranks" "$tmp/odd.out"; check "the error says why" 0 $?

finish
