#!/usr/bin/env bash
# Seeds for fuzz_http: a Content-Type line, then a body, for each request
# shape the API accepts (JSON texts/labels/k, base64 images, data URLs,
# multipart uploads with files and fields) and a few broken ones.
set -euo pipefail
out=$1
fixtures=${CLIP_FIXTURES:?}
python3 - "$out" "$fixtures" <<'PY'
import base64, json, os, sys
out, fixtures = sys.argv[1], sys.argv[2]
png = open(os.path.join(fixtures, "images", "tiny_7x5.png"), "rb").read()
b64 = base64.b64encode(png).decode()
def seed(name, ct, body):
    if isinstance(body, str): body = body.encode()
    with open(os.path.join(out, name), "wb") as f: f.write(ct.encode() + b"\n" + body)
J = "application/json"
seed("texts.json", J, json.dumps({"texts": ["a photo of a cat", "a dog"]}))
seed("search_text.json", J, json.dumps({"text": "a cat", "k": 5}))
seed("classify.json", J, json.dumps({"image": b64, "labels": ["cat", "dog", "rocket"]}))
seed("data_url.json", J, json.dumps({"images": ["data:image/png;base64," + b64]}))
seed("bad_types.json", J, '{"texts": [1, 2], "k": "x"}')
seed("truncated.json", J, '{"texts": ["a photo')
seed("not_object.json", J, '[1,2,3]')
seed("bad_b64.json", J, '{"image": "@@@@"}')
B = "XyZzy123"
def form(parts):
    body = b""
    for name, filename, data in parts:
        disp = 'form-data; name="%s"' % name + ('; filename="%s"' % filename if filename else "")
        body += b"--" + B.encode() + b"\r\nContent-Disposition: " + disp.encode() + b"\r\n"
        if filename: body += b"Content-Type: image/png\r\n"
        body += b"\r\n" + (data if isinstance(data, bytes) else data.encode()) + b"\r\n"
    return body + b"--" + B.encode() + b"--\r\n"
M = "multipart/form-data; boundary=" + B
seed("upload.mp", M, form([("image", "cat.png", png), ("k", None, "3")]))
seed("classify.mp", M, form([("image", "cat.png", png), ("labels", None, "cat, dog\nrocket")]))
seed("text.mp", M, form([("text", None, "a photo of a cat")]))
seed("quoted_boundary.mp", 'multipart/form-data; boundary="' + B + '"', form([("text", None, "x")]))
seed("truncated.mp", M, form([("image", "cat.png", png)])[:80])
seed("no_close.mp", M, form([("text", None, "x")])[:-4])
seed("wrong_type.txt", "text/plain", "hello")
PY
