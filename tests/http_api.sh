#!/usr/bin/env bash
# `clip serve` over real HTTP on 127.0.0.1 with curl: every endpoint with
# results checked against the CLI (same embeddings, scores and
# probabilities), then malformed requests (truncated JSON, wrong types,
# oversized and bad multipart bodies, bad ids, wrong methods) that must get
# a 4xx JSON error while the server keeps serving, concurrent requests,
# and a graceful stop on SIGTERM. Run by cli_index.sh (or alone with
# CLIP_BIN and CLIP_FIXTURES set). Never skips: a missing tool fails.
set -u
bin=${CLIP_BIN:?CLIP_BIN must name the clip binary}
fixtures=${CLIP_FIXTURES:-${CLIP_FIXTURES_DEFAULT:-}}
[ -f "$fixtures/MANIFEST.json" ] || { echo "FATAL: fixtures not found at '$fixtures'" >&2; exit 1; }
for tool in curl python3; do
  command -v $tool >/dev/null || { echo "FATAL: $tool missing (bash scripts/install-deps.sh)" >&2; exit 1; }
done
vocab="$fixtures/vocab/bpe_simple_vocab_16e6.txt.gz"
model="$fixtures/models/tiny-vit.safetensors"
images="$fixtures/images"
mkdir -p "${CLIP_TEST_TMP:-/tmp}"
tmp=$(mktemp -d "${CLIP_TEST_TMP:-/tmp}/http_api.XXXXXX")
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
contains() { case "$3" in *"$2"*) ok ;; *) fail "$1: '$2' not in: ${3:0:400}" ;; esac; }

idx=${CLIP_INDEX_UNDER_TEST:-}
if [ -z "$idx" ]; then
  idx="$tmp/photos.idx"
  "$bin" index build -m "$model" --vocab "$vocab" --images "$images" -o "$idx" >/dev/null 2>&1 ||
    { echo "FATAL: cannot build an index" >&2; exit 1; }
fi
count=$("$bin" index info "$idx" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')

"$bin" serve -m "$model" --vocab "$vocab" --index "$idx" --host 127.0.0.1 --port 0 --max-body-mb 1 \
  --http-threads 4 --timeout 5 --log > "$tmp/serve.out" 2> "$tmp/serve.err" &
server_pid=$!
for _ in $(seq 100); do grep -q "listening on" "$tmp/serve.out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^listening on \(http:[^ ]*\)\/$/\1/p' "$tmp/serve.out")
[ -n "$url" ] || { echo "FATAL: server did not start: $(cat "$tmp/serve.err")" >&2; exit 1; }
case "$url" in http://127.0.0.1:*) ok ;; *) fail "listens on loopback: $url" ;; esac

# request METHOD PATH [curl args...] -> "STATUS BODY" in $status / $body
request() {
  local method=$1 path=$2
  shift 2
  status=$(curl -s -o "$tmp/body" -w '%{http_code}' -X "$method" --max-time 30 "$@" "$url$path")
  body=$(cat "$tmp/body")
}
json() { python3 -c "import json,sys; d=json.loads(sys.argv[1]); print($2)" "$1"; }

request GET /v1/health
check "health" "200 ok" "$status $(json "$body" 'd["status"]')"
request GET /v1/info
check "info" "200 $count images" "$status $(json "$body" 'd["index"]["count"], d["index"]["kind"]' | tr -d "(),'")"
request GET /
check "page status" 200 "$status"
contains "page" "clip.c search" "$body"
ct=$(curl -s -o /dev/null -w '%{content_type}' "$url/")
contains "page content type" "text/html" "$ct"

# Search by text: the same ranking and scores as the CLI.
"$bin" index search "$idx" -m "$model" --vocab "$vocab" --text "a photo of a cat" -k 5 > "$tmp/cli.jsonl"
request POST /v1/search -H 'Content-Type: application/json' -d '{"text": "a photo of a cat", "k": 5}'
check "search status" 200 "$status"
check "search = CLI" ok "$(python3 - "$body" "$tmp/cli.jsonl" <<'PY'
import json, sys
got = json.loads(sys.argv[1])["results"]
ref = [json.loads(l) for l in open(sys.argv[2])]
good = len(got) == len(ref) == 5 and all(g["id"] == r["id"] and abs(g["score"] - r["score"]) < 1e-5 and g["path"] == r["path"]
                                          and g["thumb"] == "/v1/thumb/%d" % g["id"] for g, r in zip(got, ref))
print("ok" if good else "differs: %s vs %s" % (got, ref))
PY
)"

# Search by image: multipart upload and base64 JSON find the same file first.
chelsea=$(realpath "$images/chelsea.png")
request POST /v1/search -F "image=@$images/chelsea.png" -F k=3
check "upload search" "200 True" "$status $(json "$body" 'd["results"][0]["path"].endswith("chelsea.png") and abs(d["results"][0]["score"] - 1) < 1e-4')"
python3 -c 'import base64,json,sys; print(json.dumps({"image": "data:image/png;base64," + base64.b64encode(open(sys.argv[1],"rb").read()).decode(), "k": 2}))' \
  "$images/chelsea.png" > "$tmp/b64.json"
