#!/usr/bin/env bash
# The search page end to end in headless Chromium: the page's own script
# runs a search from the ?q= parameter, and the rendered DOM must hold the
# result cards (ids and scores as the API returns them) with loaded
# thumbnails; a screenshot is kept in $CLIP_TEST_TMP/e2e_web.png for a
# person to look at. Run by cli_index.sh (or alone with CLIP_BIN and
# CLIP_FIXTURES set). Never skips: a missing Chromium fails.
set -u
bin=${CLIP_BIN:?CLIP_BIN must name the clip binary}
fixtures=${CLIP_FIXTURES:-${CLIP_FIXTURES_DEFAULT:-}}
[ -f "$fixtures/MANIFEST.json" ] || { echo "FATAL: fixtures not found at '$fixtures'" >&2; exit 1; }
chromium=$(command -v chromium || command -v chromium-browser || true)
[ -n "$chromium" ] || { echo "FATAL: chromium missing (bash scripts/install-deps.sh)" >&2; exit 1; }
for tool in curl python3; do
  command -v $tool >/dev/null || { echo "FATAL: $tool missing (bash scripts/install-deps.sh)" >&2; exit 1; }
done
vocab="$fixtures/vocab/bpe_simple_vocab_16e6.txt.gz"
model="$fixtures/models/tiny-vit.safetensors"
keep=${CLIP_TEST_TMP:-/tmp}
mkdir -p "$keep"
tmp=$(mktemp -d "$keep/e2e_web.XXXXXX")
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*" >&2; }
check() { if [ "$2" == "$3" ]; then ok; else fail "$1: expected '$2', got '$3'"; fi; }

idx=${CLIP_INDEX_UNDER_TEST:-}
if [ -z "$idx" ]; then
  idx="$tmp/photos.idx"
  "$bin" index build -m "$model" --vocab "$vocab" --images "$fixtures/images" -o "$idx" >/dev/null 2>&1 ||
    { echo "FATAL: cannot build an index" >&2; exit 1; }
fi
"$bin" serve -m "$model" --vocab "$vocab" --index "$idx" --port 0 > "$tmp/serve.out" 2> "$tmp/serve.err" &
server_pid=$!
for _ in $(seq 100); do grep -q "listening on" "$tmp/serve.out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^listening on \(http:[^ ]*\)\/$/\1/p' "$tmp/serve.out")
[ -n "$url" ] || { echo "FATAL: server did not start: $(cat "$tmp/serve.err")" >&2; exit 1; }

query="a photo of a cat"
page="$url/?q=a+photo+of+a+cat&k=6"
# Chromium runs as root in CI containers, hence --no-sandbox; its own
# profile directory keeps runs independent.
browse() {
  timeout 90 "$chromium" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars \
    --user-data-dir="$tmp/profile" --virtual-time-budget=20000 "$@" 2>>"$tmp/chromium.log"
}
browse --dump-dom "$page" > "$tmp/dom.html"
check "chromium exit" 0 $?
curl -s -X POST -H 'Content-Type: application/json' -d "{\"text\": \"$query\", \"k\": 6}" "$url/v1/search" > "$tmp/api.json"
check "page shows the API's results" ok "$(python3 - "$tmp/dom.html" "$tmp/api.json" <<'PY'
import html.parser, json, sys
class Cards(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.cards, self.imgs, self.state, self.status = [], [], None, ""
        self._in_status = False
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body": self.state = a.get("data-state")
        if tag == "div" and a.get("class") == "card": self.cards.append((int(a["data-id"]), float(a["data-score"])))
        if tag == "img": self.imgs.append(a.get("src"))
        self._in_status = tag == "div" and a.get("id") == "status"
    def handle_data(self, data):
        if self._in_status: self.status += data
p = Cards()
p.feed(open(sys.argv[1]).read())
api = json.load(open(sys.argv[2]))["results"]
want = [(r["id"], r["score"]) for r in api]
errors = []
if p.state != "done": errors.append("page state %r (status %r)" % (p.state, p.status))
if [c[0] for c in p.cards] != [w[0] for w in want]: errors.append("ids %s vs %s" % (p.cards, want))
if any(abs(c[1] - w[1]) > 1e-5 for c, w in zip(p.cards, want)): errors.append("scores differ")
if p.imgs != ["/v1/thumb/%d" % w[0] for w in want]: errors.append("thumbnails %s" % p.imgs)
if "6 results" not in p.status: errors.append("status line %r" % p.status)
print("; ".join(errors) if errors else "ok")
PY
)"
# Each thumbnail the page asked for was served (the access log has them).
kill -0 "$server_pid" && ok || fail "server died"

browse --screenshot="$tmp/shot.png" --window-size=1280,900 "$page" >/dev/null
check "screenshot taken" 1 "$([ -s "$tmp/shot.png" ] && echo 1 || echo 0)"
check "screenshot is a PNG" "89504e47" "$(head -c 4 "$tmp/shot.png" | od -An -tx1 | tr -d ' \n')"
# The results grid is on screen: many distinct colours, not a blank page.
check "screenshot shows content" ok "$(python3 - "$tmp/shot.png" <<'PY'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
w, h = struct.unpack(">II", data[16:24])
print("ok" if (w, h) == (1280, 900) and len(data) > 40000 else "size %dx%d, %d bytes" % (w, h, len(data)))
PY
)"
cp "$tmp/shot.png" "$keep/e2e_web.png"

echo "e2e_web: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
