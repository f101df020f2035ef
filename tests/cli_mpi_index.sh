#!/usr/bin/env bash
# Sharded embedding under mpirun (registered only in builds with MPI):
#  - `clip index build` on 2 and 3 ranks (3: an uneven split) writes the
#    index of a single-process build: same items in the same order, same
#    vectors, the corrupt image reported once and skipped, no journal left;
#  - ranks that see different sources refuse to build, and none hangs;
#  - a 2-rank build whose ranks are killed mid-way resumes on 3 ranks, and one
#    whose rank is SIGKILLed ends (no hang) and resumes in one process; both
#    end with the single-process index;
#  - `clip embed --list/--text-list` on 2 ranks writes the .npy and JSON
#    lines of one process.
# Each item's vector does not depend on which rank embeds it or on the other
# items of its batch (the kernels reduce every row in the same order), so
# the vectors are compared bit for bit; a difference below 1e-6 (float32
# noise) would still pass and be reported.
set -u
source "$(dirname "$0")/common.sh"
# Containers often forbid the cross-process memory copy (CMA) OpenMPI's
# shared-memory transport tries first for large messages: plain copies
# work everywhere.
export OMPI_MCA_btl_vader_single_copy_mechanism=none
mpiexec=${CLIP_MPIEXEC:-mpirun}
command -v python3 >/dev/null || { echo "FATAL: python3 missing" >&2; exit 1; }
export CLIP_VOCAB=$fixtures/vocab/bpe_simple_vocab_16e6.txt.gz
model=$fixtures/models/tiny-vit.safetensors
# Oversubscribed ranks yield instead of spinning; root is allowed in CI containers.
ranks() { local n=$1; shift; timeout 120 "$mpiexec" --oversubscribe --allow-run-as-root --mca mpi_yield_when_idle 1 -np "$n" "$@"; }
# same_index A B: "same" when both indexes export the same items in the same
# order and vectors equal within 1e-6 ("identical" when bit for bit).
same_index() {
  "$bin" index export "$1" --npy "$tmp/a.npy" --meta "$tmp/a.jsonl" && \
  "$bin" index export "$2" --npy "$tmp/b.npy" --meta "$tmp/b.jsonl" || { echo "export failed"; return; }
  python3 - "$tmp/a.npy" "$tmp/a.jsonl" "$tmp/b.npy" "$tmp/b.jsonl" <<'PY'
import json, struct, sys
def load(npy, meta):
    raw = open(npy, "rb").read()
    hlen = struct.unpack("<H", raw[8:10])[0]
    body = raw[10 + hlen:]
    items = [json.loads(l) for l in open(meta)]
    return items, struct.unpack("<%df" % (len(body) // 4), body), body
ia, va, ra = load(sys.argv[1], sys.argv[2])
ib, vb, rb = load(sys.argv[3], sys.argv[4])
if ia != ib: print("items differ: %d vs %d" % (len(ia), len(ib))); sys.exit()
if len(va) != len(vb): print("vector counts differ"); sys.exit()
worst = max((abs(x - y) for x, y in zip(va, vb)), default=0.0)
print("identical" if ra == rb else ("same" if worst <= 1e-6 else "vectors differ by %g" % worst))
PY
}
is_same() { case "$1" in identical|same) echo same ;; *) echo "$1" ;; esac; }

"$bin" --version | grep -q "MPI: yes"; check "clip was built with MPI" 0 $?