request POST /v1/search -H 'Content-Type: application/json' --data-binary "@$tmp/b64.json"
check "base64 search" "200 True 2" "$status $(json "$body" 'd["results"][0]["path"].endswith("chelsea.png"), len(d["results"])' | tr -d "(),")"

# Embeddings equal `clip embed`.
"$bin" embed -m "$model" --vocab "$vocab" --text "a photo of a cat" --image "$images/chelsea.png" > "$tmp/embed.jsonl"
request POST /v1/embed -H 'Content-Type: application/json' -d '{"texts": ["a photo of a cat"]}'
check "embed text status" 200 "$status"
cp "$tmp/body" "$tmp/embed_text.json"
request POST /v1/embed -F "image=@$images/chelsea.png"
check "embed image status" 200 "$status"
check "embed = clip embed" ok "$(python3 - "$tmp/embed_text.json" "$tmp/body" "$tmp/embed.jsonl" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))["texts"][0]
i = json.load(open(sys.argv[2]))["images"][0]
lines = [json.loads(l) for l in open(sys.argv[3])]
def vec(d):
    for key in ("embedding", "features", "vector"):
        if key in d: return d[key]
    return next(v for v in d.values() if isinstance(v, list) and len(v) > 8)
ref_t = vec(next(l for l in lines if l.get("text") or l.get("type") == "text"))
ref_i = vec(next(l for l in lines if l.get("image") or l.get("type") == "image"))
worst = max(max(abs(a - b) for a, b in zip(t, ref_t)), max(abs(a - b) for a, b in zip(i, ref_i)))
print("ok" if len(t) == len(ref_t) == 64 and worst < 1e-5 else "max diff %g" % worst)
PY
)"

# Classification: softmax of logit_scale * cos over "a photo of a {label}", as `clip similarity`.
request POST /v1/classify -F "image=@$images/chelsea.png" -F "labels=cat, dog" -F "labels=rocket"
check "classify status" 200 "$status"
"$bin" similarity -m "$model" --vocab "$vocab" --image "$images/chelsea.png" --text "a photo of a cat" \
  --text "a photo of a dog" --text "a photo of a rocket" > "$tmp/cls.jsonl"
check "classify = clip similarity" ok "$(python3 - "$body" "$tmp/cls.jsonl" <<'PY'
import json, sys
got = json.loads(sys.argv[1])
ref = json.loads(open(sys.argv[2]).readline())
p = got["results"][0]["probs"]
good = got["labels"] == ["cat", "dog", "rocket"] and abs(sum(p) - 1) < 1e-5 and \
    max(abs(a - b) for a, b in zip(p, ref["probs"])) < 1e-5 and \
    max(abs(a - b) for a, b in zip(got["results"][0]["logits"], ref["logits"])) < 1e-4
print("ok" if good else "differs: %s vs %s" % (got, ref))
PY
)"
request POST /v1/classify -H 'Content-Type: application/json' --data-binary "@$tmp/b64.json"
check "classify without labels" 400 "$status"

# Thumbnails by index id only.
curl -s -o "$tmp/thumb.png" -w '%{http_code} %{content_type}' "$url/v1/thumb/0" > "$tmp/thumb.status"
check "thumb" "200 image/png" "$(cat "$tmp/thumb.status")"
check "thumb is a PNG" "89504e47" "$(head -c 4 "$tmp/thumb.png" | od -An -tx1 | tr -d ' \n')"
for bad in "$count" 99999999 -1 abc "..%2F..%2Fetc%2Fpasswd" "0%2F..%2F..%2Fetc%2Fpasswd" "" "1e3"; do
  request GET "/v1/thumb/$bad"
  check "thumb $bad" 404 "$status"
done
request GET "/../../../etc/passwd"
check "path traversal at the root" 404 "$status"

