#!/usr/bin/env bash
# Seeds for fuzz_torch: micro CLIP state dicts as torch.save archives
# (plain, nested with "module." prefixes, float16, a strided view), a
# TorchScript-like module tree, the bare pickles, and hostile pickles. The
# pickles are made with Python's own pickler and stand-ins for torch's
# globals, so no torch is needed; with /usr/bin/python3 and torch present,
# a real torch.save archive is added.
set -euo pipefail
out=$1
python3 - "$out" <<'PY'
import collections, io, os, pickle, struct, sys, types, zipfile, random
out = sys.argv[1]
rnd = random.Random(11)

# Stand-ins named like torch's globals: the pickler records module and name.
def module(name):
    m = types.ModuleType(name)
    sys.modules[name] = m
    return m
torch = module("torch"); utils = module("torch._utils")
def _rebuild_tensor_v2(*args): pass
_rebuild_tensor_v2.__module__ = "torch._utils"; utils._rebuild_tensor_v2 = _rebuild_tensor_v2
class FloatStorage: pass
class HalfStorage: pass
for cls in (FloatStorage, HalfStorage):
    cls.__module__ = "torch"; cls.__qualname__ = cls.__name__; setattr(torch, cls.__name__, cls)

class Storage:
    def __init__(self, key, cls, data):
        self.key, self.cls, self.data = key, cls, data
class Tensor:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, collections.OrderedDict())
    def __reduce__(self):
        return (_rebuild_tensor_v2, self.args)
class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            item = 2 if obj.cls is HalfStorage else 4
            return ("storage", obj.cls, obj.key, "cpu", len(obj.data) // item)
        return None

def tensor(storages, shape, half=False, transpose=False):
    n = 1
    for d in shape: n *= d
    vals = [rnd.uniform(-0.5, 0.5) for _ in range(n)]
    data = struct.pack("<%d%s" % (n, "e" if half else "f"), *vals)
    s = Storage(str(len(storages)), HalfStorage if half else FloatStorage, data)
    storages.append(s)
    stride, acc = [], 1
    for d in reversed(shape):
        stride.insert(0, acc); acc *= d
    if transpose and len(shape) == 2:
        shape = [shape[1], shape[0]]; stride = [1, shape[1]]
    return Tensor(s, 0, shape, stride)

def block(p, w):
    return [(p+"ln_1.weight",[w]),(p+"ln_1.bias",[w]),(p+"ln_2.weight",[w]),(p+"ln_2.bias",[w]),(p+"attn.in_proj_weight",[3*w,w]),(p+"attn.in_proj_bias",[3*w]),(p+"attn.out_proj.weight",[w,w]),(p+"attn.out_proj.bias",[w]),(p+"mlp.c_fc.weight",[4*w,w]),(p+"mlp.c_fc.bias",[4*w]),(p+"mlp.c_proj.weight",[w,4*w]),(p+"mlp.c_proj.bias",[w])]
V, C, W, E = 16, 4, 4, 4
names = [("token_embedding.weight",[V,W]),("positional_embedding",[C,W]),("ln_final.weight",[W]),("ln_final.bias",[W]),("text_projection",[W,E]),("logit_scale",[])] + block("transformer.resblocks.0.", W)
names += [("visual.conv1.weight",[4,3,2,2]),("visual.class_embedding",[4]),("visual.positional_embedding",[5,4]),("visual.ln_pre.weight",[4]),("visual.ln_pre.bias",[4]),("visual.ln_post.weight",[4]),("visual.ln_post.bias",[4]),("visual.proj",[4,E])] + block("visual.transformer.resblocks.0.", 4)

def dumps(obj):
    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()

def archive(name, pkl, storages):
    with zipfile.ZipFile(os.path.join(out, name), "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/byteorder", "little")
        for s in storages: z.writestr("archive/data/" + s.key, s.data)
        z.writestr("archive/version", "3\n")

for variant in ("plain", "nested", "half", "strided"):
    storages = []
    sd = collections.OrderedDict()
    for k, shape in names:
        sd[("module." if variant == "nested" else "") + k] = tensor(storages, shape, half=variant == "half",
                                                                     transpose=variant == "strided" and k == "text_projection")
    obj = {"state_dict": sd, "epoch": 3} if variant == "nested" else sd
    pkl = dumps(obj)
    archive("micro_%s.pt" % variant, pkl, storages)
    if variant == "plain":
        open(os.path.join(out, "micro_plain.pkl"), "wb").write(pkl)

# TorchScript's layout: modules as __torch__ objects with attribute dicts.
def torchscript_pickle(storages):
    memo = {}
    b = bytearray(b"\x80\x02")
    def s(text):
        raw = text.encode(); b.extend(b"X" + struct.pack("<I", len(raw)) + raw)
    def obj(cls, attrs):
        b.extend(b"c__torch__\n" + cls.encode() + b"\n)\x81}(")
        for k, v in attrs:
            s(k)
            if isinstance(v, list): obj("Sub", v)
            elif isinstance(v, bool): b.extend(b"\x88" if v else b"\x89")
            else: b.extend(dumps(v)[2:-1])  # the tensor's opcodes without PROTO/STOP
        b.extend(b"ub")
    tree = [("training", False), ("logit_scale", tensor(storages, [])), ("visual", [("proj", tensor(storages, [4, 4])), ("ln_post", [("weight", tensor(storages, [4]))])])]
    obj("CLIP", tree)
    b.extend(b".")
    return bytes(b)
storages = []
pkl = torchscript_pickle(storages)
archive("micro_torchscript.pt", pkl, storages)
open(os.path.join(out, "micro_torchscript.pkl"), "wb").write(pkl)

# Hostile pickles.
open(os.path.join(out, "os_system.pkl"), "wb").write(b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R.")
open(os.path.join(out, "deep_marks.pkl"), "wb").write(b"\x80\x02" + b"(" * 300 + b".")
open(os.path.join(out, "memo.pkl"), "wb").write(b"\x80\x02Nr\x00\xff\xff\xff.")
PY
if /usr/bin/python3 -c 'import torch' >/dev/null 2>&1; then
  /usr/bin/python3 - "$out" <<'PY'
import sys, torch, collections
torch.manual_seed(0)
sd = collections.OrderedDict([("token_embedding.weight", torch.randn(16, 4)), ("logit_scale", torch.ones([])),
                              ("text_projection", torch.randn(4, 4).t()), ("half", torch.randn(3).half())])
torch.save(sd, sys.argv[1] + "/real_torch_save.pt")
PY
fi
