#!/usr/bin/env bash
# `clip index` end to end on the fixture images: search scores equal the
# cosines `clip similarity` gives (logits / logit_scale, compared
# numerically) and rank in the same order, for text-to-image,
# image-to-image and image-to-text; --update, skipped files, the model
# check, f16, export, a damaged index; then the HTTP API (http_api.sh)
# and the web page in headless Chromium (e2e_web.sh) against an index
# built here. Fails (exit 1) on any mismatch; never skips.
set -u
bin=${CLIP_BIN:?CLIP_BIN must name the clip binary}
fixtures=${CLIP_FIXTURES:-${CLIP_FIXTURES_DEFAULT:-}}
if [ ! -f "$fixtures/MANIFEST.json" ]; then
  echo "FATAL: fixtures not found at '$fixtures' (set CLIP_FIXTURES)" >&2
  exit 1
fi
command -v python3 >/dev/null || { echo "FATAL: python3 missing (bash scripts/install-deps.sh)" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
vocab="$fixtures/vocab/bpe_simple_vocab_16e6.txt.gz"
model="$fixtures/models/tiny-vit.safetensors"
other="$fixtures/models/tiny-rn.safetensors"
mkdir -p "${CLIP_TEST_TMP:-/tmp}"
tmp=$(mktemp -d "${CLIP_TEST_TMP:-/tmp}/cli_index.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

ok() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*" >&2; }
check() { # check NAME EXPECTED ACTUAL
  if [ "$2" == "$3" ]; then ok; else fail "$1: expected '$2', got '$3'"; fi
}
contains() { # contains NAME NEEDLE HAYSTACK
  case "$3" in *"$2"*) ok ;; *) fail "$1: '$2' not in: $3" ;; esac
}

