#!/usr/bin/env bash
# clip.c's training step against PyTorch's on the same model files, side by
# side: bench/bench_train and bench/train_step_pytorch.py, interleaved (one
# configuration of one after the same of the other, the order alternating
# from run to run), same batch, same captions, 1 thread, then the median of
# --runs runs and clip.c's ratio to PyTorch. See docs/training.md, "Speed".
#
#   bash bench/compare_train.sh [--runs 3] [--configs LIST] [--quick] [--threads 1] [--precision f32|bf16]
#                               [--text-len 77] [--dir /tmp/clip-bench] [--build build-perf]
# --precision bf16 runs clip.c in mixed precision (bf16 products) against
# PyTorch in float32, as the issue's mixed-precision target compares them.
#   bash bench/compare_train.sh --table-only [--configs LIST] [--dir DIR]   # the last run's table again
#
# LIST: comma-separated MODEL:BATCH[:ITERS[:WARMUP]], MODEL one of bench_train's
# (ViT-B-32, RN50, small: a 6-layer ViT-S/32-sized CLIP of 29M parameters) or
# demo (examples/fashion-mnist-vit.json, created here with `clip init`).
# Default: ViT-B-32:32:1:1,small:32:3:1,small:64:3:1,demo:256:10:2 (a
# ViT-B/32 step takes ~15 s of CPU; --quick leaves it out).
#
# Needs: a build of bench_train and clip_cli, python3-torch (Debian; /usr/bin/python3).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
runs=3 threads=1 text_len=77 dir=/tmp/clip-bench build=$root/build-perf table_only=0 precision=f32
configs=ViT-B-32:32:1:1,small:32:3:1,small:64:3:1,demo:256:10:2
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --configs) configs=$2; shift 2 ;;
    --quick) configs=small:32:3:1,small:64:3:1,demo:256:10:2; shift ;;
    --threads) threads=$2; shift 2 ;;
    --text-len) text_len=$2; shift 2 ;;
    --precision) precision=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --table-only) table_only=1; shift ;;
    *) echo "compare_train.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
python=/usr/bin/python3
[ -x "$python" ] || python=python3
out=$dir/compare-train   # the raw outputs stay here for a second look
if ((!table_only)); then
bench=$build/bench/bench_train clip=$build/clip
[ -x "$bench" ] || { echo "compare_train.sh: build bench_train first ($bench)" >&2; exit 1; }
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads MKL_NUM_THREADS=$threads

mkdir -p "$dir"
if [[ ",$configs" == *,demo:* ]] && [ ! -f "$dir/demo-seed0.safetensors" ]; then
  [ -x "$clip" ] || { echo "compare_train.sh: build clip_cli first ($clip)" >&2; exit 1; }
  "$clip" init --config "$root/examples/fashion-mnist-vit.json" --seed 0 -o "$dir/demo-seed0.safetensors" >/dev/null
fi
rm -rf "$out"
mkdir -p "$out"

IFS=, read -r -a list <<<"$configs"
run_clip() {  # model batch iters warmup file
  "$bench" --dir "$dir" --models "$1" --batch "$2" --iters "$3" --warmup "$4" --threads "$threads" \
    --text-len "$text_len" --precision "$precision" >"$5" 2>"$5.err"
  sed -n '/^[^ ]/p;/forward+backward:/p;/samples\/s/p;/peak RSS/p' "$5" | sed 's/^/  clip.c  | /'
}
run_torch() {
  "$python" "$here/train_step_pytorch.py" --model "$dir/$1-seed0.safetensors" --name "$1" --batch "$2" \
    --iters "$3" --warmup "$4" --threads "$threads" --text-len "$text_len" >"$5" 2>"$5.err"
  sed 's/^/  pytorch | /' "$5.err" | grep -v '^  pytorch | $' || true
}
for ((r = 1; r <= runs; r++)); do
  for c in "${list[@]}"; do
    IFS=: read -r model batch iters warmup <<<"$c"
    iters=${iters:-3} warmup=${warmup:-1}
    echo "== run $r/$runs: $model, batch $batch ($warmup warm-up + $iters timed steps each)"
    f=$out/$model-b$batch-r$r
    if ((r % 2)); then
      run_clip "$model" "$batch" "$iters" "$warmup" "$f.clip"
      run_torch "$model" "$batch" "$iters" "$warmup" "$f.torch"
    else
      run_torch "$model" "$batch" "$iters" "$warmup" "$f.torch"
      run_clip "$model" "$batch" "$iters" "$warmup" "$f.clip"
    fi
  done
