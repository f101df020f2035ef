#!/usr/bin/python3
"""PyTorch checkpoints of the fixture models, for tests/test_formats_torch.c.

usage: make_torch_checkpoints.py FIXTURES_DIR OUT_DIR

Reads models/tiny-vit.safetensors and models/tiny-rn.safetensors (with a
small json + struct parser: no safetensors package needed) and writes
into OUT_DIR:
  tiny-vit.pt, tiny-rn.pt   torch.save(state_dict)
  tiny-vit-nested.pt        {"state_dict": {"module." + k: v}, "epoch": 3}
  tiny-vit-f16.pt           a float16 state dict
  tiny-vit-strided.pt       non-contiguous and offset views in the state dict
  tiny-vit-jit.pt           torch.jit.trace of OpenAI's CLIP architecture
  tiny-vit-jit-f16.pt       the same with clip.model.convert_weights' float16
                            parameters, as OpenAI's published .pt files are
Only the test data generator needs torch (Debian: python3-torch); the
files stay in the build tree.
"""
import collections
import json
import os
import struct
import sys

import torch
from torch import nn

DTYPES = {"F32": torch.float32, "F16": torch.float16, "I64": torch.int64, "I32": torch.int32, "U8": torch.uint8}


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    base = 8 + n
    meta = header.pop("__metadata__", {})
    out = collections.OrderedDict()
    for name, info in header.items():
        begin, end = info["data_offsets"]
        raw = bytearray(blob[base + begin:base + end])
        t = torch.frombuffer(raw, dtype=DTYPES[info["dtype"]]) if raw else torch.empty(0, dtype=DTYPES[info["dtype"]])
        out[name] = t.reshape(info["shape"]).clone()
    return out, meta


# --- a minimal copy of OpenAI's clip/model.py (ViT variant), so that
# --- torch.jit.trace sees the same module tree and attribute names.

class LayerNorm(nn.LayerNorm):
    def forward(self, x):
        orig_type = x.dtype
        ret = super().forward(x.type(torch.float32))
        return ret.type(orig_type)


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, d_model, n_head, attn_mask=None):
        super().__init__()
        self.attn = nn.MultiheadAttention(d_model, n_head)
        self.ln_1 = LayerNorm(d_model)
        self.mlp = nn.Sequential(collections.OrderedDict([
            ("c_fc", nn.Linear(d_model, d_model * 4)),
            ("gelu", QuickGELU()),
            ("c_proj", nn.Linear(d_model * 4, d_model)),
        ]))
        self.ln_2 = LayerNorm(d_model)
        self.attn_mask = attn_mask

    def attention(self, x):
        mask = self.attn_mask.to(dtype=x.dtype, device=x.device) if self.attn_mask is not None else None
        return self.attn(x, x, x, need_weights=False, attn_mask=mask)[0]

    def forward(self, x):
        x = x + self.attention(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width, layers, heads, attn_mask=None):
        super().__init__()
        self.width, self.layers = width, layers
        self.resblocks = nn.Sequential(*[ResidualAttentionBlock(width, heads, attn_mask) for _ in range(layers)])

    def forward(self, x):
        return self.resblocks(x)


class VisionTransformer(nn.Module):
    def __init__(self, input_resolution, patch_size, width, layers, heads, output_dim):
        super().__init__()
        self.input_resolution, self.output_dim = input_resolution, output_dim
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch_size, stride=patch_size, bias=False)
        scale = width ** -0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn((input_resolution // patch_size) ** 2 + 1, width))
        self.ln_pre = LayerNorm(width)
        self.transformer = Transformer(width, layers, heads)
        self.ln_post = LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, output_dim))

    def forward(self, x):
        x = self.conv1(x)
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
        cls = self.class_embedding.to(x.dtype) + torch.zeros(x.shape[0], 1, x.shape[-1], dtype=x.dtype)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        x = self.ln_pre(x).permute(1, 0, 2)
        x = self.transformer(x).permute(1, 0, 2)
        return self.ln_post(x[:, 0, :]) @ self.proj


