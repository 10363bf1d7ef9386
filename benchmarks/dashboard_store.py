"""A synthetic tracking store at the paper's scale for the dashboard benchmark (issue #9).

One study of dataset ``skin``: 2 inits x 5 splits x 5 ratios x 15 repeats = 750 training runs, each
tested on the same number of images as the paper's skin test set (2,758), so the parent's
``study/per_image.parquet`` has 2,068,500 rows. (The paper runs 5 repeats per dataset over 3
datasets = 750 runs in three studies; one study of 750 is the dashboard's worst case: every page
reads one study.) What the dashboard reads is written the way the platform writes it:

- every run: the training's tags, its flattened config as params, final and per-epoch metrics
  (``MlflowClient.log_batch``), ``evaluation/per_image.parquet``;
- ratio-80 runs also ``evaluation/probabilities.npz`` (the ensemble stage and image views read them);
- the parent: ``study/per_image.parquet``, ``study/runs.csv``, ``splits/split_report.csv`` and
  ``split_overlap.csv`` (``medseglab.splits`` on the table's test sets), study metrics, then ``stats/`` from the
  real stats stage (``stats.stage.table_stats`` on the synthetic table, per-repeat level: there are
  no probability maps for the depleted ratios), ``ensemble/`` from the real ensemble stage
  (``ensemble.stage.study_ensemble``) and an ``explain/`` folder of the explain pipeline's files
  written with its own writers from synthetic Grad-CAM maps and UMAP coordinates (the real stage
  needs 30 trained Keras models);
- a prepared dataset (``data/prepared/skin``: 64 x 64 PNGs, the demo profile's size, with the
  table's image ids) whose content hash is the study's ``medseglab.data_hash``.

The store lives in ``<--store>/<key>/`` (``key`` from the parameters) and is reused when complete.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

DATASET = "skin"
PROFILE = "paper"
SIZE = 64  # demo profile image size; synthetic_study's pixel counts are 64 * 64
EPOCHS = 40  # SPEC 3 (skin): per-epoch history rows per run
HISTORY = ("loss", "dice", "accuracy", "val_loss", "val_dice", "val_accuracy", "epoch_seconds")


@dataclass(frozen=True)
class Grid:
    """The study's grid; ``runs`` = 2 inits x splits x ratios x repeats."""

    splits: tuple[int, ...]
    ratios: tuple[int, ...]
    repeats: tuple[int, ...]
    images: int
    epochs: int = EPOCHS
    bootstrap: int = 2000

    @property
    def runs(self) -> int:
        return 2 * len(self.splits) * len(self.ratios) * len(self.repeats)

    def key(self) -> str:
        return "v2-" + hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]


FULL = Grid(splits=(0, 1, 2, 3, 4), ratios=(80, 60, 40, 20, 10), repeats=tuple(range(15)), images=2758)
QUICK = Grid(splits=(0, 1), ratios=(80, 20), repeats=(0, 1, 2), images=200, epochs=5, bootstrap=200)


@dataclass
class Store:
    """A built store: its folder, URI, study run id and how long it took to build."""

    root: Path
    uri: str
    study_run_id: str
    grid: Grid
    build_seconds: float
    reused: bool
    steps: dict
    sample_image: str = "img0"  # a test image of split 0 at ratio 80 (the drill-down's deep link)

    @property
    def prepared(self) -> Path:
        return self.root / "data" / "prepared" / DATASET


def _params(root: Path, grid: Grid) -> dict:
    from medseglab.config import load_params

    params = load_params(Path(__file__).resolve().parents[1] / "params.yaml")
    params["tracking"] = {**params["tracking"], "uri": f"sqlite:///{root / 'mlflow.db'}",
                          "artifact_root": str(root / "mlartifacts"), "register_models": False}
    params["stats"] = {**params["stats"], "bootstrap": grid.bootstrap}
    return params


