"""Per-image metrics throughput: ``per_image_metrics`` vs a per-image scikit-learn loop.

Synthetic but realistic batches: 0-3 elliptic blobs per image as ground truth (some images
empty, as most CT slices are) and a noisy softmax-like probability map around them. The
images are made and scored in chunks so memory stays bounded. Three timings, in images/s:

- ``per_image_metrics`` on float32 maps (exact rank AUROC: a sort per image);
- ``per_image_metrics`` on uint8 maps (``probabilities.npz``; exact 256-bin histogram AUROC);
- scikit-learn per image: ``confusion_matrix`` + ``roc_auc_score`` (+ the ratio formulas), on
  the first ``--sklearn-images`` images only (it is slow), then compared on those images.

Usage: python benchmarks/metrics_throughput.py [--images 1000] [--size 512] [--chunk 50]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix, roc_auc_score

from medseglab.evaluation import per_image_metrics
from medseglab.evaluation.metrics import METRIC_NAMES
from medseglab.evaluation.probabilities import quantize
from medseglab.progress import bar


def make_chunk(rng: np.random.Generator, n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(prob float32, gt bool) of n images size x size."""
    yy, xx = np.mgrid[:size, :size].astype(np.float32) / size
    gt = np.zeros((n, size, size), bool)
    for i in range(n):
        for _ in range(rng.choice(4, p=[0.1, 0.5, 0.3, 0.1])):
            cy, cx = rng.uniform(0.15, 0.85, 2)
            ry, rx = rng.uniform(0.04, 0.25, 2)
            gt[i] |= ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
    logits = np.where(gt, np.float32(2.5), np.float32(-2.5)) + rng.normal(0, 2.0, gt.shape).astype(np.float32)
    prob = 1 / (1 + np.exp(-logits))
    return prob.astype(np.float32), gt


def sklearn_metrics(prob: np.ndarray, gt: np.ndarray, threshold: float) -> pd.DataFrame:
    """The same table from scikit-learn, one image at a time (the baseline)."""
    rows = []
    for p, g in zip(prob, gt):
        y, scores = g.ravel(), p.ravel()
        tn, fp, fn, tp = (int(v) for v in confusion_matrix(y, scores >= threshold, labels=[0, 1]).ravel())
        nan = float("nan")
        two_classes = 0 < tp + fn < y.size
        tpr = tp / (tp + fn) if tp + fn else nan
        fpr = fp / (fp + tn) if fp + tn else nan
        rows.append(
            {
                "tp": tp, "fp": fp, "fn": fn, "tn": tn,
                "dice": 2 * tp / (2 * tp + fp + fn) if tp + fn else nan,
                "sensitivity": tpr,
                "specificity": tn / (tn + fp) if tn + fp else nan,
                "precision": tp / (tp + fp) if tp + fp else nan,
                "fpr": fpr,
                "auroc_mask": (1 + tpr - fpr) / 2 if two_classes else nan,
                "auroc_prob": roc_auc_score(y, scores) if two_classes else nan,
            }
        )
    return pd.DataFrame(rows)


def max_abs_difference(ours: pd.DataFrame, ref: pd.DataFrame) -> float:
    """Largest |difference| over counts and metrics; inf if NaN appears in one table only."""
    worst = 0.0
    for name in ("tp", "fp", "fn", "tn", *METRIC_NAMES):
        a, b = ours[name].to_numpy(np.float64), ref[name].to_numpy(np.float64)
        if not np.array_equal(np.isnan(a), np.isnan(b)):
            return float("inf")
        both = ~np.isnan(a)
        if both.any():
            worst = max(worst, float(np.abs(a[both] - b[both]).max()))
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--chunk", type=int, default=50, help="images per chunk (bounds memory)")
    parser.add_argument("--sklearn-images", type=int, default=100, help="images the slow baseline scores")
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    warm_prob, warm_gt = make_chunk(np.random.default_rng(args.seed + 1), 2, 32)  # first-call costs
    per_image_metrics(warm_prob, warm_gt), per_image_metrics(quantize(warm_prob), warm_gt)
    sklearn_metrics(warm_prob, warm_gt, args.threshold)
    timings = {"float32": 0.0, "uint8": 0.0, "sklearn": 0.0}
    n_sklearn = 0
    ours_f, ours_u, ref_f, ref_u = [], [], [], []
    n_empty = 0
    with bar(total=args.images, desc="metrics benchmark", unit="img") as progress:
        for start in range(0, args.images, args.chunk):
            n = min(args.chunk, args.images - start)
            prob, gt = make_chunk(rng, n, args.size)
            codes = quantize(prob)
            n_empty += int((~gt.any(axis=(1, 2))).sum())

            t0 = time.perf_counter()
            table_f = per_image_metrics(prob, gt, args.threshold)
            t1 = time.perf_counter()
            table_u = per_image_metrics(codes, gt, args.threshold)
            t2 = time.perf_counter()
            timings["float32"] += t1 - t0
            timings["uint8"] += t2 - t1

            take = max(0, min(n, args.sklearn_images - n_sklearn))
            if take:
                t3 = time.perf_counter()
                ref = sklearn_metrics(prob[:take], gt[:take], args.threshold)
                timings["sklearn"] += time.perf_counter() - t3
                ref_f.append(ref)
                ref_u.append(sklearn_metrics(codes[:take].astype(np.float64) / 255, gt[:take], args.threshold))
                ours_f.append(table_f.iloc[:take])
                ours_u.append(table_u.iloc[:take])
                n_sklearn += take
            progress.update(n)

    rate = {
        "float32": args.images / timings["float32"],
        "uint8": args.images / timings["uint8"],
        "sklearn": n_sklearn / timings["sklearn"] if n_sklearn else float("nan"),
    }
    concat = lambda parts: pd.concat(parts, ignore_index=True)  # noqa: E731
    diff_f = max_abs_difference(concat(ours_f), concat(ref_f)) if n_sklearn else float("nan")
    diff_u = max_abs_difference(concat(ours_u), concat(ref_u)) if n_sklearn else float("nan")
    print(f"{args.images} images of {args.size}x{args.size} ({n_empty} with empty ground truth), "
          f"chunks of {args.chunk}, threshold {args.threshold}")
    print(f"per_image_metrics, float32 maps: {rate['float32']:9.1f} images/s  ({timings['float32']:.2f} s)")
    print(f"per_image_metrics, uint8 maps:   {rate['uint8']:9.1f} images/s  ({timings['uint8']:.2f} s)")
    print(f"scikit-learn loop ({n_sklearn} images): {rate['sklearn']:9.1f} images/s  ({timings['sklearn']:.2f} s)")
    for name in ("float32", "uint8"):
        ratio = rate[name] / rate["sklearn"]
        verdict = "meets" if ratio >= 20 else "misses"
        print(f"speed-up {name}: {ratio:6.1f}x ({verdict} the 20x target)")
    print(f"agreement with scikit-learn on {n_sklearn} images: max |difference| float32 {diff_f:.3g}, "
          f"uint8 {diff_u:.3g} ({'agree' if max(diff_f, diff_u) <= 1e-9 else 'DISAGREE'} to 1e-9)")
    return 0 if max(diff_f, diff_u) <= 1e-9 else 1


if __name__ == "__main__":
    raise SystemExit(main())