# ---- 1 process = 2 ranks = 3 ranks, with a corrupt image ----
photos=$tmp/photos
mkdir -p "$photos/jpeg"
cp "$fixtures"/images/*.png "$photos/"
cp "$fixtures"/images/*.jpg "$photos/jpeg/"
echo "not an image" > "$photos/broken.jpg"
n_images=$(ls "$fixtures"/images/*.png "$fixtures"/images/*.jpg | wc -l)
build=(index build -m "$model" --images "$photos" --batch 4 --threads 1)
"$bin" "${build[@]}" -o "$tmp/one.idx" >/dev/null 2>&1
check "1 process" 0 $?
for n in 2 3; do
  ranks "$n" "$bin" "${build[@]}" -o "$tmp/r$n.idx" >"$tmp/r$n.out" 2>"$tmp/r$n.err"
  check "$n ranks: exit" 0 $?
  check "$n ranks: one summary line from rank 0" 1 "$(grep -c "\"items\": $n_images, \"embedded\": $n_images, .*\"skipped\": 1, \"ranks\": $n" "$tmp/r$n.out")"
  check "$n ranks: the corrupt image reported once" 1 "$(grep -c 'broken.jpg' "$tmp/r$n.err")"
  check "$n ranks: a progress line per rank" "$n" "$(grep -c '^\[rank [0-9]/'"$n"'\] indexing .* done' "$tmp/r$n.err")"
  check "$n ranks: no journal left" 0 "$(ls "$tmp" | grep -c "r$n.idx.journal")"
  result=$(same_index "$tmp/one.idx" "$tmp/r$n.idx")
  echo "$n ranks vs 1 process: $result"
  check "$n ranks: the index of 1 process" same "$(is_same "$result")"
done

# ---- --update and texts on 2 ranks ----
touch -d '2001-01-01' "$photos/chelsea.png"
cp "$fixtures/images/tiny_7x5.png" "$photos/jpeg/added.png"
"$bin" "${build[@]}" -o "$tmp/one.idx" --update >/dev/null 2>&1
ranks 2 "$bin" "${build[@]}" -o "$tmp/r2.idx" --update >"$tmp/up.out" 2>/dev/null
check "--update on 2 ranks" 1 "$(grep -c "\"embedded\": 2, \"unchanged\": $((n_images - 1)), \"resumed\": 0" "$tmp/up.out")"
check "--update on 2 ranks: the index of 1 process" same "$(is_same "$(same_index "$tmp/one.idx" "$tmp/r2.idx")")"
printf 'a photo of a cat\na rocket\na cup of coffee\nan astronaut\na camera man\n' > "$tmp/captions.txt"
"$bin" index build -m "$model" --texts "$tmp/captions.txt" -o "$tmp/cap1.idx" --threads 1 >/dev/null 2>&1
ranks 3 "$bin" index build -m "$model" --texts "$tmp/captions.txt" -o "$tmp/cap3.idx" --threads 1 >/dev/null 2>&1
check "captions on 3 ranks" 0 $?
check "captions on 3 ranks: the index of 1 process" same "$(is_same "$(same_index "$tmp/cap1.idx" "$tmp/cap3.idx")")"

# ---- ranks that see different files stop together ----
mkdir -p "$tmp/view0" "$tmp/view1"
cp "$fixtures/images/chelsea.png" "$tmp/view0/"
cp "$fixtures/images/gray16.png" "$tmp/view1/"
ranks 2 bash -c '"$0" index build -m "$1" --images "$2/view$OMPI_COMM_WORLD_RANK" -o "$2/views.idx" --threads 1' \
  "$bin" "$model" "$tmp" >/dev/null 2>"$tmp/views.err"
status=$?
[ "$status" -ne 0 ] && [ "$status" -ne 124 ]; check "different sources fail (exit $status), no hang" 0 $?
grep -q "see different sources" "$tmp/views.err"; check "the error says why" 0 $?
[ ! -e "$tmp/views.idx" ]; check "no index written" 0 $?

# ---- interrupted builds resume, on other rank counts ----
# A slower model (448 px, 6 layers: ~50 ms an image) and 64 images, so the
# builds can be stopped mid-way; the reference is one uninterrupted process.
cat > "$tmp/arch.json" <<'JSON'
{"embed_dim": 64, "image_resolution": 448, "vision_layers": 6, "vision_width": 256, "vision_patch_size": 32,
 "vision_heads": 4, "context_length": 16, "vocab_size": 49408, "text_width": 32, "text_heads": 2, "text_layers": 1}
JSON
"$bin" init --config "$tmp/arch.json" --seed 5 -o "$tmp/slow.safetensors" >/dev/null
many=$tmp/many
for i in 1 2 3 4; do mkdir -p "$many/c$i"; cp "$fixtures"/images/*.png "$fixtures"/images/*.jpg "$many/c$i/"; done
n_many=$((4 * n_images))
slow=(index build -m "$tmp/slow.safetensors" --images "$many" --batch 2 --threads 1)
"$bin" "${slow[@]}" -o "$tmp/ref.idx" >/dev/null 2>&1
check "reference build" 0 $?
# journaled NAME: items in the journals of index NAME (each record: a path
# and 64 floats, so count the record magic).
journaled() { cat "$1".journal* 2>/dev/null | grep -a -o 'JREC' | wc -l; }
# wait_for_records IDX N: until the journals hold N records (20 s at most).
wait_for_records() { for _ in $(seq 1 1000); do [ "$(journaled "$1")" -ge "$2" ] && return 0; sleep 0.02; done; return 1; }
# In the background, started by timeout (so a hang ends as exit 124):
# $! is timeout, its child mpirun, whose children are the ranks.
background_ranks() { timeout 120 "$mpiexec" --oversubscribe --allow-run-as-root --mca mpi_yield_when_idle 1 "$@" & }

# The ranks are frozen (SIGSTOP) the moment the journals show progress, so
# the kill lands mid-build however fast the machine is: the build takes well
# under a second, and OpenMPI may hold a SIGTERM to mpirun back that long.
background_ranks -np 2 "$bin" "${slow[@]}" -o "$tmp/term.idx" >/dev/null 2>&1
job=$!
wait_for_records "$tmp/term.idx" 4
mpirun_pid=$(pgrep -P "$job" | head -n 1)
pkill -STOP -P "$mpirun_pid"
pkill -KILL -P "$mpirun_pid"
wait "$job"
status=$?
[ "$status" -ne 0 ] && [ "$status" -ne 124 ]; check "killed ranks end mpirun (exit $status)" 0 $?
[ ! -e "$tmp/term.idx" ]; check "stopped before the index was written" 0 $?
check "both ranks journaled" 2 "$(ls "$tmp" | grep -c 'term.idx.journal.[01]$')"
ranks 3 "$bin" "${slow[@]}" -o "$tmp/term.idx" >"$tmp/term.out" 2>/dev/null
check "resumed on 3 ranks" 0 $?
resumed=$(grep -o '"resumed": [0-9]*' "$tmp/term.out" | grep -o '[0-9]*$')
[ "${resumed:-0}" -ge 4 ] && [ "${resumed:-0}" -lt "$n_many" ]; check "3 ranks took the 2 ranks' journals ($resumed resumed)" 0 $?
check "no journal left" 0 "$(ls "$tmp" | grep -c 'term.idx.journal')"
check "2 ranks stopped + 3 ranks = 1 process" same "$(is_same "$(same_index "$tmp/ref.idx" "$tmp/term.idx")")"

background_ranks -np 2 "$bin" "${slow[@]}" -o "$tmp/kill.idx" >/dev/null 2>&1
job=$!
wait_for_records "$tmp/kill.idx" 4
mpirun_pid=$(pgrep -P "$job" | head -n 1)
victim=$(pgrep -P "$mpirun_pid" | tail -n 1)
pkill -STOP -P "$mpirun_pid"
kill -KILL "$victim" 2>/dev/null
pkill -CONT -P "$mpirun_pid"
wait "$job"
status=$?
[ "$status" -ne 0 ] && [ "$status" -ne 124 ]; check "a killed rank ends the survivors (exit $status, 124 = hang)" 0 $?
[ ! -e "$tmp/kill.idx" ]; check "killed before the index was written" 0 $?
"$bin" "${slow[@]}" -o "$tmp/kill.idx" >"$tmp/kill.out" 2>/dev/null
check "resumed in 1 process" 0 $?
resumed=$(grep -o '"resumed": [0-9]*' "$tmp/kill.out" | grep -o '[0-9]*$')
[ "${resumed:-0}" -ge 4 ]; check "1 process took the ranks' journals ($resumed resumed)" 0 $?
check "no journal left" 0 "$(ls "$tmp" | grep -c 'kill.idx.journal')"
check "2 ranks killed + 1 process = 1 process" same "$(is_same "$(same_index "$tmp/ref.idx" "$tmp/kill.idx")")"

# ---- clip embed --list on 2 ranks = 1 process ----
find "$photos" -type f ! -name broken.jpg | sort > "$tmp/list.txt"
embed=(embed -m "$model" --list "$tmp/list.txt" --text-list "$tmp/captions.txt" --threads 1 --batch 4)
"$bin" "${embed[@]}" -o "$tmp/e1.npy" >/dev/null 2>&1
check "embed --list, 1 process" 0 $?
"$bin" "${embed[@]}" -o "$tmp/e1.jsonl" >/dev/null 2>&1
ranks 2 "$bin" "${embed[@]}" -o "$tmp/e2.npy" >"$tmp/e2.out" 2>/dev/null
check "embed --list, 2 ranks" 0 $?
rows=$(( $(wc -l < "$tmp/list.txt") + 5 ))
check "embed summary" 1 "$(grep -c "\"inputs\": $rows, \"rows\": $rows, \"failed\": 0, \"ranks\": 2" "$tmp/e2.out")"
cmp -s "$tmp/e1.npy" "$tmp/e2.npy"; check "embed .npy: 2 ranks = 1 process, bit for bit" 0 $?
ranks 2 "$bin" "${embed[@]}" -o "$tmp/e2.jsonl" >/dev/null 2>&1
cmp -s "$tmp/e1.jsonl" "$tmp/e2.jsonl"; check "embed JSON lines: 2 ranks = 1 process" 0 $?

finish
