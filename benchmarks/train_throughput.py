"""Is data feeding the bottleneck of a platform training? Images/s of `train_one` vs a bare `model.fit`,
and what its checkpoints cost per epoch.

Prepares real ISIC 2018 images (default ../shared/datasets/isic2018, 96 images at 128x128), then
trains the same VGG-UNet these ways for 1 warm-up + N measured epochs:

- bare:      `model.fit` on float32/int32 arrays already in memory (the upper bound),
- platform:  `medseglab.training.train_one` (in-memory feeder: the train set fits the budget),
             checkpoints as params.yaml says (`train.checkpoint_interval_s`, background upload),
- sync:      `train_one` checkpointing as before issue #10: every epoch (interval 0), the upload
             into the artifact store synchronous,
- streaming: `train_one` with ``train.in_memory_mb=0`` (PNG decode in worker threads + prefetch).

Images/s = fitted images / epoch seconds (fit + validation, up to `on_epoch_end`). The checkpoint
overhead comes after that: the run's ``checkpoint_seconds`` (what the training waited for saves
and uploads, the last upload included) per trained epoch, printed per mode and as the ratio
platform / sync. Prints one line per mode and the ratios to bare (target >= 0.95).

    .venv/bin/python benchmarks/train_throughput.py [--images 96 --size 128 --epochs 2 --batch-size 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT / ".." / "shared" / "datasets" / "isic2018"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", default=str(DEFAULT_SOURCE), help="ISIC 2018 folder (default ../shared/datasets/isic2018)")
    p.add_argument("--images", type=int, default=96, help="images to prepare (default 96)")
    p.add_argument("--size", type=int, default=128, help="square image size, multiple of 32 (default 128)")
    p.add_argument("--epochs", type=int, default=2, help="measured epochs after one warm-up epoch (default 2)")
    p.add_argument("--batch-size", type=int, default=2)
    p.add_argument("--init", default="lmi", choices=("lmi", "tii"))
    p.add_argument("--modes", default="bare,sync,platform,streaming,bare",
                   help="comma-separated modes in run order; a repeated mode is averaged "
                        "(default bare,sync,platform,streaming,bare)")
    p.add_argument("--workdir", default=None, help="where to prepare data and track runs (default: a temp folder)")
    return p.parse_args(argv)


class EpochTimer:
    """Keras callback recording each epoch's seconds (begin -> end) in ``seconds``, its training part
    alone (begin -> last training batch, before validation) in ``train_seconds``, and the CPU seconds
    of this process in that part (all its threads; what other processes' load does not inflate) in
    ``train_cpu_seconds``."""

    def __new__(cls):
        import keras

        class _Timer(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.seconds = []
                self.train_seconds = []
                self.train_cpu_seconds = []

            def on_epoch_begin(self, epoch, logs=None):
                self._start = self._last_batch = time.perf_counter()
                self._cpu_start = self._last_cpu = time.process_time()

            def on_train_batch_end(self, batch, logs=None):
                self._last_batch, self._last_cpu = time.perf_counter(), time.process_time()

            def on_epoch_end(self, epoch, logs=None):
                self.seconds.append(time.perf_counter() - self._start)
                self.train_seconds.append(self._last_batch - self._start)
                self.train_cpu_seconds.append(self._last_cpu - self._cpu_start)

        return _Timer()


def setup(args, workdir: Path):
    from medseglab.config import load_params
    from medseglab.study.inputs import ensure_prepared_dataset, ensure_splits, study_config

    params = load_params(ROOT / "params.yaml", [
        f"profiles.demo.image_size=[{args.size},{args.size}]",
        f"profiles.demo.max_images={args.images}",
        f"profiles.demo.epochs={1 + args.epochs}",
        f"profiles.demo.batch_size={args.batch_size}",
        "tracking.register_models=false",
    ])
    cfg = study_config(params, "skin", "demo", source=str(Path(args.source).resolve()), format="isic2018")
    prepared = ensure_prepared_dataset(cfg, workdir / "prepared")
    splits, _ = ensure_splits(cfg, prepared, workdir / "splits")
    return params, cfg, prepared, splits


def bare(cfg, prepared, splits, key, args):
    """Plain model.fit on arrays in memory: same model, same fit/validation images, same batch size."""
    n_fit, timer, _ = fit_in_memory(cfg, prepared, splits, key, args.size, args.batch_size, 1 + args.epochs)
    return n_fit, timer.seconds[1:], None


def fit_in_memory(cfg, prepared, splits, key, size: int, batch_size: int, epochs: int, validate_on: str = "val"):
    """`model.fit` on float32/int32 arrays in memory, built as a training builds it (the ``train:``
    section's precision, XLA and replication; the training's seed). ``validate_on``: "val" (the
    training's validation part of the train set) or "test" (the split's test set). Returns (fitted
    images, the `EpochTimer` of every epoch, the Keras history dict)."""
    import numpy as np

    from medseglab.models import build_vgg_unet, compile_model
    from medseglab.splits import train_test_ids
    from medseglab.training.acceleration import build_scope, compile_config, resolve_acceleration
    from medseglab.training.train import _seed_everything
    from medseglab.training.validation import split_validation

    train = cfg["train"]
    seed = key.seed(int(train.get("seed", 0)))
    _seed_everything(seed, bool(train.get("deterministic", True)))
    train_ids, test_ids = train_test_ids(splits, key.split, key.ratio)
    groups = prepared.manifest.set_index("image_id").loc[train_ids, "group_id"].astype(str).tolist()
    fit_ids, val_ids = split_validation(train_ids, groups, float(train["val_fraction"]), seed)
    if validate_on == "test":
        val_ids = test_ids
    x = prepared.load_images(fit_ids).astype(np.float32)
    y = prepared.load_masks(fit_ids).astype(np.int32)
    val = (prepared.load_images(val_ids).astype(np.float32), prepared.load_masks(val_ids).astype(np.int32))
    acc = resolve_acceleration(train)
    with build_scope(acc):
        model, _ = build_vgg_unet((size, size, 3), 2, key.init, train.get("weights_path"), seed)
        compile_model(model, compile_config(train, acc))
    timer = EpochTimer()
    history = model.fit(x, y, batch_size=batch_size, epochs=epochs, validation_data=val if val_ids else None,
                        callbacks=[timer], verbose=0)
    return len(fit_ids), timer, history.history


def platform(params, cfg, prepared, splits, key, args, workdir: Path, mode: str, store: Path):
    """One `train_one` in a store of its own; returns (fitted images, measured epoch seconds, whole
    training seconds, checkpoint seconds per epoch, saves)."""
    import functools

    import medseglab.training.checkpoint as checkpoint
    import medseglab.training.upload as upload
    from medseglab.training.train import Tracking, train_one

    extra = {"streaming": {"in_memory_mb": 0}, "sync": {"checkpoint_interval_s": 0}}.get(mode, {})
    cfg = dict(cfg, train={**cfg["train"], **extra})
    store.mkdir(parents=True, exist_ok=True)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{store / 'mlflow.db'}"
    tracking = Tracking.open(params, "skin", profile="demo")
    tracking.checkpoint_root = store / "checkpoints"
    saves = []
    real_save, real_upload = checkpoint.save_checkpoint, upload.BackgroundUpload

    def counted_save(*a, **kw):
        saves.append(1)
        return real_save(*a, **kw)

    checkpoint.save_checkpoint = counted_save
    if mode == "sync":  # the upload in the training thread, as before issue #10
        upload.BackgroundUpload = functools.partial(real_upload, synchronous=True)
    try:
        start = time.perf_counter()
        result = train_one(cfg, key, prepared, splits, tracking=tracking)
        wall = time.perf_counter() - start
    finally:
        checkpoint.save_checkpoint, upload.BackgroundUpload = real_save, real_upload
    client = tracking.client  # this mode's store: a bare MlflowClient() found no run of the second mode
    run = client.get_run(result.run_id)
    seconds = [m.value for m in sorted(client.get_metric_history(result.run_id, "epoch_seconds"), key=lambda m: m.step)]
    n_fit = int(run.data.params["training.n_fit"])
    return n_fit, seconds[1:], wall, run.data.metrics["checkpoint_seconds"] / len(seconds), len(saves)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not Path(args.source).is_dir():
        print(f"no ISIC data at {args.source}; pass --source", file=sys.stderr)
        return 2
    os.environ.setdefault("MEDSEGLAB_NO_PROGRESS", "1")
    os.environ.setdefault("MEDSEGLAB_OFFLINE", "1")
    from medseglab.tracking.conventions import TrainingKey

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    with tempfile.TemporaryDirectory(prefix="medseglab-bench-") as tmp:
        workdir = Path(args.workdir) if args.workdir else Path(tmp)
        os.chdir(workdir)
        params, cfg, prepared, splits = setup(args, workdir)
        key = TrainingKey.make("skin", args.init, 0, 80, 0)
        print(f"ISIC 2018: {len(prepared)} images at {args.size}x{args.size}, batch {args.batch_size}, "
              f"{args.epochs} measured epochs after 1 warm-up, init {args.init}, "
              f"{os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.1f})")
        interval = cfg["train"].get("checkpoint_interval_s")
        rates, overhead, epoch_s = {}, {}, {}
        for mode in modes:
            if mode == "bare":
                n, seconds, wall = bare(cfg, prepared, splits, key, args)
                extra = ""
            elif mode in ("platform", "sync", "streaming"):
                # A store per launch: a repeated mode would find its finished run and skip it.
                store = workdir / f"runs-{mode}-{len(rates.get(mode, []))}"
                n, seconds, wall, ckpt, saves = platform(params, cfg, prepared, splits, key, args, workdir, mode, store)
                overhead.setdefault(mode, []).append(ckpt)
                epoch_s.setdefault(mode, []).append(sum(seconds) / len(seconds))
                extra = (f", whole training incl. checkpoints, test set and MLflow {wall:.1f} s; checkpoints: "
                         f"{saves} saved, {ckpt:.2f} s waited per epoch")
            else:
                print(f"unknown mode {mode!r}", file=sys.stderr)
                return 2
            rate = n * len(seconds) / sum(seconds)
            rates.setdefault(mode, []).append(rate)  # a mode listed twice (e.g. bare first and last) is averaged
            print(f"{mode:>10}: {rate:6.2f} images/s  ({n} images x {len(seconds)} epochs, "
                  f"epoch s {', '.join(f'{s:.1f}' for s in seconds)}{extra})")
        mean = {mode: sum(values) / len(values) for mode, values in rates.items()}
        for mode in mean:
            if mode != "bare" and "bare" in mean:
                print(f"{mode:>10} / bare = {mean[mode] / mean['bare']:.3f}  (target >= 0.95)")
        ckpt = {mode: sum(values) / len(values) for mode, values in overhead.items()}
        if "sync" in ckpt and "platform" in ckpt:
            fit_s = sum(epoch_s["platform"]) / len(epoch_s["platform"])
            print(f"checkpoint overhead per epoch: before (every epoch, synchronous upload) {ckpt['sync']:.2f} s, "
                  f"after (interval {interval} s, background upload) {ckpt['platform']:.2f} s; "
                  f"after / before = {ckpt['platform'] / max(ckpt['sync'], 1e-9):.3f}; "
                  f"{100 * ckpt['sync'] / fit_s:.1f} % -> {100 * ckpt['platform'] / fit_s:.1f} % of an epoch's fit time")
        print(f"(times from one run on a machine whose {os.cpu_count()} CPUs may be shared with other work: "
              "compare the ratios, not the absolute seconds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
