"""Grad-CAM throughput: batched (one forward, one backward per class, per batch) vs the plain
per-image reference (one eager forward and backward per image and class), same model and images.

    .venv/bin/python benchmarks/gradcam_throughput.py [--size 128] [--n 16] [--batch-size 8] [--init lmi]

Uses real ISIC 2018 images from ../shared/datasets (resized); prints images/s of both, their
ratio and the largest difference between the two maps (they must agree to 1e-5 of the map scale).
Both paths are warmed up once first (graph tracing is not counted).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ISIC = ROOT / ".." / "shared" / "datasets" / "isic2018" / "ISIC2018_Task1-2_Training_Input"


def load_images(n: int, size: int) -> np.ndarray:
    from PIL import Image

    paths = sorted(ISIC.glob("ISIC_*.jpg"))[:n]
    if len(paths) < n:
        sys.exit(f"need {n} ISIC images in {ISIC}, found {len(paths)}")
    return np.stack([np.asarray(Image.open(p).convert("RGB").resize((size, size), Image.BILINEAR), np.float32)
                     for p in paths])


def timed(fn, repeats: int) -> tuple[float, np.ndarray]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--init", default="lmi", choices=["lmi", "tii"])
    parser.add_argument("--repeats", type=int, default=2, help="timed runs of each path; the best counts")
    parser.add_argument("--json", default=None, help="also write the numbers to this file")
    args = parser.parse_args()

    import tensorflow as tf

    from medseglab.explain.gradcam import GradCam
    from medseglab.explain.gradcam_reference import gradcam_per_image
    from medseglab.models import LAST_CONV_LAYER, build_vgg_unet

    images = load_images(args.n, args.size)
    model, info = build_vgg_unet((args.size, args.size, 3), init=args.init, seed=0)
    cam = GradCam(model)

    def batched():
        return np.concatenate([cam(images[i:i + args.batch_size]) for i in range(0, len(images), args.batch_size)])

    def reference():
        return gradcam_per_image(model, images, layer=LAST_CONV_LAYER)

    batched()  # trace the graph once
    gradcam_per_image(model, images[:1], layer=LAST_CONV_LAYER)
    t_batched, maps = timed(batched, args.repeats)
    t_ref, ref = timed(reference, args.repeats)
    scale = max(float(np.abs(ref).max()), 1e-12)
    result = {
        "device": tf.config.list_physical_devices("GPU")[0].name if tf.config.list_physical_devices("GPU") else "cpu",
        "cpu_count": os.cpu_count(), "size": args.size, "n_images": args.n, "batch_size": args.batch_size,
        "init": args.init, "weights": info.source, "layer": cam.layer,
        "batched_images_per_s": args.n / t_batched, "reference_images_per_s": args.n / t_ref,
        "speedup": t_ref / t_batched, "max_abs_diff_over_scale": float(np.abs(maps - ref).max()) / scale,
    }
    print(f"Grad-CAM, VGG-UNet {args.size}x{args.size} ({args.init}), {args.n} ISIC images, classes 0 and 1, "
          f"layer {cam.layer}, {result['device']}")
    print(f"  batched (batch {args.batch_size}): {result['batched_images_per_s']:.2f} images/s")
    print(f"  per-image reference:  {result['reference_images_per_s']:.2f} images/s")
    print(f"  speed-up {result['speedup']:.2f}x; max |difference| / map scale = {result['max_abs_diff_over_scale']:.1e}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
