#!/usr/bin/env bash
# Load test of `clip serve`: wrk against POST /v1/search on loopback
# (default 60 s, 32 connections, text queries cycling through a list),
# sampling the server's resident memory every 5 s. Prints wrk's report and
# one JSON summary line; fails if any request failed or memory kept
# growing. Not part of ctest (it takes a minute and wants the machine to
# itself). Usage: bash bench/load_search.sh [BUILD_DIR] [SECONDS] [CONNECTIONS]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
seconds=${2:-60}
connections=${3:-32}
fixtures=${CLIP_FIXTURES:-$here/../shared/fixtures}
bin=$build/clip
command -v wrk >/dev/null || { echo "wrk missing: bash scripts/install-deps.sh" >&2; exit 1; }
[ -x "$bin" ] || { echo "build first: $bin missing" >&2; exit 1; }
model=${CLIP_MODEL:-$fixtures/models/tiny-vit.safetensors}
vocab=$fixtures/vocab/bpe_simple_vocab_16e6.txt.gz
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
"$bin" index build -m "$model" --vocab "$vocab" --images "$fixtures/images" -o "$tmp/photos.idx" >/dev/null 2>&1
"$bin" serve -m "$model" --vocab "$vocab" --index "$tmp/photos.idx" --port 0 --http-threads 4 \
  > "$tmp/serve.out" 2> "$tmp/serve.err" &
pid=$!
for _ in $(seq 100); do grep -q "listening on" "$tmp/serve.out" && break; sleep 0.1; done
url=$(sed -n 's/^listening on \(http:[^ ]*\)\/$/\1/p' "$tmp/serve.out")
cat > "$tmp/search.lua" <<'LUA'
-- Text queries in rotation, so every request runs the text tower.
local queries = {"a photo of a cat", "an astronaut", "a rocket launch", "a cup of coffee",
                 "a man with a camera", "stars in the night sky", "a gradient", "a red square"}
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  n = n + 1
  return wrk.format(nil, "/v1/search", nil, '{"text": "' .. queries[n % #queries + 1] .. '", "k": 10}')
end
LUA
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"; }
# Warm up (first-touch allocations, page cache), then measure from here.
wrk -t2 -c"$connections" -d3s -s "$tmp/search.lua" "$url" >/dev/null
rss_start=$(rss)
samples=("$rss_start")
( for _ in $(seq $((seconds / 5))); do sleep 5; rss >> "$tmp/rss"; done ) &
sampler=$!
wrk -t2 -c"$connections" -d"${seconds}s" --timeout 10s --latency -s "$tmp/search.lua" "$url" | tee "$tmp/wrk.out"
wait "$sampler" || true
mapfile -t more < "$tmp/rss"
samples+=("${more[@]}")
rss_end=$(rss)
kill -TERM "$pid"
wait "$pid"
pid=
python3 - "$tmp/wrk.out" "$rss_start" "$rss_end" "${samples[*]}" "$seconds" "$connections" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
def ms(v, unit): return float(v) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
lat = {p: ms(*re.search(r"\s%s%%\s+([\d.]+)(us|ms|s)" % p, text).groups()) for p in ("50", "90", "99")}
reqs = int(re.search(r"(\d+) requests in", text).group(1))
non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", text)) else 0
errs = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", text))
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
samples = [int(x) for x in sys.argv[4].split()]
start, end = int(sys.argv[2]), int(sys.argv[3])
growth = (end - start) / 1024
summary = {"seconds": int(sys.argv[5]), "connections": int(sys.argv[6]), "requests": reqs, "rps": rps,
           "failed": non2xx + errs, "p50_ms": lat["50"], "p90_ms": lat["90"], "p99_ms": lat["99"],
           "rss_mb_start": round(start / 1024, 1), "rss_mb_end": round(end / 1024, 1),
           "rss_mb_max": round(max(samples) / 1024, 1)}
print(json.dumps(summary))
ok = summary["failed"] == 0 and growth < 8
sys.exit(0 if ok else 1)
PY
