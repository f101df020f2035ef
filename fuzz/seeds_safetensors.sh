#!/usr/bin/env bash
# Seeds for fuzz_safetensors: micro CLIP models (ViT and ResNet, OpenAI and
# Hugging Face names) generated here, plus the fixture models' headers.
set -euo pipefail
out=$1
python3 - "$out" "${CLIP_FIXTURES:?}" <<'PY'
import json, struct, sys, os, random
out, fixtures = sys.argv[1], sys.argv[2]
rnd = random.Random(7)
def write(name, tensors, meta=None):
    header, blob = {}, b""
    if meta: header["__metadata__"] = meta
    for key, shape in tensors:
        n = 1
        for d in shape: n *= d
        data = struct.pack("<%df" % n, *[rnd.uniform(-0.5, 0.5) for _ in range(n)])
        header[key] = {"dtype": "F32", "shape": shape, "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    h = json.dumps(header).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(os.path.join(out, name), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + blob)
def block(p, w, hf=False):
    if hf:
        t = [(p+"layer_norm1.weight",[w]),(p+"layer_norm1.bias",[w]),(p+"layer_norm2.weight",[w]),(p+"layer_norm2.bias",[w])]
        for q in "qkv": t += [(p+"self_attn.%s_proj.weight"%q,[w,w]),(p+"self_attn.%s_proj.bias"%q,[w])]
        return t + [(p+"self_attn.out_proj.weight",[w,w]),(p+"self_attn.out_proj.bias",[w]),(p+"mlp.fc1.weight",[4*w,w]),(p+"mlp.fc1.bias",[4*w]),(p+"mlp.fc2.weight",[w,4*w]),(p+"mlp.fc2.bias",[w])]
    return [(p+"ln_1.weight",[w]),(p+"ln_1.bias",[w]),(p+"ln_2.weight",[w]),(p+"ln_2.bias",[w]),(p+"attn.in_proj_weight",[3*w,w]),(p+"attn.in_proj_bias",[3*w]),(p+"attn.out_proj.weight",[w,w]),(p+"attn.out_proj.bias",[w]),(p+"mlp.c_fc.weight",[4*w,w]),(p+"mlp.c_fc.bias",[4*w]),(p+"mlp.c_proj.weight",[w,4*w]),(p+"mlp.c_proj.bias",[w])]
V, C, W, E = 16, 4, 4, 4
text = [("token_embedding.weight",[V,W]),("positional_embedding",[C,W]),("ln_final.weight",[W]),("ln_final.bias",[W]),("text_projection",[W,E]),("logit_scale",[])] + block("transformer.resblocks.0.", W)
vit = [("visual.conv1.weight",[4,3,2,2]),("visual.class_embedding",[4]),("visual.positional_embedding",[5,4]),("visual.ln_pre.weight",[4]),("visual.ln_pre.bias",[4]),("visual.ln_post.weight",[4]),("visual.ln_post.bias",[4]),("visual.proj",[4,E])] + block("visual.transformer.resblocks.0.", 4)
meta = {"vision_heads": "1", "transformer_heads": "1"}
write("micro_vit.safetensors", text + vit, meta)
write("micro_vit_module.safetensors", [("module."+k, s) for k, s in text + vit], meta)
hf = [("text_model.embeddings.token_embedding.weight",[V,W]),("text_model.embeddings.position_embedding.weight",[C,W]),("text_model.final_layer_norm.weight",[W]),("text_model.final_layer_norm.bias",[W]),("text_projection.weight",[E,W]),("logit_scale",[]),
      ("vision_model.embeddings.patch_embedding.weight",[4,3,2,2]),("vision_model.embeddings.class_embedding",[4]),("vision_model.embeddings.position_embedding.weight",[5,4]),("vision_model.pre_layrnorm.weight",[4]),("vision_model.pre_layrnorm.bias",[4]),("vision_model.post_layernorm.weight",[4]),("vision_model.post_layernorm.bias",[4]),("visual_projection.weight",[E,4])]
hf += block("text_model.encoder.layers.0.", W, True) + block("vision_model.encoder.layers.0.", 4, True)
write("micro_hf.safetensors", hf)
w = 2
rn = [("visual.attnpool.positional_embedding",[2,32*w])]
for q in "qkv": rn += [("visual.attnpool.%s_proj.weight"%q,[32*w,32*w]),("visual.attnpool.%s_proj.bias"%q,[32*w])]
rn += [("visual.attnpool.c_proj.weight",[E,32*w]),("visual.attnpool.c_proj.bias",[E])]
def cb(conv, bn, cin, cout, k):
    return [(conv,[cout,cin,k,k])] + [(bn+s,[cout]) for s in (".weight",".bias",".running_mean",".running_var")]
rn += cb("visual.conv1.weight","visual.bn1",3,w//2,3) + cb("visual.conv2.weight","visual.bn2",w//2,w//2,3) + cb("visual.conv3.weight","visual.bn3",w//2,w,3)
inp = w
for s in range(4):
    p = w << s
    pre = "visual.layer%d.0." % (s+1)
    rn += cb(pre+"conv1.weight",pre+"bn1",inp,p,1) + cb(pre+"conv2.weight",pre+"bn2",p,p,3) + cb(pre+"conv3.weight",pre+"bn3",p,4*p,1)
    rn += cb(pre+"downsample.0.weight",pre+"downsample.1",inp,4*p,1)
    inp = 4*p
write("micro_rn.safetensors", text + rn, {"vision_heads": "2", "transformer_heads": "1"})
for name in ("tiny-vit", "tiny-rn"):
    with open(os.path.join(fixtures, "models", name + ".safetensors"), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        f.seek(0)
        with open(os.path.join(out, name + "-header"), "wb") as g: g.write(f.read(8 + n))
PY
