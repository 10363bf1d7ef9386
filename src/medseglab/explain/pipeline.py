"""`medseglab explain` on a finished study: Grad-CAM, UMAP and the galleries of one 80:20 set.

Reads only earlier stages' contracts, passed in as a :class:`StudySource` (the CLI fills it from
MLflow and the prepared dataset; tests fill it with tiny in-memory models):

- the study's children (init, split, ratio, repeat, run_id[, status]),
- each training's model and ``evaluation/probabilities.npz``,
- the prepared dataset (images, masks, manifest with clinical labels),
- optionally the ensemble's ``choices.parquet`` (image_id, chosen[, split, ratio]).

Everything goes to one folder, written atomically (see :data:`FILES`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from medseglab.names import DEFAULT_THRESHOLD, mask_threshold
from medseglab.progress import bar
from medseglab.tracking.repeats import INITS, finished_trainings, stack_repeats

CLASSES = (0, 1)
CHUNK = 32  # images whose float maps of every repeat are held at once (bounds memory at paper scale)
FILES = {
    "gradcam_lmi.npz": "LMI Grad-CAM, mean over repeats (Eq. 3), uint8 per image and class + scale",
    "gradcam_tii.npz": "TII Grad-CAM, same layout",
    "embedding.parquet": "UMAP rows: image_id, init, clinical_label, class, x, y, pooled_over, n_neighbors",
    "umap.html": "Plotly scatter by clinical label (self-contained HTML)",
    "umap.json": "the same figure as Plotly JSON",
    "umap.png": "the same embedding as a PNG (UMAP 1 / UMAP 2 per init and class, legend by clinical label)",
    "selection.csv": "images shown: kind (best/worst/median/user), delta Dice, Dice per init, choice",
    "comparison.png": "Figures 2-4 gallery",
    "ensemble.png": "Figure 5 gallery",
    "explain.json": "settings, runs and counts of this explanation",
}


@dataclass
class StudySource:
    """What the explanation reads; callables so that the heavy loading stays lazy."""

    children: pd.DataFrame
    load_model: Callable[[str], object]
    load_probabilities: Callable[[str], tuple[np.ndarray, np.ndarray]]
    load_images: Callable[[Sequence[str]], np.ndarray]
    load_masks: Callable[[Sequence[str]], np.ndarray]
    manifest: pd.DataFrame
    choices: pd.DataFrame | None = None
    study_run_id: str = ""


@dataclass
class Settings:
    """The ``explain`` section of params.yaml plus the dataset's UMAP values and the mask rules."""

    n_neighbors: int
    min_dist: float
    layer: str | None = None
    n_per_kind: int = 2
    image_ids: tuple[str, ...] = ()
    batch_size: int = 8
    seed: int = 0
    average: str = "normalised"
    pool: str = "predicted"
    gradcam_images: str = "all"
    combine: str = "intersection"
    threshold: float = DEFAULT_THRESHOLD