done
fi

echo
echo "== samples/s of a whole training step, median of the runs, $threads thread(s); clip.c ($precision) against"
echo "   PyTorch (float32): clip.c's ratio"
echo "   (paired: the median of the runs' own ratios, each clip.c run against the PyTorch run beside it)"
"$python" - "$out" "$configs" <<'EOF'
import glob, json, re, statistics, sys
out, configs = sys.argv[1], sys.argv[2].split(",")
def clip_result(path):
    text = open(path).read()
    m = re.search(r"^(\S+): ([\d.]+)M parameters, batch (\d+).*?captions of (\d+) tokens", text, re.M)
    s = re.search(r"([\d.]+) samples/s by cpu time for a whole step \(([\d.]+) by wall", text)
    rss = re.search(r"peak RSS (\d+) MiB", text)
    return {"params_m": float(m[2]), "text_len": int(m[4]), "samples_per_s_cpu": float(s[1]),
            "fb_samples_per_s_wall": float(s[2]), "peak_rss_mib": float(rss[1])}
med = statistics.median
print(f"{'model':<9} {'params':>7} {'batch':>5} {'tokens':>6} | {'clip.c':>8} {'pytorch':>8} {'ratio':>6} "
      f"{'paired':>6} | {'clip.c':>8} {'pytorch':>8} {'ratio':>6} | {'RSS MiB':>11}")
print(f"{'':<9} {'':>7} {'':>5} {'':>6} | {'by CPU time (whole step)':^31} | {'by wall (fwd+bwd)':^24} | {'clip/torch':>11}")
for c in configs:
    model, batch = c.split(":")[:2]
    runs = sorted({int(p.rsplit("-r", 1)[1].split(".")[0]) for p in glob.glob(f"{out}/{model}-b{batch}-r*.clip")})
    try:
        cs = [clip_result(f"{out}/{model}-b{batch}-r{r}.clip") for r in runs]
        ts = [json.loads(open(f"{out}/{model}-b{batch}-r{r}.torch").read().splitlines()[-1]) for r in runs]
    except (OSError, TypeError, IndexError, ValueError):
        cs = ts = []
    if not cs or not ts:
        print(f"{model:<9} batch {batch}: missing results (see {out})")
        continue
    g = lambda rs, k: med(r[k] for r in rs)
    cc, tc = g(cs, "samples_per_s_cpu"), g(ts, "samples_per_s_cpu")
    cw, tw = g(cs, "fb_samples_per_s_wall"), g(ts, "fb_samples_per_s_wall")
    print(f"{model:<9} {cs[0]['params_m']:>6.1f}M {batch:>5} {cs[0]['text_len']:>6} | {cc:>8.2f} {tc:>8.2f} "
          f"{cc / tc:>5.2f}x {med(c['samples_per_s_cpu'] / t['samples_per_s_cpu'] for c, t in zip(cs, ts)):>5.2f}x "
          f"| {cw:>8.2f} {tw:>8.2f} {cw / tw:>5.2f}x | "
          f"{g(cs, 'peak_rss_mib'):>5.0f}/{g(ts, 'peak_rss_mib'):<5.0f}")
    spread = lambda rs: "/".join(f"{r['samples_per_s_cpu']:.2f}" for r in rs)
    print(f"{'':<9} runs by CPU time: clip.c {spread(cs)}; pytorch {spread(ts)}")
EOF
