"""Does mixed precision or XLA speed up training here? fp32 vs bf16 (and XLA) training images/s and
the validation Dice after the same number of steps, on real ISIC 2018 images.

Prepares real ISIC 2018 images into a temp folder (default ../shared/datasets/isic2018, 48 images at
128x128: `train_throughput.setup`), then trains the same VGG-UNet (same seed, same batches) once per
mode with a bare `model.fit` on arrays in memory (`train_throughput.fit_in_memory`, built the way a
training builds it: `training.acceleration`) for 1 warm-up epoch (graph tracing, XLA compilation) +
N measured epochs. Images/s = fitted images / the epochs' training seconds (validation excluded);
CPU s/image = this process's CPU seconds in those seconds per fitted image (on a shared machine the
wall clock follows the other processes' load, the CPU time much less).
Dice = the Dice metric pooled over the split's test images after the last epoch (the same steps for
every mode). Modes (``--modes``, comma-separated, a repeated mode is averaged):

    fp32, fp32+xla, bf16, bf16+xla     float32 / mixed_bfloat16, XLA off / on (op determinism off:
                                       Keras turns XLA off under it, so every mode runs without it)
    fp32-det, bf16-det                 with op determinism (params.yaml's default train.deterministic);
                                       last in --modes: a process cannot turn it off again
    fp16, fp16+xla                     mixed_float16 (for a GPU; emulated and slow on CPUs)
    fp32+amp                           a float32 model whose graph TensorFlow rewrites to bf16 for
                                       oneDNN (grappler auto_mixed_precision_onednn_bfloat16)

    .venv/bin/python benchmarks/precision_throughput.py [--images 48 --size 128 --epochs 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_throughput  # noqa: E402  (the sibling script; benchmarks/ is not a package)

MODES = {
    "fp32": {"precision": "float32", "jit_compile": False, "deterministic": False},
    "fp32+xla": {"precision": "float32", "jit_compile": True, "deterministic": False},
    "bf16": {"precision": "mixed_bfloat16", "jit_compile": False, "deterministic": False},
    "bf16+xla": {"precision": "mixed_bfloat16", "jit_compile": True, "deterministic": False},
    "fp32-det": {"precision": "float32", "jit_compile": False, "deterministic": True},
    "bf16-det": {"precision": "mixed_bfloat16", "jit_compile": False, "deterministic": True},
    "fp16": {"precision": "mixed_float16", "jit_compile": False, "deterministic": False},
    "fp16+xla": {"precision": "mixed_float16", "jit_compile": True, "deterministic": False},
    # float32 Keras model, bf16 by TensorFlow's graph rewrite for oneDNN (not a Keras dtype policy)
    "fp32+amp": {"precision": "float32", "jit_compile": False, "deterministic": False},
}
GRAPPLER = {"fp32+amp": {"auto_mixed_precision_onednn_bfloat16": True}}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", default=str(train_throughput.DEFAULT_SOURCE),
                   help="ISIC 2018 folder (default ../shared/datasets/isic2018)")
    p.add_argument("--images", type=int, default=48, help="images to prepare (default 48; 80%% train, 20%% test)")
    p.add_argument("--size", type=int, default=128, help="square image size, multiple of 32 (default 128)")
    p.add_argument("--epochs", type=int, default=2, help="measured epochs after one warm-up epoch (default 2)")
    p.add_argument("--batch-size", type=int, default=2, help="images per step (default 2, the study's)")
    p.add_argument("--init", default="tii", choices=("lmi", "tii"),
                   help="encoder start (default tii: its Dice moves within a few dozen steps)")
    p.add_argument("--modes", default="fp32,bf16,fp32+xla,bf16+xla",
                   help=f"comma-separated modes in run order, from {', '.join(MODES)} "
                        "(default fp32,bf16,fp32+xla,bf16+xla)")
    p.add_argument("--workdir", default=None, help="where to prepare the data (default: a temp folder)")
    return p.parse_args(argv)


def machine() -> str:
    import tensorflow as tf

    from medseglab.training.acceleration import cpu_has_bf16

    gpus = tf.config.list_logical_devices("GPU")
    where = (f"{len(gpus)} GPU(s)" if gpus else
             "no GPU visible: the GPU measurements (mixed_float16 at 608x416) cannot be made here")
    return (f"{os.cpu_count()} CPUs, bf16 instructions: {'yes' if cpu_has_bf16() else 'no'}, {where}, "
            f"load average {os.getloadavg()[0]:.1f}")


def run_mode(cfg, prepared, splits, key, args, mode: str) -> dict:
    import tensorflow as tf

    cfg = dict(cfg, train={**cfg["train"], **MODES[mode]})
    options = GRAPPLER.get(mode, {})
    tf.config.optimizer.set_experimental_options(options)
    try:
        n_fit, timer, history = train_throughput.fit_in_memory(
            cfg, prepared, splits, key, args.size, args.batch_size, 1 + args.epochs, validate_on="test")
    finally:
        tf.config.optimizer.set_experimental_options({name: False for name in options})
    train_s, cpu_s = timer.train_seconds[1:], timer.train_cpu_seconds[1:]
    return {"rate": n_fit * len(train_s) / sum(train_s), "cpu_per_image": sum(cpu_s) / (n_fit * len(cpu_s)),
            "first_s": timer.seconds[0], "n_fit": n_fit,
            "dice": history["val_dice"][-1], "val_loss": history["val_loss"][-1], "loss": history["loss"][-1]}


def main(argv=None) -> int:
    args = parse_args(argv)
    if not Path(args.source).is_dir():
        print(f"no ISIC data at {args.source}; pass --source", file=sys.stderr)
        return 2
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        print(f"unknown mode(s) {unknown}: use {list(MODES)}", file=sys.stderr)
        return 2
    deterministic = [i for i, m in enumerate(modes) if MODES[m]["deterministic"]]
    if deterministic and any(not MODES[m]["deterministic"] for m in modes[deterministic[0]:]):
        print(f"--modes {args.modes}: put the modes with op determinism ({', '.join(modes[i] for i in deterministic)}) "
              "last: TensorFlow cannot turn it off again in a process, so a later mode would run with it",
              file=sys.stderr)
        return 2
    os.environ.setdefault("MEDSEGLAB_NO_PROGRESS", "1")
    os.environ.setdefault("MEDSEGLAB_OFFLINE", "1")
    from medseglab.tracking.conventions import TrainingKey

    with tempfile.TemporaryDirectory(prefix="medseglab-precision-") as tmp:
        workdir = Path(args.workdir) if args.workdir else Path(tmp)
        os.chdir(workdir)
        _, cfg, prepared, splits = train_throughput.setup(args, workdir)
        key = TrainingKey.make("skin", args.init, 0, 80, 0)
        print(f"ISIC 2018: {len(prepared)} images at {args.size}x{args.size}, batch {args.batch_size}, init {args.init}, "
              f"1 warm-up + {args.epochs} measured epochs per mode; {machine()}")
        results: dict[str, list[dict]] = {}
        for mode in modes:
            result = run_mode(cfg, prepared, splits, key, args, mode)
            results.setdefault(mode, []).append(result)
            print(f"  {mode:>9}: {result['rate']:.3f} images/s, {result['cpu_per_image']:.3f} CPU s/image, first "
                  f"epoch {result['first_s']:.1f} s, test Dice {result['dice']:.4f} (load {os.getloadavg()[0]:.1f})",
                  flush=True)
        steps = (1 + args.epochs) * -(-results[modes[0]][0]["n_fit"] // args.batch_size)
        print(f"\n{'mode':>9} | {'precision':>26} | {'XLA':>5} | {'train images/s':>14} | {'x fp32':>6} | "
              f"{'CPU s/image':>11} | {'speed-up by CPU s':>17} | {'first epoch s':>13} | "
              f"test Dice after {steps} steps | test loss")
        base = {name: _mean(results["fp32"], name) for name in ("rate", "cpu_per_image")} if "fp32" in results else None
        for mode, runs in results.items():
            rate, cpu = _mean(runs, "rate"), _mean(runs, "cpu_per_image")
            ratio = f"{rate / base['rate']:6.2f}" if base else "     -"
            speedup = f"{base['cpu_per_image'] / cpu:17.2f}" if base else f"{'-':>17}"
            precision = MODES[mode]["precision"] + (" +graph bf16" if mode in GRAPPLER else "")
            print(f"{mode:>9} | {precision:>26} | {str(MODES[mode]['jit_compile']).lower():>5} | "
                  f"{rate:14.3f} | {ratio} | {cpu:11.3f} | {speedup} | {_mean(runs, 'first_s'):13.1f} | "
                  f"{_mean(runs, 'dice'):>26.4f} | {_mean(runs, 'val_loss'):.4f}")
        print(f"(one run on a machine whose {os.cpu_count()} CPUs are shared with other work: images/s follows their "
              "load, CPU s/image (this process's CPU time per trained image) much less; compare ratios, not absolute "
              "values. Dice is pooled over the split's test images)")
    return 0


def _mean(runs: list[dict], name: str) -> float:
    return sum(r[name] for r in runs) / len(runs)


if __name__ == "__main__":
    sys.exit(main())
