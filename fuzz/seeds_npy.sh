#!/usr/bin/env bash
# Seeds for fuzz_npy: arrays as numpy writes them (format 1.0, 2.0 and 3.0,
# every dtype the reader takes, scalars, empty and many-dimensional shapes,
# Python 2's "3L" lengths), laid out here from numpy's format description.
set -euo pipefail
out=$1
python3 - "$out" <<'PY'
import os, struct, sys
out = sys.argv[1]
def npy(name, descr, shape, payload, major=1, order="False", extra=""):
    dims = "".join("%s, " % d for d in shape) if len(shape) == 1 else ", ".join(str(d) for d in shape)
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': (%s), %s}" % (descr, order, dims, extra)
    pre = 10 if major == 1 else 12
    pad = (64 - (pre + len(header) + 1) % 64) % 64
    header = (header + " " * pad + "\n").encode("latin1")
    size = struct.pack("<H", len(header)) if major == 1 else struct.pack("<I", len(header))
    with open(os.path.join(out, name), "wb") as f:
        f.write(b"\x93NUMPY" + bytes([major, 0]) + size + header + payload)
npy("f4_2d.npy", "<f4", (2, 3), struct.pack("<6f", *range(6)))
npy("f2.npy", "<f2", (4,), struct.pack("<4e", 0.5, -1.0, 2.0, 65504.0))
npy("f8_v2.npy", "<f8", (2,), struct.pack("<2d", 1.5, -2.5), major=2)
npy("i4_tokens_v3.npy", "<i4", (1, 77), struct.pack("<77i", 49406, 320, 1125, 539, 320, 2368, 49407, *([0] * 70)), major=3)
npy("i8.npy", "<i8", (3,), struct.pack("<3q", 1, -2, 3))
npy("u1.npy", "|u1", (2, 2, 3), bytes(range(12)))
npy("b1.npy", "|b1", (3,), b"\x01\x00\x01")
npy("i2_u2.npy", "<i2", (2,), struct.pack("<2h", -7, 7))
npy("scalar.npy", "<f4", (), struct.pack("<f", 3.25))
npy("empty.npy", "<f4", (0, 512), b"")
npy("eight_dims.npy", "<u1", (1, 1, 1, 1, 1, 1, 2, 1), b"\x05\x06")
npy("py2_long.npy", "<f4", ("2L", "1L"), struct.pack("<2f", 1.0, 2.0))
npy("fortran.npy", "<f4", (2, 2), struct.pack("<4f", 1, 2, 3, 4), order="True")
npy("big_endian.npy", ">f4", (1,), struct.pack(">f", 1.0))
PY
