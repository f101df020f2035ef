#!/usr/bin/python3
"""PyTorch baseline for bench_train: the same contrastive training step on the
same model file, timed the same way.

One step = optimizer.zero_grad(), forward of both towers (the independent
model definition of bench/baseline_pytorch.py, in train mode), open_clip's
ClipLoss with the learnable logit scale, backward, clip_grad_norm_(1.0),
AdamW (lr 1e-5, betas 0.9/0.98, eps 1e-6, weight decay 0.2 with open_clip's
rule: none for ndim < 2 or names with bn/ln/bias/logit_scale), then
logit_scale.clamp_(0, log 100). Inputs as in bench_train.c: random pixels
uniform in [-2, 2), captions of --text-len tokens (start, random ids in
1..49000, end; zeros after; capped at the model's context).

As in bench_train, forward+backward (with zero_grad) and clipping+AdamW are
timed separately, the figure of merit is samples per second of the whole
step by process CPU time (median of --iters after --warmup untimed steps),
and the wall-clock one is that of forward+backward.

  OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/train_step_pytorch.py \\
      --model /tmp/clip-bench/small-seed0.safetensors --batch 32,64 --iters 3

Prints one JSON line per batch size (stdout); a human summary goes to stderr.
"""
import argparse
import json
import math
import os
import resource
import statistics
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads libgomp

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from baseline_pytorch import SOT, EOT, load_model, set_threads  # noqa: E402


def clip_loss(image_features, text_features, logit_scale):
    """open_clip's ClipLoss on one process."""
    image_features = F.normalize(image_features, dim=-1)
    text_features = F.normalize(text_features, dim=-1)
    logits_per_image = logit_scale * image_features @ text_features.T
    logits_per_text = logit_scale * text_features @ image_features.T
    labels = torch.arange(image_features.shape[0])
    return (F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_text, labels)) / 2


def make_inputs(batch, arch, text_len, gen):
    R, C = arch["image_resolution"], arch["context_length"]
    pixels = torch.rand(batch, 3, R, R, generator=gen) * 4 - 2
    n = min(text_len, C)
    tokens = torch.zeros(batch, C, dtype=torch.long)
    tokens[:, 0] = SOT
    tokens[:, 1:n - 1] = torch.randint(1, 49001, (batch, n - 2), generator=gen)
    tokens[:, n - 1] = EOT
    return pixels, tokens, n


def make_optimizer(model, lr, wd):
    def excluded(n, p):
        return p.ndim < 2 or "bn" in n or "ln" in n or "bias" in n or "logit_scale" in n
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [{"params": [p for n, p in named if not excluded(n, p)], "weight_decay": wd},
              {"params": [p for n, p in named if excluded(n, p)], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.98), eps=1e-6)


def bench(path, name, batch, a):
    torch.manual_seed(0)
    model, arch = load_model(path)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = make_optimizer(model, 1e-5, 0.2)
    gen = torch.Generator().manual_seed(0x9E3779B9)
    pixels, tokens, n_tokens = make_inputs(batch, arch, a.text_len, gen)
    fb_wall, fb_cpu, opt_cpu, step_wall = [], [], [], []
    loss = torch.zeros(())
    for it in range(-a.warmup, a.iters):
        w0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad()
        loss = clip_loss(model.encode_image(pixels), model.encode_text(tokens), model.logit_scale.exp())
        loss.backward()
        w1, c1 = time.perf_counter(), time.process_time()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        w2, c2 = time.perf_counter(), time.process_time()
        if it >= 0:
            fb_wall.append(w1 - w0)
            fb_cpu.append(c1 - c0)
            opt_cpu.append(c2 - c1)
            step_wall.append(w2 - w0)
    med = statistics.median
    step_cpu = med(fb_cpu) + med(opt_cpu)
    r = {"impl": "pytorch", "torch": torch.__version__, "model": name,
         "params_m": round(sum(p.numel() for p in params) / 1e6, 2), "batch": batch, "threads": a.threads,
         "text_len": n_tokens, "iters": a.iters, "loss": round(float(loss), 4),
         "fb_wall_s": round(med(fb_wall), 4), "fb_cpu_s": round(med(fb_cpu), 4), "opt_cpu_s": round(med(opt_cpu), 4),
         "samples_per_s_cpu": round(batch / step_cpu, 3),
         "fb_samples_per_s_wall": round(batch / med(fb_wall), 3),
         "samples_per_s_wall": round(batch / med(step_wall), 3),
         "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    print(f"{name}: {r['params_m']}M parameters, batch {batch}, {a.threads} thread(s), captions of {n_tokens} tokens, "
          f"loss {r['loss']}\n  forward+backward: {r['fb_wall_s']:.2f} s wall, {r['fb_cpu_s']:.2f} s cpu "
          f"(median of {a.iters}); AdamW + clipping {r['opt_cpu_s']:.3f} s cpu\n"
          f"  {r['samples_per_s_cpu']:.2f} samples/s by cpu time for a whole step "
          f"({r['fb_samples_per_s_wall']:.2f} by wall for forward+backward), peak RSS {r['peak_rss_mib']} MiB",
          file=sys.stderr)
    print(json.dumps(r), flush=True)
    del model, opt


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="safetensors file (clip init, bench_train's cache)")
    ap.add_argument("--name", help="model name in the output (default: the file name up to -seed)")
    ap.add_argument("--batch", default="32", help="comma-separated batch sizes (default 32)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--iters", type=int, default=3, help="timed steps (default 3)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps first (default 1)")
    ap.add_argument("--text-len", type=int, default=77, help="tokens per caption with start/end (default 77)")
    a = ap.parse_args()
    a.iters, a.warmup, a.text_len = max(1, a.iters), max(0, a.warmup), max(2, a.text_len)
    set_threads(a.threads)
    name = a.name or os.path.basename(a.model).split("-seed")[0].removesuffix(".safetensors")
    for b in a.batch.split(","):
        bench(a.model, name, max(2, int(b)), a)


if __name__ == "__main__":
    main()
