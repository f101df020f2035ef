#!/usr/bin/env bash
# Seeds for fuzz_index: small valid index files (f32 and f16, images and
# captions, empty), laid out here in Python from the specification in
# docs/retrieval.md, plus truncated and bit-flipped copies.
set -euo pipefail
out=$1
python3 - "$out" <<'PY'
import struct, sys, os, zlib, random
out = sys.argv[1]
rnd = random.Random(3)
def index(kind, dtype, dim, items, name):
    n = len(items)
    elem = 2 if dtype == 1 else 4
    vecs = b""
    for _ in items:
        v = [rnd.uniform(-1, 1) for _ in range(dim)]
        norm = sum(x * x for x in v) ** 0.5
        v = [x / norm for x in v]
        vecs += struct.pack("<%d%s" % (dim, "e" if dtype == 1 else "f"), *v)
    v_off = 256
    i_off = (v_off + len(vecs) + 7) // 8 * 8
    strings, table, pos = b"", b"", 0
    for text, size, mtime in items:
        t = text.encode()
        table += struct.pack("<QIIQq", pos, len(t), 0, size, mtime)
        strings += t + b"\0"
        pos += len(t) + 1
    s_off = i_off + len(table)
    total = s_off + len(strings)
    h = bytearray(256)
    h[0:8] = b"CLIPINDX"
    struct.pack_into("<IIIIII", h, 8, 1, 256, kind, dtype, dim, 1)
    struct.pack_into("<Q", h, 32, n)
    h[40:56] = bytes(range(16))
    struct.pack_into("<QQQQQQQ", h, 56, v_off, len(vecs), i_off, len(table), s_off, len(strings), total)
    h[112:112 + 10] = b"fuzz model"
    struct.pack_into("<I", h, 252, zlib.crc32(bytes(h[:252])))
    blob = bytes(h) + vecs + b"\0" * (i_off - v_off - len(vecs)) + table + strings
    assert len(blob) == total
    with open(os.path.join(out, name), "wb") as f: f.write(blob)
    return blob
imgs = [("/photos/cat.jpg", 1234, 1700000000123456789), ("/photos/dog.png", 99, 1), ("/photos/sub/x.webp", 5, 2)]
caps = [("a photo of a cat", 0, 0), ("a dog", 0, 0)]
a = index(0, 0, 8, imgs, "images_f32.idx")
index(0, 1, 17, imgs, "images_f16.idx")
index(1, 0, 16, caps, "captions.idx")
index(0, 0, 4, [], "empty.idx")
index(1, 1, 3, caps * 3, "captions_f16.idx")
with open(os.path.join(out, "truncated.idx"), "wb") as f: f.write(a[:300])
for i in range(4):
    b = bytearray(a)
    b[rnd.randrange(256, len(b))] ^= 1 << rnd.randrange(8)
    with open(os.path.join(out, "flipped%d.idx" % i), "wb") as f: f.write(bytes(b))
PY