def _png(array: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def _masks(table, ids: list[str]) -> np.ndarray:
    """One disc per image with the table's ground-truth area (tp + fn pixels of 64 x 64)."""
    first = table.drop_duplicates("image_id").set_index("image_id")
    area = (first["tp"] + first["fn"]).reindex(ids).to_numpy(dtype=float)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    rng = np.random.default_rng(1)
    centre = rng.uniform(SIZE * 0.35, SIZE * 0.65, size=(len(ids), 2))
    radius = np.sqrt(area / np.pi)
    dist = np.hypot(yy[None] - centre[:, 0, None, None], xx[None] - centre[:, 1, None, None])
    return (dist < radius[:, None, None]).astype(np.uint8)


def write_prepared(folder: Path, table) -> tuple[str, list[str], np.ndarray]:
    """The prepared dataset of the table's images (ARCHITECTURE.md layout); returns its content hash,
    the image ids and their masks."""
    import pandas as pd

    ids = sorted(table["image_id"].unique(), key=lambda s: int(s[3:]))
    masks = _masks(table, ids)
    labels = table.drop_duplicates("image_id").set_index("image_id")["clinical_label"].reindex(ids)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2)
    hashes = []
    for k, image_id in enumerate(ids):
        skin = np.full((SIZE, SIZE, 3), (205, 160, 140), np.uint8) + rng.integers(0, 20, (SIZE, SIZE, 3), dtype=np.uint8)
        skin[masks[k] == 1] = (110, 70, 60)
        image_png, mask_png = _png(skin), _png(masks[k])
        (folder / "images" / f"{image_id}.png").write_bytes(image_png)
        (folder / "masks" / f"{image_id}.png").write_bytes(mask_png)
        hashes.append(hashlib.sha256(image_png + mask_png).hexdigest())
    content_hash = hashlib.sha256("".join(sorted(hashes)).encode()).hexdigest()
    manifest = pd.DataFrame({
        "image_id": ids, "group_id": ids, "clinical_label": labels.to_numpy(),
        "source_image": [f"synthetic/{i}.png" for i in ids], "source_mask": [f"synthetic/{i}_mask.png" for i in ids],
        "content_hash": hashes, "target_fraction": masks.reshape(len(ids), -1).mean(axis=1), "synthetic": True,
    })
    manifest.to_parquet(folder / "manifest.parquet", index=False)
    info = {"name": DATASET, "format": "synthetic", "source": None, "synthetic": True, "image_size": [SIZE, SIZE],
            "n_images": len(ids), "prepare_config": {"format": "synthetic", "benchmark": "dashboard_latency"},
            "content_hash": content_hash, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (folder / "dataset.json").write_text(json.dumps(info, indent=2))
    return content_hash, ids, masks


def _batches(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _log(client, run_id: str, params: dict | None = None, metrics: list | None = None, tags: dict | None = None):
    from mlflow.entities import Metric, Param, RunTag

    for chunk in _batches([Param(k, v) for k, v in (params or {}).items()], 100):
        client.log_batch(run_id, params=chunk)
    for chunk in _batches([RunTag(k, v) for k, v in (tags or {}).items()], 100):
        client.log_batch(run_id, tags=chunk)
    for chunk in _batches(metrics or [], 1000):
        client.log_batch(run_id, metrics=chunk)


def _history(rng, epochs: int, now_ms: int) -> list:
    from mlflow.entities import Metric

    rows = []
    for epoch in range(epochs):
        progress = (epoch + 1) / epochs
        values = {"loss": 0.6 * (1 - progress) + 0.05, "dice": 0.5 + 0.4 * progress, "accuracy": 0.8 + 0.15 * progress,
                  "val_loss": 0.65 * (1 - progress) + 0.08, "val_dice": 0.45 + 0.4 * progress,
                  "val_accuracy": 0.78 + 0.15 * progress, "epoch_seconds": 30.0}
        for name in HISTORY:
            rows.append(Metric(name, float(values[name] + rng.normal(0, 0.01)), now_ms + epoch, epoch))
    return rows


def _probabilities(masks: np.ndarray, ids: list[str], wanted: list[str], shift: int) -> np.ndarray:
    """uint8 maps near the ground truth (rolled a little per run), compressible like real outputs."""
    index = {image_id: k for k, image_id in enumerate(ids)}
    chosen = masks[[index[i] for i in wanted]]
    prob = np.where(np.roll(chosen, shift, axis=2) == 1, 230, 12).astype(np.uint8)
    return prob


def _runs_and_tables(client, params, grid: Grid, table, exp_id: str, parent_id: str, tags: dict,
                     masks: np.ndarray, ids: list[str]):
    """The 750 child runs: tags, params, metrics, evaluation/ artifacts; returns (runs.csv rows, table)."""
    import pandas as pd
    from mlflow.entities import Metric

    from medseglab.config import resolve
    from medseglab.tracking import conventions as C
    from medseglab.tracking.store import file_path

    flat = C.mlflow_params(resolve(params, DATASET, PROFILE))
    models = table[["init", "split", "ratio", "repeat", "run_id"]].drop_duplicates("run_id")
    rng = np.random.default_rng(3)
    mapping, rows = {}, []
    now = int(time.time() * 1000)
    groups = dict(tuple(table.groupby("run_id", sort=False)))
    for model in models.itertuples():
        key = C.TrainingKey.make(DATASET, model.init, model.split, model.ratio, model.repeat)
        run = client.create_run(exp_id, run_name=key.name,
                                tags={**tags, C.KIND: "training", **key.tags(), C.PARENT: parent_id,
                                      C.EPOCHS_DONE: str(grid.epochs)})
        run_id = run.info.run_id
        mapping[model.run_id] = run_id
        part = groups[model.run_id].assign(run_id=run_id)
        finals = {}
        for metric in ("dice", "auroc_mask", "sensitivity", "specificity"):
            finals[f"test_{metric}_median"] = float(part[metric].median())
            finals[f"test_{metric}_mean"] = float(part[metric].mean())
        finals.update(fit_seconds=1200.0, predict_seconds=40.0)
        metrics = [Metric(k, v, now, 0) for k, v in finals.items()] + _history(rng, grid.epochs, now)
        _log(client, run_id, params={**flat, "training.key": key.name, "training.seed": str(key.seed(0)),
                                     "training.n_test": str(len(part))}, metrics=metrics)
        folder = file_path(run.info.artifact_uri) / "evaluation"
        folder.mkdir(parents=True, exist_ok=True)
        part.to_parquet(folder / "per_image.parquet", index=False)
        if model.ratio == 80:
            wanted = part["image_id"].tolist()
            np.savez_compressed(folder / "probabilities.npz", image_ids=np.asarray(wanted, dtype=str),
                                prob=_probabilities(masks, ids, wanted, shift=int(model.repeat) % 3))
        client.set_terminated(run_id, "FINISHED")
        rows.append({"dataset": DATASET, "init": model.init, "split": int(model.split), "ratio": int(model.ratio),
                     "repeat": int(model.repeat), "key": key.name, "run_id": run_id, "status": "trained"})
    table = table.assign(run_id=table["run_id"].map(mapping))
    return pd.DataFrame(rows), table


def _split_tables(client, parent_id: str, table, prepared: Path, folder: Path) -> None:
    """``splits/split_report.csv`` and ``split_overlap.csv`` on the parent, as a study logs them, made by
    ``medseglab.splits`` from the table's test sets (train = the other prepared images)."""
    import pandas as pd

    from medseglab.splits.report import split_overlap, split_report

    manifest = pd.read_parquet(prepared / "manifest.parquet")
    every = manifest["image_id"].to_numpy()
    rows = []
    for (split, ratio), part in table.groupby(["split", "ratio"]):
        test = part["image_id"].unique()
        train = every[~pd.Index(every).isin(test)]
        rows.append(pd.DataFrame({"split": int(split), "ratio": int(ratio), "image_id": test, "subset": "test"}))
        rows.append(pd.DataFrame({"split": int(split), "ratio": int(ratio), "image_id": train, "subset": "train"}))
    splits = pd.concat(rows, ignore_index=True)
    split_report(splits, manifest).to_csv(folder / "split_report.csv", index=False)
    split_overlap(splits).to_csv(folder / "split_overlap.csv", index=False)
    for name in ("split_report.csv", "split_overlap.csv"):
        client.log_artifact(parent_id, str(folder / name), artifact_path="splits")


def _explain_standin(client, params: dict, root: Path, study_run_id: str, grid: Grid, table, masks, ids) -> None:
    """The explain/ folder with the pipeline's files and writers; Grad-CAM maps and UMAP coordinates
    are synthetic (the real stage needs the trainings' Keras models)."""
    import pandas as pd

    from medseglab.explain import embedding as emb
    from medseglab.explain import figures as fig
    from medseglab.explain.pipeline import CLASSES
    from medseglab.io import write_csv, write_json, write_parquet
    from medseglab.stats.provenance import UNKNOWN

    split = int(json.loads((root / "reports" / DATASET / "selection.json").read_text()).get("split", 0) or 0) \
        if (root / "reports" / DATASET / "selection.json").is_file() else 0
    part = table[(table["split"] == split) & (table["ratio"] == 80)]
    test_ids = sorted(part["image_id"].unique(), key=lambda s: int(s[3:]))
    labels = part.drop_duplicates("image_id").set_index("image_id")["clinical_label"].reindex(test_ids)
    out = root / "reports" / DATASET / "explain"
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(4)
    index = {image_id: k for k, image_id in enumerate(ids)}
    gt = masks[[index[i] for i in test_ids]]
    cam = (np.stack([1 - gt, gt], axis=1) * 200 + 20).astype(np.uint8)  # (N, 2, H, W) near the mask
    runs = {}
    for init in ("lmi", "tii"):
        run_ids = sorted(part.loc[part["init"] == init, "run_id"].unique())
        runs[init] = run_ids
        np.savez_compressed(out / f"gradcam_{init}.npz", image_ids=np.asarray(test_ids, dtype=str), cam=cam,
                            scale=np.ones((len(test_ids), 2), np.float32), classes=np.asarray(CLASSES),
                            layer=np.asarray("block5_conv3"), average=np.asarray("normalised"),
                            run_ids=np.asarray(run_ids, dtype=str))
    frames = []
    for init in ("lmi", "tii"):
        for cls in CLASSES:
            xy = rng.normal(size=(len(test_ids), 2)) + labels.astype("category").cat.codes.to_numpy()[:, None]
            frames.append(pd.DataFrame({"image_id": test_ids, "init": init, "clinical_label": labels.to_numpy(),
                                        "class": cls, "x": xy[:, 0], "y": xy[:, 1], "pooled_over": "predicted",
                                        "n_neighbors": 15}))
    embedding = pd.concat(frames, ignore_index=True)
    write_parquet(out / "embedding.parquet", embedding)
    emb.write_figure(emb.scatter_figure(embedding, title=f"{DATASET}: UMAP (benchmark stand-in)"),
                     out / "umap.html", out / "umap.json")
    emb.scatter_png(embedding, out / "umap.png", f"{DATASET}: UMAP (benchmark stand-in)", UNKNOWN)
    images = np.full((6, SIZE, SIZE, 3), 180, np.uint8)
    rows = [fig.GalleryRow(image_id=test_ids[k], image=images[k], gt=gt[k], lmi=gt[k], tii=gt[k], label="stand-in",
                           cam_lmi=cam[k] / 255.0, cam_tii=cam[k] / 255.0, chosen="tii") for k in range(6)]
    fig.comparison_gallery(rows, out / "comparison.png", title="stand-in", provenance=UNKNOWN)
    fig.ensemble_gallery(rows, out / "ensemble.png", title="stand-in", provenance=UNKNOWN)
    selection = pd.DataFrame({"image_id": test_ids[:6], "kind": ["best", "best", "worst", "worst", "median", "median"],
                              "delta_dice": rng.normal(size=6)})
    write_csv(out / "selection.csv", selection)
    write_json(out / "explain.json", {"dataset": DATASET, "study_run_id": study_run_id, "split": split, "ratio": 80,
                                      "runs": runs, "n_test_images": len(test_ids), "n_gradcam_images": len(test_ids),
                                      "stand_in": "benchmarks/dashboard_store.py: synthetic maps and coordinates"})
    client.log_artifacts(study_run_id, str(out), artifact_path="explain")
    client.set_tag(study_run_id, "medseglab.explain.split", str(split))
    client.set_tag(study_run_id, "medseglab.explain.ratio", "80")


def build(grid: Grid, root: Path, log=print) -> Store:
    """Build the store in ``root`` (removed first if an incomplete build is there)."""
    import pandas as pd

    from medseglab.stats.synthetic import synthetic_study
    from medseglab.tracking import conventions as C
    from medseglab.tracking import ensure_experiment, open_client

    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    steps, started = {}, time.perf_counter()

    def step(name: str, since: float) -> float:
        now = time.perf_counter()
        steps[name] = round(now - since, 1)
        log(f"  build: {name} {steps[name]:.1f} s")
        return now

    params = _params(root, grid)
    uri = params["tracking"]["uri"]
    os.environ["MLFLOW_TRACKING_URI"] = uri
    t = time.perf_counter()
    table = synthetic_study(datasets=(DATASET,), ratios=grid.ratios, splits=grid.splits, repeats=grid.repeats,
                            n_images=grid.images, depletion_grows_test=False, seed=9)
    prepared = root / "data" / "prepared" / DATASET
    data_hash, ids, masks = write_prepared(prepared, table)
    t = step(f"synthetic table ({len(table):,} rows) + prepared dataset ({len(ids):,} images)", t)

    client = open_client(uri=uri)
    exp_id = ensure_experiment(client, DATASET, params, for_writing=True)
    from medseglab.config import resolve

    cfg = resolve(params, DATASET, PROFILE)
    cfg_hash = C.study_config_hash(cfg)
    tags = {C.DATASET: DATASET, C.PROFILE: PROFILE, C.CONFIG_HASH: C.training_config_hash(cfg),
            C.DATA_HASH: data_hash, C.SPLITS_HASH: "benchmark-" + grid.key()}
    parent = client.create_run(exp_id, run_name=C.study_run_name(DATASET, PROFILE, cfg_hash),
                               tags={**tags, C.KIND: "study", C.CONFIG_HASH: cfg_hash})
    parent_id = parent.info.run_id
    runs_csv, table = _runs_and_tables(client, params, grid, table, exp_id, parent_id, tags, masks, ids)
    t = step(f"{grid.runs} training runs (log_batch, evaluation/ artifacts)", t)

    study_dir = root / "results" / DATASET
    study_dir.mkdir(parents=True)
    table.to_parquet(study_dir / "per_image.parquet", index=False)
    runs_csv.to_csv(study_dir / "runs.csv", index=False)
    client.log_artifact(parent_id, str(study_dir / "per_image.parquet"), artifact_path="study")
    client.log_artifact(parent_id, str(study_dir / "runs.csv"), artifact_path="study")
    _split_tables(client, parent_id, table, prepared, study_dir)
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    summary = [Metric("n_trainings", float(grid.runs), now, 0)]
    for init, part in table.groupby("init"):
        summary += [Metric(f"dice_median_{init}", float(part["dice"].median()), now, 0),
                    Metric(f"dice_mean_{init}", float(part["dice"].mean()), now, 0),
                    Metric(f"n_rows_{init}", float(len(part)), now, 0)]
    _log(client, parent_id, params=C.mlflow_params(cfg), metrics=summary)
    client.set_terminated(parent_id, "FINISHED")
    t = step(f"study artifacts (study/per_image.parquet {len(table):,} rows)", t)

    from medseglab.stats.stage import table_stats

    reports = root / "reports" / DATASET
    table_stats(params, DATASET, study_dir / "per_image.parquet", parent_id, out=reports, level="repeat_mean")
    t = step(f"stats stage (table_stats, bootstrap {grid.bootstrap})", t)

    from medseglab.ensemble.stage import study_ensemble

    study_ensemble(params, DATASET, parent_id, prepared=prepared, out=reports / "ensemble")
    t = step("ensemble stage (study_ensemble, ratio 80)", t)

    _explain_standin(client, params, root, parent_id, grid, table, masks, ids)
    t = step("explain/ stand-in", t)

    seconds = round(time.perf_counter() - started, 1)
    sample = str(table.loc[(table["split"] == grid.splits[0]) & (table["ratio"] == 80), "image_id"].iloc[0])
    store = Store(root, uri, parent_id, grid, seconds, False, steps, sample)
    (root / "build.json").write_text(json.dumps({"study_run_id": parent_id, "uri": uri, "grid": asdict(grid),
                                                 "build_seconds": seconds, "steps": steps, "sample_image": sample},
                                                indent=2))
    return store


def build_or_reuse(grid: Grid, base: Path, log=print) -> Store:
    """The store of ``grid`` under ``base``: reused when a complete build is there (build.json)."""
    root = Path(base) / grid.key()
    record = root / "build.json"
    if record.is_file():
        info = json.loads(record.read_text())
        return Store(root, info["uri"], info["study_run_id"], grid, info["build_seconds"], True, info["steps"],
                     info.get("sample_image", "img0"))
    return build(grid, root, log)