class CLIP(nn.Module):
    def __init__(self, embed_dim, image_resolution, vision_layers, vision_width, vision_patch_size, context_length,
                 vocab_size, transformer_width, transformer_heads, transformer_layers, vision_heads):
        super().__init__()
        self.context_length = context_length
        self.visual = VisionTransformer(image_resolution, vision_patch_size, vision_width, vision_layers, vision_heads,
                                        embed_dim)
        self.transformer = Transformer(transformer_width, transformer_layers, transformer_heads,
                                       self.build_attention_mask())
        self.vocab_size = vocab_size
        self.token_embedding = nn.Embedding(vocab_size, transformer_width)
        self.positional_embedding = nn.Parameter(torch.empty(context_length, transformer_width))
        self.ln_final = LayerNorm(transformer_width)
        self.text_projection = nn.Parameter(torch.empty(transformer_width, embed_dim))
        self.logit_scale = nn.Parameter(torch.ones([]))

    def build_attention_mask(self):
        mask = torch.empty(self.context_length, self.context_length)
        mask.fill_(float("-inf"))
        return mask.triu_(1)

    def encode_image(self, image):
        return self.visual(image)

    def encode_text(self, text):
        x = self.token_embedding(text) + self.positional_embedding
        x = self.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)
        x = self.ln_final(x)
        return x[torch.arange(x.shape[0]), text.argmax(dim=-1)] @ self.text_projection

    def forward(self, image, text):
        image_features = self.encode_image(image)
        text_features = self.encode_text(text)
        image_features = image_features / image_features.norm(dim=1, keepdim=True)
        text_features = text_features / text_features.norm(dim=1, keepdim=True)
        logits_per_image = self.logit_scale.exp() * image_features @ text_features.t()
        return logits_per_image, logits_per_image.t()


def half_like_openai(model):
    """clip.model.convert_weights: conv, linear and attention weights and the
    two projections to float16; embeddings and LayerNorms stay float32."""
    def convert(layer):
        if isinstance(layer, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            layer.weight.data = layer.weight.data.half()
            if layer.bias is not None:
                layer.bias.data = layer.bias.data.half()
        if isinstance(layer, nn.MultiheadAttention):
            for attr in ["in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight", "in_proj_bias",
                         "bias_k", "bias_v"]:
                tensor = getattr(layer, attr)
                if tensor is not None:
                    tensor.data = tensor.data.half()
        for name in ["text_projection", "proj"]:
            if hasattr(layer, name):
                attr = getattr(layer, name)
                if attr is not None:
                    attr.data = attr.data.half()
    model.apply(convert)


def save(obj, out, name):
    path = os.path.join(out, name)
    torch.save(obj, path + ".tmp")
    os.replace(path + ".tmp", path)


def main():
    fixtures, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    vit, vit_meta = read_safetensors(os.path.join(fixtures, "models", "tiny-vit.safetensors"))
    rn, _ = read_safetensors(os.path.join(fixtures, "models", "tiny-rn.safetensors"))
    save(vit, out, "tiny-vit.pt")
    save(rn, out, "tiny-rn.pt")
    save({"state_dict": collections.OrderedDict(("module." + k, v) for k, v in vit.items()), "epoch": 3}, out,
         "tiny-vit-nested.pt")
    save(collections.OrderedDict((k, v.half() if v.is_floating_point() else v) for k, v in vit.items()), out,
         "tiny-vit-f16.pt")
    strided = collections.OrderedDict(vit)
    strided["text_projection"] = vit["text_projection"].t().contiguous().t()  # column-major view
    big = torch.zeros(vit["positional_embedding"].numel() + 100)
    big[100:] = vit["positional_embedding"].reshape(-1)
    strided["positional_embedding"] = big[100:].view(vit["positional_embedding"].shape)  # storage offset
    assert not strided["text_projection"].is_contiguous()
    save(strided, out, "tiny-vit-strided.pt")

    m = {k: json.loads(v) for k, v in vit_meta.items() if k in (
        "embed_dim", "image_resolution", "vision_layers", "vision_width", "vision_patch_size", "context_length",
        "vocab_size", "transformer_width", "transformer_heads", "transformer_layers", "vision_heads")}
    model = CLIP(**m).eval()
    model.load_state_dict(vit, strict=True)
    image = torch.randn(1, 3, m["image_resolution"], m["image_resolution"])
    text = torch.zeros(1, m["context_length"], dtype=torch.long)
    text[0, :3] = torch.tensor([49406, 320, 49407])
    with torch.no_grad():
        traced = torch.jit.trace(model, (image, text), check_trace=False)
    traced.save(os.path.join(out, "tiny-vit-jit.pt.tmp"))
    os.replace(os.path.join(out, "tiny-vit-jit.pt.tmp"), os.path.join(out, "tiny-vit-jit.pt"))
    half_like_openai(model)
    # CPU kernels lack float16 matmuls, so trace in float32 and give the
    # traced module the float16 parameters afterwards (readers never run
    # the graph).
    traced = torch.jit.load(os.path.join(out, "tiny-vit-jit.pt"))
    for name, tensor in model.state_dict().items():
        if tensor.dtype != torch.float16:
            continue
        *path, attr = name.split(".")
        owner = traced
        for part in path:
            owner = getattr(owner, part)
        setattr(owner, attr, nn.Parameter(tensor.clone(), requires_grad=False))
    traced.save(os.path.join(out, "tiny-vit-jit-f16.pt.tmp"))
    os.replace(os.path.join(out, "tiny-vit-jit-f16.pt.tmp"), os.path.join(out, "tiny-vit-jit-f16.pt"))


if __name__ == "__main__":
    main()