def settings_from_params(params: dict, dataset: str, image_ids: Sequence[str] = ()) -> Settings:
    """Read and check ``explain``, ``datasets.<dataset>.umap``, ``stats.combine``, ``train.threshold``."""
    from medseglab.config import ConfigError
    from medseglab.explain.embedding import POOLS
    from medseglab.explain.gradcam import AVERAGES
    from medseglab.stats.combine import METHODS

    section = params.get("explain") or {}
    umap_cfg = ((params.get("datasets") or {}).get(dataset) or {}).get("umap") or {}
    settings = Settings(
        n_neighbors=umap_cfg.get("n_neighbors", 15),
        min_dist=umap_cfg.get("min_dist", 0.1),
        layer=section.get("layer"),
        n_per_kind=section.get("n_per_kind", 2),
        image_ids=tuple(str(i) for i in (image_ids or section.get("image_ids") or ())),
        batch_size=section.get("batch_size", 8),
        seed=section.get("seed", 0),
        average=section.get("average", "normalised"),
        pool=section.get("pool", "predicted"),
        gradcam_images=section.get("gradcam_images", "all"),
        combine=(params.get("stats") or {}).get("combine", "intersection"),
        threshold=mask_threshold(params),
    )
    checks = [
        ("explain.n_per_kind", settings.n_per_kind, isinstance(settings.n_per_kind, int) and settings.n_per_kind >= 0,
         "a count >= 0"),
        ("explain.batch_size", settings.batch_size, isinstance(settings.batch_size, int) and settings.batch_size >= 1,
         "an integer >= 1"),
        ("explain.seed", settings.seed, isinstance(settings.seed, int), "an integer"),
        ("explain.average", settings.average, settings.average in AVERAGES, f"one of {AVERAGES}"),
        ("explain.pool", settings.pool, settings.pool in POOLS, f"one of {POOLS}"),
        ("explain.gradcam_images", settings.gradcam_images, settings.gradcam_images in ("all", "selected"),
         "all or selected"),
        (f"datasets.{dataset}.umap.n_neighbors", settings.n_neighbors,
         isinstance(settings.n_neighbors, int) and settings.n_neighbors >= 2, "an integer >= 2"),
        (f"datasets.{dataset}.umap.min_dist", settings.min_dist,
         isinstance(settings.min_dist, (int, float)) and 0 <= settings.min_dist <= 1, "a number in [0, 1]"),
        ("stats.combine", settings.combine, settings.combine in METHODS, f"one of {METHODS}"),
        ("train.threshold", settings.threshold,
         isinstance(settings.threshold, (int, float)) and 0 < settings.threshold <= 1, "a number in (0, 1]"),
        ("explain.layer", settings.layer, settings.layer is None or isinstance(settings.layer, str),
         "a layer name or null"),
    ]
    for key, value, ok, want in checks:
        if not ok:
            raise ConfigError(f"{key} = {value!r}: give {want}")
    return settings


def pick_runs(children: pd.DataFrame, split: int | None, ratio: int) -> tuple[int, dict[str, list[str]]]:
    """The split to explain (default: the lowest with finished LMI and TII runs) and its run ids per init."""
    rows = finished_trainings(children, ratio)
    complete = sorted(s for s, part in rows.groupby(rows["split"].astype(int)) if set(part["init"]) >= set(INITS))
    if not complete:
        raise ValueError(f"no split at ratio {ratio} has finished LMI and TII trainings")
    if split is None:
        split = complete[0]
    elif int(split) not in complete:
        raise ValueError(f"split {split} at ratio {ratio} lacks finished LMI and TII trainings; splits with both: {complete}")
    part = rows[rows["split"].astype(int) == int(split)].sort_values("repeat")
    return int(split), {init: part.loc[part["init"] == init, "run_id"].astype(str).tolist() for init in INITS}


def _dice(mask: np.ndarray, gt: np.ndarray) -> np.ndarray:
    from medseglab.evaluation.metrics import confusion_counts, dice

    return np.atleast_1d(np.asarray(dice(*confusion_counts(mask, gt)), np.float64))


def _chosen(choices: pd.DataFrame | None, split: int, ratio: int) -> dict[str, str]:
    if choices is None or not len(choices) or not {"image_id", "chosen"} <= set(choices.columns):
        return {}
    rows = choices
    for key, value in (("split", split), ("ratio", ratio)):
        if key in rows.columns:
            rows = rows[rows[key].astype("Int64") == value]
    return dict(zip(rows["image_id"].astype(str), rows["chosen"].astype(str)))


def _gradcam_quantised(models, images: np.ndarray, settings: Settings, desc: str):
    """Repeat-averaged Grad-CAM of every image, chunk by chunk, kept as uint8 + per-map scale."""
    from medseglab.explain.gradcam import GradCam, normalise_maps, quantise

    cams = [GradCam(model, settings.layer) for model in models]
    quant = np.zeros((len(images), len(CLASSES), *images.shape[1:3]), np.uint8)
    scale = np.zeros((len(images), len(CLASSES)), np.float32)
    with bar(total=len(models) * len(images), desc=desc, unit="img") as progress:
        for start in range(0, len(images), CHUNK):
            part = slice(start, start + CHUNK)
            total = None
            for cam in cams:
                maps = np.concatenate([
                    cam(images[b:b + settings.batch_size], CLASSES)
                    for b in range(part.start, min(part.stop, len(images)), settings.batch_size)
                ])
                maps = normalise_maps(maps) if settings.average == "normalised" else maps
                total = maps.astype(np.float64) if total is None else total + maps
                progress.update(len(maps))
            quant[part], scale[part] = quantise((total / len(cams)).astype(np.float32))
    return quant, scale, cams[0].layer


