#!/usr/bin/env bash
# Seeds for fuzz_gguf: micro ViT CLIPs in clip.cpp's GGUF layout, with
# float32, float16, q8_0 and q4_0 matrices, with and without a token list
# and merges; written by a small GGUF writer here (no gguf package).
set -euo pipefail
out=$1
python3 - "$out" <<'PY'
import os, struct, sys, random
out = sys.argv[1]
rnd = random.Random(5)
def s(text):
    raw = text.encode(); return struct.pack("<Q", len(raw)) + raw
def kv_u32(k, v): return s(k) + struct.pack("<II", 4, v)
def kv_f32(k, v): return s(k) + struct.pack("<If", 6, v)
def kv_bool(k, v): return s(k) + struct.pack("<IB", 7, int(v))
def kv_str(k, v): return s(k) + struct.pack("<I", 8) + s(v)
def kv_strs(k, vs): return s(k) + struct.pack("<IIQ", 9, 8, len(vs)) + b"".join(s(v) for v in vs)
def kv_f32s(k, vs): return s(k) + struct.pack("<IIQ", 9, 6, len(vs)) + struct.pack("<%df" % len(vs), *vs)
def half(x): return struct.pack("<e", x)
def encode(vals, t):
    if t == 0: return struct.pack("<%df" % len(vals), *vals)
    if t == 1: return struct.pack("<%de" % len(vals), *vals)
    blocks = b""
    for i in range(0, len(vals), 32):
        blk = vals[i:i + 32]; amax = max(abs(v) for v in blk) or 1.0
        if t == 8:
            d = amax / 127; blocks += half(d) + bytes((int(round(v / d)) & 0xff) for v in blk)
        else:
            d = amax / 8; q = [min(15, max(0, int(round(v / d)) + 8)) for v in blk]
            blocks += half(d) + bytes(q[j] | (q[j + 16] << 4) for j in range(16))
    return blocks
W, E, V, C, P, R = 32, 32, 16, 4, 2, 4
def block(p):
    return [(p+"ln1.weight",[W]),(p+"ln1.bias",[W]),(p+"ln2.weight",[W]),(p+"ln2.bias",[W])] + \
           [(p+"attn_%s.%s" % (q, wb), [W, W] if wb == "weight" else [W]) for q in "qkv" for wb in ("weight", "bias")] + \
           [(p+"attn_out.weight",[W,W]),(p+"attn_out.bias",[W]),(p+"ffn_down.weight",[4*W,W]),(p+"ffn_down.bias",[4*W]),(p+"ffn_up.weight",[W,4*W]),(p+"ffn_up.bias",[W])]
tensors = [("t.token_embd.weight",[V,W]),("t.position_embd.weight",[C,W]),("t.post_ln.weight",[W]),("t.post_ln.bias",[W]),("text_projection.weight",[E,W])] + block("t.blk.0.")
tensors += [("v.class_embd",[W]),("v.patch_embd.weight",[W,3,P,P]),("v.position_embd.weight",[(R//P)**2+1,W]),("v.pre_ln.weight",[W]),("v.pre_ln.bias",[W]),("v.post_ln.weight",[W]),("v.post_ln.bias",[W]),("visual_projection.weight",[E,W])] + block("v.blk.0.")
def write(name, matrix_type, vocab):
    kv = [kv_str("general.architecture", "clip"), kv_bool("clip.has_text_encoder", True), kv_bool("clip.has_vision_encoder", True),
          kv_u32("general.file_type", matrix_type), kv_str("general.name", name), kv_str("general.description", "micro"),
          kv_u32("clip.text.context_length", C), kv_u32("clip.text.embedding_length", W), kv_u32("clip.text.feed_forward_length", 4 * W),
          kv_u32("clip.text.projection_dim", E), kv_u32("clip.text.attention.head_count", 1), kv_f32("clip.text.attention.layer_norm_epsilon", 1e-5),
          kv_u32("clip.text.block_count", 1), kv_u32("clip.vision.image_size", R), kv_u32("clip.vision.patch_size", P),
          kv_u32("clip.vision.embedding_length", W), kv_u32("clip.vision.feed_forward_length", 4 * W), kv_u32("clip.vision.projection_dim", E),
          kv_u32("clip.vision.attention.head_count", 1), kv_f32("clip.vision.attention.layer_norm_epsilon", 1e-5), kv_u32("clip.vision.block_count", 1),
          kv_f32s("clip.vision.image_mean", [0.48, 0.45, 0.40]), kv_f32s("clip.vision.image_std", [0.26, 0.26, 0.27]), kv_bool("clip.use_gelu", False)]
    if vocab:
        kv += [kv_strs("tokenizer.ggml.tokens", ["a", "b", "c", "ab", "abc</w>"] + ["t%d" % i for i in range(V - 7)] + ["<|startoftext|>", "<|endoftext|>"]),
               kv_strs("tokenizer.ggml.merges", ["a b", "ab c</w>"]), kv_f32("clip.logit_scale", 4.6)]
    infos, data = b"", b""
    for tname, shape in tensors:
        t = matrix_type if len(shape) == 2 and shape[-1] % 32 == 0 and "position" not in tname else 0
        if len(shape) == 4: t = 1
        n = 1
        for d in shape: n *= d
        blob = encode([rnd.uniform(-0.5, 0.5) for _ in range(n)], t)
        infos += s(tname) + struct.pack("<I", len(shape)) + b"".join(struct.pack("<Q", d) for d in reversed(shape)) + struct.pack("<IQ", t, len(data))
        data += blob + b"\0" * ((-len(blob)) % 32)
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv)) + b"".join(kv) + infos
    head += b"\0" * ((-len(head)) % 32)
    with open(os.path.join(out, name + ".gguf"), "wb") as f: f.write(head + data)
for name, t, vocab in (("micro_f32", 0, True), ("micro_f16", 1, False), ("micro_q8_0", 8, True), ("micro_q4_0", 2, False)):
    write(name, t, vocab)
PY
