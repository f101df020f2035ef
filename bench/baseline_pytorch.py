#!/usr/bin/env python3
"""PyTorch baseline for bench_towers: OpenAI's CLIP architecture written out
here (ViT, ModifiedResNet, text transformer; module and tensor names as in
OpenAI's clip/model.py so its state dict loads as is), fed the very
safetensors file clip.c benchmarks, timed the same way.

Debian's python3-torch has no `safetensors` package, so the file is read by
the small parser below (json header + torch.frombuffer).

  python3 bench/baseline_pytorch.py --model /tmp/clip-bench/ViT-B-32-seed0.safetensors
  python3 bench/baseline_pytorch.py --model FILE --export-onnx DIR   # for bench/onnx/run.mjs

Run with OMP_WAIT_POLICY=PASSIVE (set below when absent): OpenMP's default
spin-waiting makes 2 threads far slower than 1 on a shared machine.
"""
import argparse
import ctypes
import json
import os
import statistics
import struct
import sys
import time
from collections import OrderedDict

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads libgomp

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

# Same 32 caption lengths (tokens incl. start/end) as bench_towers.c.
CAPTION_LENGTHS = [11, 14, 9, 16, 12, 7, 18, 13, 10, 15, 8, 12, 20, 11, 14, 9,
                   13, 17, 10, 12, 5, 15, 11, 19, 14, 9, 13, 16, 12, 10, 6, 14]
SOT, EOT = 49406, 49407

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
          "F64": torch.float64, "I64": torch.int64, "I32": torch.int32, "U8": torch.uint8}


def read_safetensors(path):
    """(tensors, metadata) of a safetensors file; tensors are float32 copies
    (other float dtypes converted, as clip.c's loader does)."""
    with open(path, "rb") as f:
        data = f.read()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_len])
    base = 8 + header_len
    meta = header.pop("__metadata__", {}) or {}
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        dtype = DTYPES[info["dtype"]]
        count = (end - begin) // torch.empty((), dtype=dtype).element_size()
        t = torch.frombuffer(bytearray(data[base + begin:base + end]), dtype=dtype, count=count)
        t = t.reshape(info["shape"])
        tensors[name] = t.float() if t.is_floating_point() else t
    return tensors, meta


class LayerNorm(nn.LayerNorm):
    pass


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width, heads, causal_len=None):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(width, width * 4)), ("gelu", QuickGELU()), ("c_proj", nn.Linear(width * 4, width))]))
        self.ln_2 = LayerNorm(width)
        self.causal_len = causal_len

    def forward(self, x):  # x [L, N, D], as OpenAI's
        mask = None
        if self.causal_len:
            L = x.shape[0]
            mask = torch.full((L, L), float("-inf")).triu_(1)
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width, layers, heads, causal_len=None):
        super().__init__()
        self.resblocks = nn.Sequential(*[ResidualAttentionBlock(width, heads, causal_len) for _ in range(layers)])

    def forward(self, x):
        return self.resblocks(x)


