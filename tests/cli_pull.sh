#!/usr/bin/env bash
# `clip pull` against a local HTTP server on 127.0.0.1 (never the
# internet): checksum-verified URLs, the cache, a transfer the server cuts
# off mid-file (resumed with a Range request), a .part left by an earlier
# run, a checksum mismatch (error, nothing cached), Hugging Face repos via
# HF_ENDPOINT, OpenAI names via CLIP_OPENAI_BASE_URL, and the errors.
set -u
bin=${CLIP_BIN:?CLIP_BIN must name the clip binary}
fixtures=${CLIP_FIXTURES:-${CLIP_FIXTURES_DEFAULT:-}}
if [ ! -f "$fixtures/MANIFEST.json" ]; then
  echo "FATAL: fixtures not found at '$fixtures' (set CLIP_FIXTURES)" >&2
  exit 1
fi
python=$(command -v python3 || true)
if [ -z "$python" ]; then
  echo "FATAL: python3 is needed for the local test server" >&2
  exit 1
fi
tmp=$(mktemp -d "${CLIP_TEST_TMP:-${TMPDIR:-/tmp}}/cli_pull.XXXXXX" 2>/dev/null || mktemp -d)
server_pid=
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
passed=0
failed=0
ok() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*" >&2; }
contains() { case "$3" in *"$2"*) ok ;; *) fail "$1: no '$2' in: $3" ;; esac; }

model="$fixtures/models/tiny-vit.safetensors"
sha=$(sha256sum "$model" | cut -d' ' -f1)
vitb32=40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af
root="$tmp/www"
mkdir -p "$root/files/$sha" "$root/clip/models/$vitb32" "$root/hf/openai/tiny-clip/resolve/main" "$root/bad/$vitb32"
ln -s "$model" "$root/files/$sha/tiny-vit.safetensors"
ln -s "$model" "$root/clip/models/$vitb32/ViT-B-32.pt"   # the wrong bytes for that checksum
ln -s "$model" "$root/bad/$vitb32/tiny-vit.safetensors"
ln -s "$fixtures/models/tiny-vit-hf/model.safetensors" "$root/hf/openai/tiny-clip/resolve/main/model.safetensors"
ln -s "$fixtures/models/tiny-vit-hf/config.json" "$root/hf/openai/tiny-clip/resolve/main/config.json"

# Range requests; /cut/ paths send half the file and close the connection
# the first time each is asked for; every request is logged.
cat > "$tmp/server.py" <<'PY'
import http.server, os, sys, threading
root, log_path, port_path = sys.argv[1], sys.argv[2], sys.argv[3]
cut_done = set()
lock = threading.Lock()
class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args): pass
    def do_GET(self):
        path, cut = self.path, False
        if path.startswith("/cut/"):
            path, cut = path[4:], True
        rng = self.headers.get("Range", "")
        with lock, open(log_path, "a") as log:
            log.write("%s %s\n" % (self.path, rng or "-"))
        full = os.path.join(root, path.lstrip("/"))
        if not os.path.isfile(full):
            self.send_error(404)
            return
        data = open(full, "rb").read()
        start = 0
        if rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", "bytes */%d" % len(data))
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with lock:
            first_cut = cut and self.path not in cut_done
            cut_done.add(self.path)
        if first_cut:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_path + ".tmp", "w") as f: f.write(str(server.server_address[1]))
os.rename(port_path + ".tmp", port_path)
server.serve_forever()
PY
"$python" "$tmp/server.py" "$root" "$tmp/requests.log" "$tmp/port" &
server_pid=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
if [ ! -s "$tmp/port" ]; then echo "FATAL: the test server did not start" >&2; exit 1; fi
base="http://127.0.0.1:$(cat "$tmp/port")"
requests() { grep -c "$1" "$tmp/requests.log" 2>/dev/null || true; }

# A URL with its checksum in the path: downloaded, verified, cached.
out=$("$bin" pull "$base/files/$sha/tiny-vit.safetensors" --cache "$tmp/c1" 2>"$tmp/err")
contains "url pull: path" "\"path\": \"$tmp/c1/tiny-vit.safetensors\"" "$out"
cmp -s "$model" "$tmp/c1/tiny-vit.safetensors" && ok || fail "url pull: bytes differ"
before=$(requests "/files/")
"$bin" pull "$base/files/$sha/tiny-vit.safetensors" --cache "$tmp/c1" >/dev/null 2>&1 || fail "cached pull failed"
[ "$(requests "/files/")" = "$before" ] && ok || fail "a cached file was downloaded again"