def explain_study(
    source: StudySource,
    out_dir: str | Path,
    settings: Settings,
    *,
    dataset: str,
    split: int | None = None,
    ratio: int = 80,
    provenance=None,
) -> dict:
    """Run Grad-CAM, UMAP and the galleries for one split; returns a summary (also in explain.json).

    ``provenance`` (``stats.provenance.study_provenance``: synthetic data, TII weights) titles every
    figure; by default it is read from the manifest's ``synthetic`` column (weights unknown)."""
    from medseglab.explain import embedding as emb
    from medseglab.explain import figures as fig
    from medseglab.explain.gradcam import dequantise, normalise_maps
    from medseglab.io import atomic_dir, write_csv, write_json, write_parquet
    from medseglab.stats.combine import combine_repeats
    from medseglab.stats.provenance import from_manifest

    started = time.time()
    provenance = provenance if provenance is not None else from_manifest(source.manifest)
    split, runs = pick_runs(source.children, split, ratio)
    ids, masks, probs = None, {}, {}
    for init in INITS:
        init_ids, stacked = stack_repeats(runs[init], source.load_probabilities)
        if ids is None:
            ids = init_ids
        elif set(init_ids) != set(ids):
            raise ValueError(f"split {split}: LMI and TII were tested on different images; rerun the study")
        else:
            stacked = stacked[:, pd.Index(init_ids).get_indexer(ids)]
        probs[init] = combine_repeats(stacked, settings.combine, settings.threshold)
        masks[init] = (probs[init] >= settings.threshold).astype(np.uint8)
    ids = [str(i) for i in ids]
    gt = np.asarray(source.load_masks(ids))
    images = np.asarray(source.load_images(ids))
    if gt.shape != masks["lmi"].shape:
        raise ValueError(
            f"prepared masks have shape {gt.shape[1:]} but the study's outputs {masks['lmi'].shape[1:]}: "
            "the prepared dataset is not the one the study used (prepare it with the study's config)"
        )
    labels = source.manifest.set_index(source.manifest["image_id"].astype(str))["clinical_label"]
    clinical = labels.reindex(ids).fillna("unknown").astype(str).tolist()
    dice = {init: _dice(masks[init], gt) for init in INITS}
    delta = pd.Series(dice["tii"] - dice["lmi"], index=ids)
    selection = fig.select_images(delta, settings.n_per_kind, settings.image_ids, known_ids=ids)
    if selection.empty:
        raise ValueError(f"split {split}: no image to show (every ground truth is empty and no --image-ids given)")
    position = {image_id: k for k, image_id in enumerate(ids)}
    chosen = _chosen(source.choices, split, ratio)

    # Grad-CAM: every test image (or only the selected ones), repeats averaged per init
    cam_ids = ids if settings.gradcam_images == "all" else selection["image_id"].tolist()
    cam_index = [position[i] for i in cam_ids]
    cams, layer, embed_models = {}, None, {}
    for init in INITS:
        models = [source.load_model(run_id) for run_id in bar(runs[init], desc=f"load {init.upper()} models", unit="model")]
        cam_images = images if settings.gradcam_images == "all" else images[cam_index]  # uint8; batches cast to float
        cams[init] = _gradcam_quantised(models, cam_images, settings, f"Grad-CAM {init.upper()}")
        layer = cams[init][2]
        embed_models[init] = models[0]
        del models

    # UMAP: the first repeat's penultimate features per init (features of different models do not mix)
    tables, fallback_counts = [], {}
    masks_for_pool = gt if settings.pool == "ground_truth" else None
    for init in INITS:
        with bar(total=len(ids), desc=f"features {init.upper()}", unit="img") as progress:
            features, fallback = emb.pooled_features(
                embed_models[init], images, CLASSES, settings.pool, masks_for_pool,
                batch_size=settings.batch_size, on_batch=progress.update,
            )
        fallback_counts[init] = {int(c): int(fallback[:, j].sum()) for j, c in enumerate(CLASSES)}
        tables.append(emb.embedding_table(
            ids, clinical, init, features, fallback, CLASSES, settings.pool,
            settings.n_neighbors, settings.min_dist, settings.seed,
        ))
    embedding = pd.concat(tables, ignore_index=True)
    umap_title = (f"{dataset}: UMAP of penultimate-layer features pooled over {settings.pool.replace('_', ' ')} "
                  f"pixels (split {split}, {ratio}:{100 - ratio})")
    scatter = emb.scatter_figure(embedding, title=provenance.caption(umap_title))

    # galleries of the selected images
    cam_position = {image_id: k for k, image_id in enumerate(cam_ids)}
    rows = []
    for item in selection.itertuples():
        k = position[item.image_id]
        c = cam_position[item.image_id]
        display = {init: normalise_maps(dequantise(cams[init][0][c], cams[init][1][c])) if settings.average == "raw"
                   else dequantise(cams[init][0][c], cams[init][1][c]) for init in INITS}
        rows.append(fig.GalleryRow(
            image_id=item.image_id, image=images[k], gt=gt[k], lmi=masks["lmi"][k], tii=masks["tii"][k],
            label=f"{fig.kind_label(item.kind, item.delta_dice)}\nDice LMI {dice['lmi'][k]:.2f} · TII {dice['tii'][k]:.2f}",
            cam_lmi=display["lmi"], cam_tii=display["tii"], chosen=chosen.get(item.image_id),
        ))
    selection = selection.assign(
        clinical_label=[clinical[position[i]] for i in selection["image_id"]],
        dice_lmi=[dice["lmi"][position[i]] for i in selection["image_id"]],
        dice_tii=[dice["tii"][position[i]] for i in selection["image_id"]],
        chosen=[chosen.get(i, "") for i in selection["image_id"]],
    )

    summary = {
        "dataset": dataset,
        "study_run_id": source.study_run_id,
        "split": split,
        "ratio": ratio,
        "runs": runs,
        "n_test_images": len(ids),
        "n_gradcam_images": len(cam_ids),
        "gradcam": {"layer": layer, "classes": list(CLASSES), "average": settings.average,
                    "score": "class softmax summed over all pixels", "stored": "uint8 relative to each map's max, + scale"},
        "embedding": {"pool": settings.pool, "fallback_counts": fallback_counts, "min_dist": settings.min_dist,
                      "n_neighbors": settings.n_neighbors,
                      "n_neighbors_used": sorted(int(v) for v in embedding["n_neighbors"].unique()),
                      "seed": settings.seed, "model_repeat": "first repeat of each init"},
        "masks": {"combine": settings.combine, "threshold": settings.threshold},
        "selection": selection["kind"].value_counts().to_dict(),
        "ensemble_choices": bool(chosen),
        "provenance": provenance.as_dict(),
    }
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        for init in INITS:
            quant, scale, _ = cams[init]
            np.savez_compressed(tmp / f"gradcam_{init}.npz", image_ids=np.asarray(cam_ids, dtype=str), cam=quant,
                                scale=scale, classes=np.asarray(CLASSES), layer=np.asarray(layer),
                                average=np.asarray(settings.average), run_ids=np.asarray(runs[init], dtype=str))
        write_parquet(tmp / "embedding.parquet", embedding)
        emb.write_figure(scatter, tmp / "umap.html", tmp / "umap.json")
        emb.scatter_png(embedding, tmp / "umap.png", umap_title, provenance)
        write_csv(tmp / "selection.csv", selection)
        title = f"{dataset}, split {split} ({ratio}:{100 - ratio})"
        fig.comparison_gallery(rows, tmp / "comparison.png", title=f"{title}: LMI vs {provenance.init_label('tii')}",
                               subtitle=fig.RANKING_NOTE, provenance=provenance)
        fig.ensemble_gallery(rows, tmp / "ensemble.png", title=f"{title}: Algorithm 1 outputs",
                             subtitle=fig.RANKING_NOTE, provenance=provenance)
        summary["seconds"] = round(time.time() - started, 1)
        write_json(tmp / "explain.json", summary)
    summary["out_dir"] = str(out_dir)
    return summary


def load_maps(path: str | Path) -> dict:
    """Read a ``gradcam_<init>.npz``: ids, raw maps (N, 2, H, W) and their [0, 1] normalised form."""
    from medseglab.explain.gradcam import dequantise, normalise_maps

    with np.load(path, allow_pickle=False) as data:
        raw = dequantise(data["cam"], data["scale"])
        return {"image_ids": data["image_ids"].astype(str).tolist(), "maps": raw, "normalised": normalise_maps(raw),
                "classes": data["classes"].tolist(), "layer": str(data["layer"]), "average": str(data["average"])}