# Malformed requests: a JSON error with a 4xx, never a crash.
bad_request() { # bad_request NAME WANT_STATUS METHOD PATH curl-args...
  local name=$1 want=$2
  shift 2
  request "$@"
  check "$name status" "$want" "$status"
  check "$name is a JSON error" "$want" "$(json "$body" 'd["error"]["status"]' 2>/dev/null)"
}
J=(-H 'Content-Type: application/json')
bad_request "truncated JSON" 400 POST /v1/search "${J[@]}" -d '{"text": "a ca'
bad_request "not an object" 400 POST /v1/search "${J[@]}" -d '["a cat"]'
bad_request "text of wrong type" 400 POST /v1/search "${J[@]}" -d '{"text": 42}'
bad_request "texts of wrong type" 400 POST /v1/embed "${J[@]}" -d '{"texts": "a cat"}'
bad_request "k of wrong type" 400 POST /v1/search "${J[@]}" -d '{"text": "cat", "k": "ten"}'
bad_request "k zero" 400 POST /v1/search "${J[@]}" -d '{"text": "cat", "k": 0}'
bad_request "k fraction" 400 POST /v1/search "${J[@]}" -d '{"text": "cat", "k": 2.5}'
bad_request "k too large" 400 POST /v1/search "${J[@]}" -d '{"text": "cat", "k": 100000}'
bad_request "unknown field" 400 POST /v1/search "${J[@]}" -d '{"txt": "cat"}'
bad_request "two queries" 400 POST /v1/search "${J[@]}" -d '{"texts": ["a", "b"]}'
bad_request "empty body" 400 POST /v1/search "${J[@]}"
bad_request "bad base64" 400 POST /v1/search "${J[@]}" -d '{"image": "!!!not base64!!!"}'
bad_request "not an image" 400 POST /v1/search "${J[@]}" -d '{"image": "aGVsbG8gd29ybGQ="}'
bad_request "wrong content type" 415 POST /v1/search -H 'Content-Type: text/plain' -d 'a cat'
head -c 1500000 /dev/zero | tr '\0' 'a' > "$tmp/huge.txt"
bad_request "huge body" 413 POST /v1/embed "${J[@]}" --data-binary "@$tmp/huge.txt"
bad_request "huge upload" 413 POST /v1/search -F "image=@$tmp/huge.txt"
bad_request "multipart without boundary" 400 POST /v1/search -H 'Content-Type: multipart/form-data' -d 'xx'
printf -- '--B\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n\x89PNG' > "$tmp/cut.mp"
bad_request "truncated multipart" 400 POST /v1/search -H 'Content-Type: multipart/form-data; boundary=B' --data-binary "@$tmp/cut.mp"
bad_request "unknown form field" 400 POST /v1/search -F "photo=@$images/tiny_7x5.png"
bad_request "upload in no image format" 415 POST /v1/search -F "image=@$tmp/cut.mp"
head -c 2000 "$images/chelsea.png" > "$tmp/cut.png"
bad_request "truncated PNG upload" 400 POST /v1/search -F "image=@$tmp/cut.png"
bad_request "GET on a POST endpoint" 405 GET /v1/search
bad_request "POST on a GET endpoint" 405 POST /v1/health -d x
bad_request "unknown endpoint" 404 GET /v1/nothing
allow=$(curl -s -D - -o /dev/null "$url/v1/search" | tr -d '\r' | sed -n 's/^Allow: //Ip')
check "Allow header" POST "$allow"
# A client that sends half a body and goes quiet is cut off by the timeout.
start=$(date +%s)
python3 - "${url#http://}" <<'PY'
import socket, sys
host, port = sys.argv[1].split(":")
s = socket.create_connection((host, int(port)))
s.sendall(b"POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"te")
s.settimeout(20)
try:
    s.recv(100)
except Exception:
    pass
PY
check "stalled client dropped within the timeout" 1 "$(( $(date +%s) - start <= 12 ))"

request GET /v1/health
check "still healthy after bad requests" 200 "$status"
request POST /v1/search "${J[@]}" -d '{"text": "a photo of a cat", "k": 5}'
check "still searching after bad requests" "200 5" "$status $(json "$body" 'len(d["results"])')"

# Concurrent clients: all served (the queue holds them), none fail.
pids=()
for i in $(seq 24); do
  curl -s -o /dev/null -w '%{http_code}\n' -X POST -H 'Content-Type: application/json' \
    -d "{\"text\": \"query number $i\", \"k\": 3}" "$url/v1/search" > "$tmp/par.$i" &
  pids+=($!)
done
wait "${pids[@]}"
check "24 concurrent searches" 24 "$(cat "$tmp"/par.* | grep -c '^200$')"

# Graceful stop: a request whose body is still arriving when SIGTERM comes
# is completed, then the server exits 0.
python3 - "${url#http://}" "$tmp/half_sent" > "$tmp/last.status" <<'PY' &
import socket, sys, time, os
host, port = sys.argv[1].split(":")
body = b'{"text": "a photo of a cat", "k": 3}'
s = socket.create_connection((host, int(port)))
s.sendall(b"POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n"
          b"Content-Length: %d\r\n\r\n" % len(body) + body[:10])
open(sys.argv[2], "w").close()
time.sleep(1.0)
s.sendall(body[10:])
reply = b""
s.settimeout(15)
while True:
    chunk = s.recv(65536)
    if not chunk: break
    reply += chunk
print(reply.split(b" ")[1].decode() if reply else "none")
PY
client_pid=$!
for _ in $(seq 100); do [ -e "$tmp/half_sent" ] && break; sleep 0.05; done
sleep 0.2
kill -TERM "$server_pid"
wait "$client_pid"
check "in-flight request completed" 200 "$(cat "$tmp/last.status")"
wait "$server_pid"
check "exit status after SIGTERM" 0 $?
server_pid=
contains "shutdown message" "stopped" "$(cat "$tmp/serve.err")"
curl -s --max-time 2 "$url/v1/health" >/dev/null
check "no longer listening" 7 $?

echo "http_api: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