# The server closes mid-file: the retry resumes with a Range request.
out=$("$bin" pull "$base/cut/files/$sha/tiny-vit.safetensors" --cache "$tmp/c2" 2>"$tmp/err")
cmp -s "$model" "$tmp/c2/tiny-vit.safetensors" && ok || fail "interrupted pull: bytes differ ($(cat "$tmp/err"))"
grep -q "^/cut/files/.* bytes=[1-9][0-9]*-" "$tmp/requests.log" && ok || fail "no Range request after the cut"
[ ! -e "$tmp/c2/tiny-vit.safetensors.part" ] && ok || fail "interrupted pull: .part left behind"

# A .part from an earlier (killed) run is resumed, not restarted.
mkdir -p "$tmp/c3"
head -c 1048576 "$model" > "$tmp/c3/tiny-vit.safetensors.part"
"$bin" pull "$base/files/$sha/tiny-vit.safetensors" --cache "$tmp/c3" >/dev/null 2>"$tmp/err" || fail "resume: $(cat "$tmp/err")"
cmp -s "$model" "$tmp/c3/tiny-vit.safetensors" && ok || fail "resume: bytes differ"
grep -q "bytes=1048576-" "$tmp/requests.log" && ok || fail "resume did not ask for bytes=1048576-"

# Checksum mismatch, by name (OpenAI's table) and by URL: an error and
# nothing in the cache.
CLIP_OPENAI_BASE_URL="$base/clip/models" "$bin" pull ViT-B/32 --cache "$tmp/c4" >/dev/null 2>"$tmp/err" \
  && fail "a wrong checksum was accepted"
contains "mismatch: message" "SHA-256 mismatch" "$(cat "$tmp/err")"
[ -z "$(ls -A "$tmp/c4" 2>/dev/null)" ] && ok || fail "mismatch left files: $(ls -A "$tmp/c4")"
"$bin" pull "$base/bad/$vitb32/tiny-vit.safetensors" --cache "$tmp/c4" >/dev/null 2>"$tmp/err" && fail "bad URL checksum accepted"
contains "url mismatch: message" "mismatch" "$(cat "$tmp/err")"
[ -z "$(ls -A "$tmp/c4" 2>/dev/null)" ] && ok || fail "url mismatch left files"

# A Hugging Face repo (vocab.json / merges.txt absent: optional).
out=$(HF_ENDPOINT="$base/hf" "$bin" pull openai/tiny-clip --cache "$tmp/c5" 2>"$tmp/err")
contains "hf pull: folder" "\"path\": \"$tmp/c5/hf/openai/tiny-clip\"" "$out"
cmp -s "$fixtures/models/tiny-vit-hf/model.safetensors" "$tmp/c5/hf/openai/tiny-clip/model.safetensors" && ok \
  || fail "hf pull: weights differ ($(cat "$tmp/err"))"
[ -f "$tmp/c5/hf/openai/tiny-clip/config.json" ] && ok || fail "hf pull: no config.json"
# ... and usable by name wherever a model is resolved.
out=$(CLIP_CACHE="$tmp/c5" HF_ENDPOINT="$base/hf" "$bin" convert openai/tiny-clip "$tmp/hf.safetensors" 2>"$tmp/err")
contains "convert by repo name" '"tensors": ' "$out"

# Errors: 404, unknown names, offline.
"$bin" pull "$base/files/nothing.safetensors" --cache "$tmp/c6" >/dev/null 2>"$tmp/err" && fail "404 succeeded"
contains "404: message" "HTTP 404" "$(cat "$tmp/err")"
[ -z "$(ls -A "$tmp/c6" 2>/dev/null)" ] && ok || fail "404 left files"
"$bin" pull ViT-Z-99 >/dev/null 2>"$tmp/err" && fail "unknown name succeeded"
contains "unknown name: message" "ViT-B-32" "$(cat "$tmp/err")"
CLIP_OFFLINE=1 "$bin" pull "$base/files/$sha/tiny-vit.safetensors" --cache "$tmp/c7" >/dev/null 2>"$tmp/err" \
  && fail "offline pull succeeded"
contains "offline: message" "CLIP_OFFLINE" "$(cat "$tmp/err")"

echo "cli_pull: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
