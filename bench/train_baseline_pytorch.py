#!/usr/bin/python3
"""The Fashion-MNIST demo run under PyTorch, for comparison with `clip train`.

Same model file (from `clip init`), same data, captions, templates, batch size,
learning-rate schedule (AdamW, betas 0.9/0.98, eps 1e-6, wd 0.2 with open_clip's
rule, 5% linear warm-up then cosine), augmentation (RandomResizedCrop scale
0.9-1.0) and loss (plain CLIP loss, or --class-aware), using the independent
model definition of bench/baseline_pytorch.py. Captions are tokenized with
`clip tokenize` (the tokenizer is tested token for token against OpenAI's).

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/train_baseline_pytorch.py \
        --clip build/clip --model init.safetensors --epochs 5 --class-aware --threads 2
"""
import argparse, gzip, json, math, os, struct, subprocess, sys, time

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms as T

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from baseline_pytorch import load_model  # noqa: E402

CLASSES = ["T-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot"]
# src/data/data.c training templates and src/apps/templates.c evaluation templates
TRAIN_TEMPLATES = ["a {}.", "a picture of a {}.", "an item of clothing: a {}.", "this is a {}.",
                   "a product photo of a {}.", "a {} on a plain background."]
EVAL_TEMPLATES = ["a photo of a {}.", "a photo of the {}.", "a close-up photo of a {}.", "a cropped photo of a {}.",
                  "a bright photo of a {}.", "a dark photo of a {}.", "a blurry photo of a {}.",
                  "a photo of a small {}.", "a photo of a large {}.", "a picture showing a {}.", "an image of a {}.",
                  "a drawing of a {}.", "a painting of a {}.", "a black and white photo of a {}.",
                  "a low resolution photo of a {}.", "a good photo of a {}."]
MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
STD = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def tokenize(clip, model_path, texts, context):
    out = subprocess.run([clip, "tokenize", "--context", str(context), "--ids-only",
                          "--vocab", os.environ.get("CLIP_VOCAB", ""), *texts] if os.environ.get("CLIP_VOCAB")
                         else [clip, "tokenize", "--context", str(context), "--ids-only", *texts],
                         capture_output=True, text=True, check=True).stdout
    return torch.tensor([json.loads(line) for line in out.splitlines()], dtype=torch.long)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clip", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--epochs", type=float, default=5)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--class-aware", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    model, arch = load_model(a.model)
    model.train()
    ctx, res = arch["context_length"], arch["image_resolution"]
    train_x, train_y = idx(f"{a.data}/train-images-idx3-ubyte.gz"), idx(f"{a.data}/train-labels-idx1-ubyte.gz")
    test_x, test_y = idx(f"{a.data}/t10k-images-idx3-ubyte.gz"), idx(f"{a.data}/t10k-labels-idx1-ubyte.gz")
    captions = [t.format(c) for c in CLASSES for t in TRAIN_TEMPLATES]
    caption_tokens = tokenize(a.clip, a.model, captions, ctx).view(len(CLASSES), len(TRAIN_TEMPLATES), ctx)
    crop = T.RandomResizedCrop(res, scale=(0.9, 1.0), interpolation=T.InterpolationMode.BICUBIC)

    decay = [p for n, p in model.named_parameters()
             if not (p.ndim < 2 or "bn" in n or "ln" in n or "bias" in n or "logit_scale" in n)]
    no_decay = [p for n, p in model.named_parameters()
                if p.ndim < 2 or "bn" in n or "ln" in n or "bias" in n or "logit_scale" in n]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.2}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.98), eps=1e-6)
    steps_per_epoch = len(train_x) // a.batch_size
    total = int(round(a.epochs * steps_per_epoch))
    warmup = total // 20
    images = torch.from_numpy(train_x.copy()).float().div(255).unsqueeze(1).repeat(1, 3, 1, 1)
    labels = torch.from_numpy(train_y.astype(np.int64))
    t0, c0 = time.time(), time.process_time()
    for step in range(total):
        if step % steps_per_epoch == 0:
            perm = torch.randperm(len(images))
        idxs = perm[(step % steps_per_epoch) * a.batch_size:(step % steps_per_epoch + 1) * a.batch_size]
        x = torch.stack([crop(images[i]) for i in idxs])
        x = (x - MEAN) / STD
        y = labels[idxs]
        tok = caption_tokens[y, torch.randint(len(TRAIN_TEMPLATES), (len(idxs),))]
        lr = a.lr * (step + 1) / warmup if step < warmup else \
            0.5 * (1 + math.cos(math.pi * (step - warmup) / (total - warmup))) * a.lr
        for g in opt.param_groups:
            g["lr"] = lr
        img = F.normalize(model.encode_image(x), dim=-1)
        txt = F.normalize(model.encode_text(tok), dim=-1)
        logits = model.logit_scale.exp() * img @ txt.t()
        if a.class_aware:
            target = (y[:, None] == y[None, :]).float()
            target = target / target.sum(1, keepdim=True)
        else:
            target = torch.arange(len(idxs))
        loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        if (step + 1) % 50 == 0 or step + 1 == total:
            print(json.dumps({"step": step + 1, "loss": round(loss.item(), 5),
                              "samples_per_s": round((step + 1) * a.batch_size / (time.time() - t0), 1)}), flush=True)
    wall, cpu = time.time() - t0, time.process_time() - c0
    model.eval()
    with torch.no_grad():
        prompts = tokenize(a.clip, a.model, [t.format(c) for c in CLASSES for t in EVAL_TEMPLATES], ctx)
        cls = F.normalize(model.encode_text(prompts), dim=-1).view(len(CLASSES), len(EVAL_TEMPLATES), -1).mean(1)
        cls = F.normalize(cls, dim=-1)
        x = torch.from_numpy(test_x.copy()).float().div(255).unsqueeze(1).repeat(1, 3, 1, 1)
        x = (x - MEAN) / STD
        pred = torch.cat([(F.normalize(model.encode_image(x[i:i + 1000]), dim=-1) @ cls.t()).argmax(1)
                          for i in range(0, len(x), 1000)])
        top1 = (pred.numpy() == test_y).mean()
    print(json.dumps({"framework": "pytorch " + torch.__version__, "steps": total, "train_wall_s": round(wall, 1),
                      "train_cpu_s": round(cpu, 1), "samples_per_s": round(total * a.batch_size / wall, 1),
                      "zeroshot_top1": round(float(top1), 4), "class_aware": a.class_aware}))


if __name__ == "__main__":
    main()
