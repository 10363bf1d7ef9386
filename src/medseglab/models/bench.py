"""Throughput of the VGG-UNet: training steps (forward + backward + update) and inference, images/s.

    python -m medseglab.models.bench --size 64 64 --size 128 128 --batch-size 2 --steps 10

Numbers depend on the machine and on what else runs on it: report them with both.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from medseglab.names import INITS
from medseglab.progress import bar


def measure(height: int, width: int, batch_size: int = 2, steps: int = 10, init: str = "lmi",
            optimizer: str = "adadelta", seed: int = 0) -> dict:
    """Train and predict ``steps`` batches of random images after one warm-up step (graph tracing)."""
    import keras

    from medseglab.models import build_vgg_unet, compile_model

    keras.utils.set_random_seed(seed)
    model, info = build_vgg_unet((height, width, 3), 2, init, seed=seed)
    compile_model(model, {"optimizer": optimizer, "learning_rate": 1.0})
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 255, size=(batch_size, height, width, 3)).astype("float32")
    y = rng.integers(0, 2, size=(batch_size, height, width)).astype("int32")

    start = time.perf_counter()
    model.train_on_batch(x, y)
    first_step_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in bar(range(steps), desc=f"train {height}x{width}", unit="step"):
        model.train_on_batch(x, y)
    train_s = time.perf_counter() - start

    model.predict_on_batch(x)
    start = time.perf_counter()
    for _ in bar(range(steps), desc=f"predict {height}x{width}", unit="batch"):
        model.predict_on_batch(x)
    predict_s = time.perf_counter() - start
    return {
        "height": height, "width": width, "batch_size": batch_size, "steps": steps, "init": init,
        "params": int(model.count_params()), "weights_source": info.source,
        "first_step_s": round(first_step_s, 3),
        "train_images_per_s": round(steps * batch_size / train_s, 3),
        "predict_images_per_s": round(steps * batch_size / predict_s, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m medseglab.models.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--size", nargs=2, type=int, action="append", metavar=("H", "W"),
                        help="input height and width, multiples of 32 (repeatable; default 64 64 and 128 128)")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--init", default="lmi", choices=INITS)
    args = parser.parse_args(argv)
    machine = {"machine": platform.machine(), "cpus": os.cpu_count(), "load_avg_1m": os.getloadavg()[0]}
    for height, width in args.size or [(64, 64), (128, 128)]:
        result = measure(height, width, args.batch_size, args.steps, args.init)
        print(json.dumps({**result, **machine}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