# Photos: the fixture images (some in a subfolder), one unreadable file.
photos="$tmp/photos"
mkdir -p "$photos/jpeg"
cp "$fixtures"/images/*.png "$photos/"
cp "$fixtures"/images/*.jpg "$photos/jpeg/"
echo "not an image" > "$photos/broken.png"
n_images=$(ls "$fixtures"/images/*.png "$fixtures"/images/*.jpg | wc -l)

idx="$tmp/photos.idx"
out=$("$bin" index build -m "$model" --vocab "$vocab" --images "$photos" -o "$idx" --batch 4 2>"$tmp/build.err")
check "build exit" 0 $?
contains "build summary" "\"items\": $n_images" "$out"
contains "build skipped" "\"skipped\": 1" "$out"
contains "skipped file listed" "broken.png" "$(cat "$tmp/build.err")"
[ ! -e "$idx.journal" ] && ok || fail "journal left after a complete build"
info=$("$bin" index info "$idx")
contains "info count" "\"count\": $n_images" "$info"
contains "info kind" "\"kind\": \"images\"" "$info"

# Cosines from `clip similarity` for every image against each query text.
images=()
while IFS= read -r f; do images+=(--image "$f"); done < <(find "$photos" -name '*.png' -o -name '*.jpg' | grep -v broken | sort)
scale=$("$bin" info -m "$model" | python3 -c 'import json,sys; print(json.load(sys.stdin)["logit_scale"])')

compare_ranking() { # compare_ranking NAME SEARCH_JSONL SIMILARITY_JSONL MODE
  python3 - "$2" "$3" "$scale" "$4" <<'PY'
import json, sys
search = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
sim = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
scale, mode = float(sys.argv[3]), sys.argv[4]
import os
# mode "text": one text query against every image; "caption": one image against every caption.
if mode == "text":
    ref = {os.path.realpath(s["image"]): s["logits"][0] / scale for s in sim}
    got = {r["path"]: r["score"] for r in search}
else:
    ref = {t: l / scale for t, l in zip(sim[0]["texts"], sim[0]["logits"])}
    got = {r["text"]: r["score"] for r in search}
errors = []
if set(ref) != set(got): errors.append("items differ: %s vs %s" % (sorted(ref), sorted(got)))
worst = max((abs(got[k] - ref[k]) for k in ref if k in got), default=0)
if worst > 2e-5: errors.append("max |score - cosine| = %g" % worst)
ranks = [r["rank"] for r in search]
if ranks != list(range(1, len(search) + 1)): errors.append("ranks not 1..n")
scores = [r["score"] for r in search]
if any(a < b for a, b in zip(scores, scores[1:])): errors.append("scores not descending")
order = sorted(ref, key=lambda k: -ref[k])
# Neighbours closer than float noise may swap; everything else keeps its place.
for i, (a, b) in enumerate(zip(order, [r.get("path", r.get("text")) for r in search])):
    if a != b and abs(ref[a] - ref[b]) > 2e-5: errors.append("rank %d: %s vs %s" % (i + 1, b, a))
print("; ".join(errors) if errors else "ok")
PY
}

for text in "a photo of a cat" "an astronaut in space" "a cup of coffee"; do
  "$bin" index search "$idx" -m "$model" --vocab "$vocab" --text "$text" -k 100 > "$tmp/search.jsonl"
  check "search exit ($text)" 0 $?
  check "search returns every image ($text)" "$n_images" "$(wc -l < "$tmp/search.jsonl")"
  "$bin" similarity -m "$model" --vocab "$vocab" "${images[@]}" --text "$text" > "$tmp/sim.jsonl"
  check "text-to-image = clip similarity ($text)" ok "$(compare_ranking x "$tmp/search.jsonl" "$tmp/sim.jsonl" text)"
done

# Image-to-image: every image is its own nearest neighbour.
for f in "$photos/chelsea.png" "$photos/jpeg/coffee_progressive.jpg"; do
  top=$("$bin" index search "$idx" -m "$model" --vocab "$vocab" --image "$f" -k 1)
  check "image query finds itself" "$(realpath "$f") 1.0000" \
    "$(echo "$top" | python3 -c 'import json,sys; r=json.loads(sys.stdin.readline()); print(r["path"], "%.4f" % r["score"])')"
done
# Several queries at once keep their order and their own results.
two=$("$bin" index search "$idx" -m "$model" --vocab "$vocab" --text cat --image "$photos/chelsea.png" -k 2 | wc -l)
check "two queries, k=2" 4 "$two"

# Image-to-text over a caption index.
printf 'a photo of a cat\na rocket on a launch pad\na cup of coffee\n\nan astronaut\na gray camera man\n' > "$tmp/captions.txt"
"$bin" index build -m "$model" --vocab "$vocab" --texts "$tmp/captions.txt" -o "$tmp/captions.idx" >/dev/null 2>&1
check "caption build" 0 $?
"$bin" index search "$tmp/captions.idx" -m "$model" --vocab "$vocab" --image "$photos/chelsea.png" -k 10 > "$tmp/cap.jsonl"
"$bin" similarity -m "$model" --vocab "$vocab" --image "$photos/chelsea.png" --text "a photo of a cat" \
  --text "a rocket on a launch pad" --text "a cup of coffee" --text "an astronaut" --text "a gray camera man" > "$tmp/capsim.jsonl"
check "image-to-text = clip similarity" ok "$(compare_ranking x "$tmp/cap.jsonl" "$tmp/capsim.jsonl" caption)"

# --update: unchanged, then one touched, one removed, one added.
out=$("$bin" index build -m "$model" --vocab "$vocab" --images "$photos" -o "$idx" --update 2>/dev/null)
contains "update no-op" "\"embedded\": 0, \"unchanged\": $n_images" "$out"
touch -d '2001-01-01' "$photos/chelsea.png"
rm "$photos/gray16.png"
cp "$fixtures/images/tiny_7x5.png" "$photos/jpeg/added.png"
out=$("$bin" index build -m "$model" --vocab "$vocab" --images "$photos" -o "$idx" --update 2>/dev/null)
contains "update changes" "\"embedded\": 2, \"unchanged\": $((n_images - 2)), \"resumed\": 0, \"removed\": 1" "$out"

# A list file instead of a folder; a missing entry is reported, not fatal.
printf '%s\n%s\n%s\n' "$photos/chelsea.png" "$photos/missing.png" "$photos/jpeg/hubble_large.jpg" > "$tmp/list.txt"
out=$("$bin" index build -m "$model" --vocab "$vocab" --images "$tmp/list.txt" -o "$tmp/list.idx" 2>"$tmp/list.err")
contains "list build" "\"items\": 2" "$out"
contains "missing listed" "missing.png" "$(cat "$tmp/list.err")"

# Another model is refused with a clear message.
err=$("$bin" index search "$idx" -m "$other" --vocab "$vocab" --text cat 2>&1 >/dev/null)
check "other model exit" 1 $?
contains "other model message" "built with another model" "$err"

# f16: half the vector bytes, same neighbours within half precision.
"$bin" index build -m "$model" --vocab "$vocab" --images "$photos" -o "$tmp/half.idx" --fp16 >/dev/null 2>&1
contains "f16 dtype" "\"dtype\": \"f16\"" "$("$bin" index info "$tmp/half.idx")"
"$bin" index search "$idx" -m "$model" --vocab "$vocab" --text "a cat" -k 100 > "$tmp/f32.jsonl"
"$bin" index search "$tmp/half.idx" -m "$model" --vocab "$vocab" --text "a cat" -k 100 > "$tmp/f16.jsonl"
check "f16 scores" ok "$(python3 - "$tmp/f32.jsonl" "$tmp/f16.jsonl" <<'PY'
import json, sys
a = {json.loads(l)["path"]: json.loads(l)["score"] for l in open(sys.argv[1])}
b = {json.loads(l)["path"]: json.loads(l)["score"] for l in open(sys.argv[2])}
worst = max(abs(a[k] - b[k]) for k in a) if set(a) == set(b) else 1
print("ok" if worst < 2e-3 else "max diff %g" % worst)
PY
)"

# Export: .npy rows and JSON lines in id order, matching the index.
"$bin" index export "$idx" --npy "$tmp/e.npy" --meta "$tmp/e.jsonl"
check "export exit" 0 $?
check "export contents" ok "$(python3 - "$tmp/e.npy" "$tmp/e.jsonl" "$n_images" <<'PY'
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
assert raw[:6] == b"\x93NUMPY"
hlen = struct.unpack("<H", raw[8:10])[0]
header = raw[10:10 + hlen].decode()
meta = [json.loads(l) for l in open(sys.argv[2])]
n = int(sys.argv[3])
ok = "'<f4'" in header and ("(%d, 64)" % n) in header and len(meta) == n and [m["id"] for m in meta] == list(range(n))
data = struct.unpack("<%df" % (n * 64), raw[10 + hlen:])
norms = [sum(x * x for x in data[i * 64:(i + 1) * 64]) for i in range(n)]
ok = ok and all(abs(v - 1) < 1e-4 for v in norms) and all("path" in m and "mtime_ns" in m for m in meta)
print("ok" if ok else "bad export: %s %d" % (header, len(meta)))
PY
)"

# A damaged index is refused, not read.
head -c 300 "$idx" > "$tmp/cut.idx"
err=$("$bin" index search "$tmp/cut.idx" -m "$model" --vocab "$vocab" --text cat 2>&1)
check "truncated index exit" 1 $?
contains "truncated index message" "not a valid index file" "$err"
err=$("$bin" index search "$tmp/nothere.idx" -m "$model" --vocab "$vocab" --text cat 2>&1)
contains "missing index message" "No such file" "$err"
"$bin" index build -m "$model" --images "$photos" 2>/dev/null
check "usage error" 2 $?

# The page compiled into the binary is the current web/index.html.
if bash "$here/../web/embed.sh" "$tmp/web_page.c" && cmp -s "$tmp/web_page.c" "$here/../src/server/web_page.c"; then ok
else fail "src/server/web_page.c is stale: run bash web/embed.sh"; fi

# The service and the page, against this index.
CLIP_INDEX_UNDER_TEST="$idx" bash "$here/http_api.sh"
check "http_api.sh" 0 $?
CLIP_INDEX_UNDER_TEST="$idx" bash "$here/e2e_web.sh"
check "e2e_web.sh" 0 $?

echo "cli_index: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
