#!/usr/bin/env python3
"""Pillow + torchvision baseline for bench/bench_preprocess.c.

Times OpenAI CLIP's preprocessing (clip/clip.py `_transform`) on the JPEGs
bench_preprocess wrote, single-threaded, in CPU time: Image.open + load
(decode), then Resize(BICUBIC) / CenterCrop / convert("RGB") / ToTensor /
Normalize. Also runs Pillow's draft() mode (JPEG DCT scaling, like our
--fast-decode) for comparison.

    /usr/bin/python3 bench/preprocess_baseline.py /tmp/clip-bench-jpegs [seconds]

Needs Debian's python3-pil, python3-torchvision (and python3-numpy).
"""
import glob
import os
import sys
import time

import torch
from PIL import Image
from torchvision.transforms import CenterCrop, Compose, InterpolationMode, Normalize, Resize, ToTensor

SIZE = 224


def transform(n_px):
    return Compose([
        Resize(n_px, interpolation=InterpolationMode.BICUBIC),
        CenterCrop(n_px),
        lambda image: image.convert("RGB"),
        ToTensor(),
        Normalize((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),
    ])


def run(paths, seconds, draft):
    tf = transform(SIZE)
    decode = rest = 0.0
    images = 0
    while decode + rest < seconds:
        for path in paths:
            t0 = time.process_time()
            image = Image.open(path)
            if draft:
                image.draft("RGB", (SIZE, SIZE))
            image.load()
            t1 = time.process_time()
            tf(image)
            t2 = time.process_time()
            decode += t1 - t0
            rest += t2 - t1
            images += 1
    total = decode + rest
    label = "draft" if draft else "exact"
    print(f"{label:6s} {images / total:7.1f} images/s  {1e3 * total / images:6.3f} ms/image "
          f"(decode {1e3 * decode / images:.3f} ms + resize/crop/normalise {1e3 * rest / images:.3f} ms), "
          f"{images} images")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    paths = sorted(glob.glob(os.path.join(sys.argv[1], "bench_*.jpg")))
    if not paths:
        sys.exit(f"no bench_*.jpg in {sys.argv[1]}: run bench_preprocess first")
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
    torch.set_num_threads(1)
    import PIL
    import torchvision
    print(f"Pillow {PIL.__version__} + torchvision {torchvision.__version__}: {len(paths)} JPEGs, "
          f"size {SIZE}, 1 thread, CPU time")
    run(paths, seconds, draft=False)
    run(paths, seconds, draft=True)


if __name__ == "__main__":
    main()