class VisionTransformer(nn.Module):
    def __init__(self, resolution, patch, width, layers, heads, embed_dim):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, patch, stride=patch, bias=False)
        self.class_embedding = nn.Parameter(torch.empty(width))
        self.positional_embedding = nn.Parameter(torch.empty((resolution // patch) ** 2 + 1, width))
        self.ln_pre = LayerNorm(width)
        self.transformer = Transformer(width, layers, heads)
        self.ln_post = LayerNorm(width)
        self.proj = nn.Parameter(torch.empty(width, embed_dim))

    def forward(self, x):
        x = self.conv1(x).flatten(2).permute(0, 2, 1)  # [N, grid^2, W]
        cls = self.class_embedding.expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding
        x = self.ln_pre(x).permute(1, 0, 2)
        x = self.transformer(x).permute(1, 0, 2)
        return self.ln_post(x[:, 0, :]) @ self.proj


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.avgpool = nn.AvgPool2d(stride) if stride > 1 else nn.Identity()
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride > 1 or inplanes != planes * 4:
            self.downsample = nn.Sequential(OrderedDict([
                ("-1", nn.AvgPool2d(stride)),
                ("0", nn.Conv2d(inplanes, planes * 4, 1, stride=1, bias=False)),
                ("1", nn.BatchNorm2d(planes * 4))]))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(self.avgpool(out)))
        identity = self.downsample(x) if self.downsample is not None else x
        return self.relu(out + identity)


class AttentionPool2d(nn.Module):
    def __init__(self, spacial_dim, embed_dim, heads, output_dim):
        super().__init__()
        self.positional_embedding = nn.Parameter(torch.empty(spacial_dim ** 2 + 1, embed_dim))
        self.k_proj = nn.Linear(embed_dim, embed_dim)
        self.q_proj = nn.Linear(embed_dim, embed_dim)
        self.v_proj = nn.Linear(embed_dim, embed_dim)
        self.c_proj = nn.Linear(embed_dim, output_dim)
        self.heads = heads

    def forward(self, x):
        x = x.flatten(2).permute(2, 0, 1)  # [HW, N, C]
        x = torch.cat([x.mean(dim=0, keepdim=True), x], dim=0) + self.positional_embedding[:, None, :]
        out, _ = F.multi_head_attention_forward(
            query=x[:1], key=x, value=x, embed_dim_to_check=x.shape[-1], num_heads=self.heads,
            q_proj_weight=self.q_proj.weight, k_proj_weight=self.k_proj.weight, v_proj_weight=self.v_proj.weight,
            in_proj_weight=None, in_proj_bias=torch.cat([self.q_proj.bias, self.k_proj.bias, self.v_proj.bias]),
            bias_k=None, bias_v=None, add_zero_attn=False, dropout_p=0.0,
            out_proj_weight=self.c_proj.weight, out_proj_bias=self.c_proj.bias,
            use_separate_proj_weight=True, training=False, need_weights=False)
        return out.squeeze(0)


class ModifiedResNet(nn.Module):
    def __init__(self, layers, output_dim, heads, resolution, width):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width // 2, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width // 2)
        self.conv2 = nn.Conv2d(width // 2, width // 2, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width // 2)
        self.conv3 = nn.Conv2d(width // 2, width, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        self.avgpool = nn.AvgPool2d(2)
        self.relu = nn.ReLU(inplace=True)
        self._inplanes = width
        self.layer1 = self._make_layer(width, layers[0])
        self.layer2 = self._make_layer(width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(width * 8, layers[3], stride=2)
        self.attnpool = AttentionPool2d(resolution // 32, width * 32, heads, output_dim)

    def _make_layer(self, planes, blocks, stride=1):
        layers = [Bottleneck(self._inplanes, planes, stride)]
        self._inplanes = planes * 4
        layers += [Bottleneck(self._inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        for conv, bn in ((self.conv1, self.bn1), (self.conv2, self.bn2), (self.conv3, self.bn3)):
            x = self.relu(bn(conv(x)))
        x = self.avgpool(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.attnpool(x)


class CLIP(nn.Module):
    def __init__(self, a):
        super().__init__()
        if a["vision_patch_size"]:
            self.visual = VisionTransformer(a["image_resolution"], a["vision_patch_size"], a["vision_width"],
                                            a["vision_layers"], a["vision_heads"], a["embed_dim"])
        else:
            self.visual = ModifiedResNet(a["vision_layers"], a["embed_dim"], a["vision_heads"],
                                         a["image_resolution"], a["vision_width"])
        self.context_length = a["context_length"]
        self.transformer = Transformer(a["transformer_width"], a["transformer_layers"], a["transformer_heads"],
                                       causal_len=a["context_length"])
        self.token_embedding = nn.Embedding(a["vocab_size"], a["transformer_width"])
        self.positional_embedding = nn.Parameter(torch.empty(a["context_length"], a["transformer_width"]))
        self.ln_final = LayerNorm(a["transformer_width"])
        self.text_projection = nn.Parameter(torch.empty(a["transformer_width"], a["embed_dim"]))
        self.logit_scale = nn.Parameter(torch.ones([]))

    def encode_image(self, image):
        return self.visual(image)

    def encode_text(self, text):
        x = self.token_embedding(text) + self.positional_embedding[: text.shape[1]]
        x = self.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)
        x = self.ln_final(x)
        return x[torch.arange(x.shape[0]), text.argmax(dim=-1)] @ self.text_projection


def architecture(tensors, meta):
    """OpenAI's build_model rules, from the shapes (heads from metadata)."""
    vit = "visual.proj" in tensors
    a = {"embed_dim": tensors["text_projection"].shape[1],
         "context_length": tensors["positional_embedding"].shape[0],
         "vocab_size": tensors["token_embedding.weight"].shape[0],
         "transformer_width": tensors["ln_final.weight"].shape[0]}
    a["transformer_heads"] = int(meta.get("transformer_heads", a["transformer_width"] // 64))
    a["transformer_layers"] = len({k.split(".")[2] for k in tensors if k.startswith("transformer.resblocks")})
    if vit:
        a["vision_width"] = tensors["visual.conv1.weight"].shape[0]
        a["vision_layers"] = len({k.split(".")[3] for k in tensors if k.startswith("visual.transformer.resblocks")})
        a["vision_patch_size"] = tensors["visual.conv1.weight"].shape[-1]
        grid = round((tensors["visual.positional_embedding"].shape[0] - 1) ** 0.5)
        a["image_resolution"] = a["vision_patch_size"] * grid
        a["vision_heads"] = int(meta.get("vision_heads", a["vision_width"] // 64))
    else:
        a["vision_layers"] = [len({k.split(".")[2] for k in tensors if k.startswith(f"visual.layer{b}.")})
                              for b in (1, 2, 3, 4)]
        a["vision_width"] = tensors["visual.layer1.0.conv1.weight"].shape[0]
        grid = round((tensors["visual.attnpool.positional_embedding"].shape[0] - 1) ** 0.5)
        a["image_resolution"] = grid * 32
        a["vision_patch_size"] = None
        a["vision_heads"] = int(meta.get("vision_heads", a["vision_width"] * 32 // 64))
    return a


def load_model(path):
    tensors, meta = read_safetensors(path)
    a = architecture(tensors, meta)
    model = CLIP(a)
    state = {k: v for k, v in tensors.items() if not k.startswith("clip.")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        sys.exit(f"{path}: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model.eval(), a


def make_tokens(batch, context, kind, gen):
    tokens = torch.zeros(batch, context, dtype=torch.long)
    for b in range(batch):
        n = context if kind == "text77" else min(CAPTION_LENGTHS[b % 32], context)
        tokens[b, 0] = SOT
        tokens[b, 1:n - 1] = torch.randint(1, 49001, (n - 2,), generator=gen)
        tokens[b, n - 1] = EOT
    return tokens


def set_threads(n):
    """torch.set_num_threads(n), and the same for OpenBLAS: Debian's torch
    does its matrix products through the system BLAS (OpenBLAS), whose own
    thread pool ignores set_num_threads and would use every core."""
    torch.set_num_threads(n)
    with open("/proc/self/maps") as maps:
        libs = {line.split()[-1] for line in maps if "openblas" in line.split()[-1].lower()}
    for path in sorted(libs):
        try:
            ctypes.CDLL(path).openblas_set_num_threads(n)
        except (OSError, AttributeError):
            pass


def optimized(model, tower, x):
    """encode_image / encode_text for this very input, traced, frozen and
    optimised for inference (PyTorch's fastest CPU mode without extra
    packages: conv + batch norm folded, oneDNN weight layouts)."""
    class Tower(nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, t):
            return self.m.encode_image(t) if tower == "image" else self.m.encode_text(t)

    with torch.inference_mode(False), torch.no_grad():
        traced = torch.jit.trace(Tower(model).eval(), x, check_trace=False)
        opt = torch.jit.optimize_for_inference(torch.jit.freeze(traced))
    return lambda: opt(x)


def timed(fn, warmup, iters):
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(iters):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return statistics.median(wall), min(wall), max(wall), statistics.median(cpu)


def export_onnx(model, a, out_dir, name):
    os.makedirs(out_dir, exist_ok=True)
    R, C = a["image_resolution"], a["context_length"]

    class Image(nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, pixels):
            return self.m.encode_image(pixels)

    class Text(nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, tokens):
            return self.m.encode_text(tokens)

    with torch.inference_mode():
        torch.onnx.export(Image(model), torch.randn(2, 3, R, R), os.path.join(out_dir, f"{name}-image.onnx"),
                          input_names=["pixels"], output_names=["features"], opset_version=14,
                          dynamic_axes={"pixels": {0: "batch"}, "features": {0: "batch"}})
        torch.onnx.export(Text(model), make_tokens(2, C, "text77", torch.Generator().manual_seed(0)),
                          os.path.join(out_dir, f"{name}-text.onnx"),
                          input_names=["tokens"], output_names=["features"], opset_version=14,
                          dynamic_axes={"tokens": {0: "batch"}, "features": {0: "batch"}})
    print(f"exported {out_dir}/{name}-image.onnx and {name}-text.onnx")


def self_check(fixtures):
    """The model above against OpenAI's own outputs (the test fixtures), so
    the baseline is known to compute CLIP and not something cheaper."""
    pixels_t, pmeta = read_safetensors(os.path.join(fixtures, "preprocess", "expected_224.safetensors"))
    worst = 0.0
    for name in ("tiny-vit", "tiny-rn"):
        model, _ = load_model(os.path.join(fixtures, "models", f"{name}.safetensors"))
        expected, emeta = read_safetensors(os.path.join(fixtures, "expected", f"{name}.safetensors"))
        pixels = torch.stack([pixels_t[i] for i in json.loads(emeta["images"])])
        with torch.inference_mode():
            got = {"image_features": model.encode_image(pixels),
                   "text_features": model.encode_text(expected["input.tokens"].long())}
        for key, value in got.items():
            ref = expected[key]
            rel = float((value - ref).abs().max() / ref.abs().max())
            worst = max(worst, rel)
            print(f"  {name} {key}: max|diff|/max|ref| = {rel:.2e}")
    if worst > 1e-4:
        sys.exit("baseline model does not match OpenAI's outputs")
    print("baseline model matches OpenAI's outputs")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="safetensors file (e.g. from bench_towers' cache)")
    ap.add_argument("--self-check", metavar="FIXTURES", help="compare with OpenAI's outputs in the fixtures and exit")
    ap.add_argument("--batch", default="1,8,32")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--towers", default="image,text77,textshort")
    ap.add_argument("--export-onnx", metavar="DIR", help="write ONNX exports of both towers and exit")
    ap.add_argument("--tsv", action="store_true", help="print RESULT lines (for compare.sh)")
    ap.add_argument("--jit", action="store_true",
                    help="PyTorch's best inference mode: each tower traced per batch, frozen and passed through "
                         "torch.jit.optimize_for_inference (oneDNN convolutions, folded batch norms); reported "
                         "as impl pytorch-jit")
    args = ap.parse_args()
    if args.self_check:
        self_check(args.self_check)
        return
    if not args.model:
        ap.error("--model is required")

    name = os.path.basename(args.model).split("-seed")[0].replace(".safetensors", "")
    t0 = time.perf_counter()
    model, a = load_model(args.model)
    load_s = time.perf_counter() - t0
    if args.export_onnx:
        export_onnx(model, a, args.export_onnx, name)
        return
    impl = "pytorch-jit" if args.jit else "pytorch"
    print(f"\n{name} (PyTorch {torch.__version__}{', jit.optimize_for_inference' if args.jit else ''}, OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}): "
          f"load {load_s * 1e3:.0f} ms")
    print(f"  {'tower':9} {'batch':>5} {'thr':>3} | {'items/s':>9} {'(min..max)':>19} | "
          f"{'wall ms':>9} {'cpu ms':>9} | {'items/cpu-s':>11}")
    gen = torch.Generator().manual_seed(0)
    R, C = a["image_resolution"], a["context_length"]
    batches = [int(b) for b in args.batch.split(",")]
    towers = args.towers.split(",")
    for tower in ("image", "text77", "textshort"):
        if tower not in towers:
            continue
        for batch in batches:
            if tower == "image":
                x = torch.rand(batch, 3, R, R, generator=gen) * 4 - 2
                fn = lambda: model.encode_image(x)  # noqa: E731
            else:
                x = make_tokens(batch, C, tower, gen)
                fn = lambda: model.encode_text(x)  # noqa: E731
            if args.jit:
                fn = optimized(model, tower, x)
            for threads in [int(t) for t in args.threads.split(",")]:
                set_threads(threads)
                with torch.inference_mode():
                    wmed, wmin, wmax, cmed = timed(fn, args.warmup, args.iters)
                print(f"  {tower:9} {batch:5d} {threads:3d} | {batch / wmed:9.2f} ({batch / wmax:7.2f}.."
                      f"{batch / wmin:7.2f}) | {wmed * 1e3:9.1f} {cmed * 1e3:9.1f} | {batch / cmed:11.2f}",
                      flush=True)
                if args.tsv:
                    print(f"RESULT\t{impl}\t{name}\t{tower}\t{batch}\t{threads}\t{batch / wmed:.4f}\t"
                          f"{batch / cmed:.4f}", flush=True)
    import resource
    print(f"  peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
