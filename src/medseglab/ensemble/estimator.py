"""Algorithm 1 without ground truth: estimate each candidate's Dice on an image from what the models
already say, and choose the candidate with the highest estimate.

Features per image (:func:`image_features`), from the repeats' class-1 maps of both inits, all in
[0, 1] (an agreement of two empty masks is 1: nothing to disagree on):

- ``agree_repeats_lmi`` / ``agree_repeats_tii``: Dice between the intersection and the union of the
  init's repeat masks (1 = every repeat drew the same mask);
- ``agree_inits``: Dice between the combined LMI and TII masks;
- per candidate ``c``: ``consensus_c`` (Dice of its mask with the all-model consensus: the mean map of
  every LMI and TII repeat, thresholded), ``area_c`` (its mask's fraction of the image) and
  ``margin_c`` (its map's mean ``|2p - 1|`` over the pixels any repeat marks: how sure it is where
  the models could disagree; 1 when none marks a pixel).

The estimator (:class:`DiceEstimator`) is one linear model for every candidate, on five features of
the candidate (:data:`FEATURES`: its repeats' agreement, the two inits' agreement, its consensus
agreement, area and margin; a combination's repeat agreement is the mean of both inits'), standardised
and fitted with the Huber loss (``sklearn.linear_model.HuberRegressor``) on every (image, candidate)
pair. It does not know which candidate a row is: it learns how agreement and certainty relate to
Dice, not that one init was better on the images it was fitted on, so it carries over to other
trainings of the same config (on the real ISIC study a model per candidate learned which init was
better on the fitting split and carried that to the other: rank correlation 0.74-0.76 instead of
0.79-0.83). A few hundred images fit it, a handful of badly segmented images (Dice near 0) do not
swing it, the coefficients say what it learned, and it is stored as plain JSON (no pickle) with the
ensemble outputs and in the pair model. Estimates are clipped to [0, 1]. Ties of the estimated choice
go to the first candidate in ``CANDIDATES`` order, as in Algorithm 1.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd

from medseglab.names import CANDIDATES, DEFAULT_THRESHOLD, INITS
from medseglab.stats.combine import combine_repeats

SHARED_FEATURES = ("agree_repeats_lmi", "agree_repeats_tii", "agree_inits")
CANDIDATE_FEATURES = ("consensus", "area", "margin")
CHUNK = 64  # images per feature pass: float copies of every repeat stay small at paper scale
KIND = "huber-linear"


FEATURES = ("repeats", "inits", "consensus", "area", "margin")  # per candidate, in the model's order


def candidate_features(features: pd.DataFrame, cand: str) -> np.ndarray:
    """(N, 5) :data:`FEATURES` of candidate ``cand`` from the :func:`image_features` table."""
    if cand in INITS:
        repeats = features[f"agree_repeats_{cand}"].to_numpy(np.float64)
    else:  # union / intersection combine both inits' repeats
        repeats = features[[f"agree_repeats_{i}" for i in INITS]].to_numpy(np.float64).mean(axis=1)
    own = features[[f"{name}_{cand}" for name in CANDIDATE_FEATURES]].to_numpy(np.float64)
    return np.column_stack([repeats, features["agree_inits"].to_numpy(np.float64), own])


def _agreement(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-image Dice of two (N, H, W) bool masks; 1 when both are empty."""
    both = (a & b).sum(axis=(1, 2), dtype=np.int64)
    total = a.sum(axis=(1, 2), dtype=np.int64) + b.sum(axis=(1, 2), dtype=np.int64)
    return np.divide(2.0 * both, total, out=np.ones(len(a)), where=total > 0)


def _features_chunk(lmi: np.ndarray, tii: np.ndarray, combine: str, threshold: float) -> dict[str, np.ndarray]:
    from medseglab.ensemble.algorithm import candidate_maps

    # one scale for both (uint8 maps are round(p * 255)): the consensus concatenates them
    lmi, tii = (np.asarray(m, np.float32) / np.float32(255) if np.asarray(m).dtype == np.uint8
                else np.asarray(m, np.float32) for m in (lmi, tii))
    per_init = {"lmi": lmi, "tii": tii}
    out: dict[str, np.ndarray] = {}
    for init, maps in per_init.items():
        masks = combine_repeats(maps, "intersection", threshold) >= threshold, \
            combine_repeats(maps, "union", threshold) >= threshold
        out[f"agree_repeats_{init}"] = _agreement(*masks)
    cands = candidate_maps(combine_repeats(lmi, combine, threshold), combine_repeats(tii, combine, threshold))
    out["agree_inits"] = _agreement(cands["lmi"] >= threshold, cands["tii"] >= threshold)
    everything = np.concatenate([combine_repeats(lmi, "union", threshold)[None],
                                 combine_repeats(tii, "union", threshold)[None]])
    support = everything.max(axis=0) >= threshold  # pixels any repeat marks
    both = np.concatenate([np.asarray(lmi), np.asarray(tii)])
    consensus = combine_repeats(both, "mean", threshold) >= threshold
    n_pixels = support.shape[1] * support.shape[2]
    n_support = support.sum(axis=(1, 2), dtype=np.int64)
    for cand in CANDIDATES:
        mask = cands[cand] >= threshold
        out[f"consensus_{cand}"] = _agreement(mask, consensus)
        out[f"area_{cand}"] = mask.sum(axis=(1, 2), dtype=np.int64) / n_pixels
        sure = (np.abs(2.0 * cands[cand] - 1.0) * support).sum(axis=(1, 2), dtype=np.float64)
        out[f"margin_{cand}"] = np.divide(sure, n_support, out=np.ones(len(mask)), where=n_support > 0)
    return out


def image_features(lmi: np.ndarray, tii: np.ndarray, *, combine: str = "intersection",
                   threshold: float = DEFAULT_THRESHOLD, chunk: int = CHUNK) -> pd.DataFrame:
    """The feature table (one row per image) of the repeats' maps ``lmi``/``tii`` (R, N, H, W), uint8
    0..255 (as probabilities.npz stores them) or float in [0, 1]; the two inits may differ in R."""
    lmi, tii = np.asarray(lmi), np.asarray(tii)
    if lmi.ndim != 4 or tii.ndim != 4 or lmi.shape[1:] != tii.shape[1:]:
        raise ValueError(f"LMI and TII repeats must be (R, N, H, W) of the same images; got {lmi.shape} and {tii.shape}")
    parts = [_features_chunk(lmi[:, s:s + chunk], tii[:, s:s + chunk], combine, threshold)
             for s in range(0, lmi.shape[1], chunk)]
    columns = [*SHARED_FEATURES, *(f"{name}_{c}" for c in CANDIDATES for name in CANDIDATE_FEATURES)]
    return pd.DataFrame({col: np.concatenate([p[col] for p in parts]) if parts else np.zeros(0) for col in columns})


@dataclasses.dataclass
class DiceEstimator:
    """The fitted model (see the module doc): feature means and scales, Huber coefficients and intercept."""

    model: dict
    n_fit: int  # images with a defined Dice it was fitted on
    combine: str = "intersection"
    threshold: float = DEFAULT_THRESHOLD
    info: dict = dataclasses.field(default_factory=dict)  # where it was fitted: study, split, ratio, images

    @classmethod
    def fit(cls, features: pd.DataFrame, dice: pd.DataFrame, *, combine: str = "intersection",
            threshold: float = DEFAULT_THRESHOLD, info: dict | None = None) -> "DiceEstimator":
        """Fit on ``features`` (:func:`image_features` rows) and ``dice`` (columns ``dice_<candidate>``,
        the true Dice of those rows); rows whose Dice is undefined (empty ground truth) are left out."""
        from sklearn.linear_model import HuberRegressor

        if len(features) != len(dice):
            raise ValueError(f"{len(features)} feature rows for {len(dice)} Dice rows")
        x = np.concatenate([candidate_features(features, cand) for cand in CANDIDATES])
        y = np.concatenate([dice[f"dice_{cand}"].to_numpy(np.float64) for cand in CANDIDATES])
        keep = np.isfinite(y) & np.isfinite(x).all(axis=1)
        n_images = int(np.isfinite(dice[[f"dice_{c}" for c in CANDIDATES]].to_numpy(np.float64)).all(axis=1).sum())
        if n_images < 2 * len(FEATURES):
            raise ValueError(f"only {n_images} images with a defined Dice to fit the Dice estimator on; it needs "
                             f"at least {2 * len(FEATURES)}")
        mean, scale = x[keep].mean(axis=0), x[keep].std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)  # a constant feature gets coefficient 0, not a division by 0
        fitted = HuberRegressor(max_iter=1000).fit((x[keep] - mean) / scale, y[keep])
        model = {"features": list(FEATURES), "mean": mean.tolist(), "scale": scale.tolist(),
                 "coef": fitted.coef_.tolist(), "intercept": float(fitted.intercept_)}
        return cls(model, n_images, combine, float(threshold), dict(info or {}))

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """Estimated Dice (N, 4) in [0, 1], columns in ``CANDIDATES`` order."""
        m = self.model
        cols = []
        for cand in CANDIDATES:
            try:
                x = candidate_features(features, cand)
            except KeyError as exc:
                raise ValueError(f"feature table lacks {exc}; make it with estimator.image_features") from exc
            cols.append((x - np.asarray(m["mean"])) / np.asarray(m["scale"]) @ np.asarray(m["coef"]) + m["intercept"])
        return np.clip(np.stack(cols, axis=1), 0.0, 1.0)

    def to_dict(self) -> dict:
        return {"kind": KIND, "candidates": list(CANDIDATES), "model": self.model, "n_fit": self.n_fit,
                "combine": self.combine, "threshold": self.threshold, "info": self.info}

    @classmethod
    def from_dict(cls, data: dict) -> "DiceEstimator":
        model = data.get("model") or {}
        if data.get("kind") != KIND or list(model.get("features", [])) != list(FEATURES):
            raise ValueError(f"not a medseglab Dice estimator of this version (kind {data.get('kind')!r}, features "
                             f"{model.get('features')}); rerun `medseglab ensemble`")
        return cls(model, int(data["n_fit"]), data.get("combine", "intersection"),
                   float(data.get("threshold", DEFAULT_THRESHOLD)), dict(data.get("info") or {}))

    def save(self, path: str | Path) -> None:
        from medseglab.io import write_json

        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> "DiceEstimator":
        from medseglab.errors import UserError

        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UserError(f"{path}: not a readable Dice estimator ({exc}); rerun `medseglab ensemble`") from exc


def estimated_choice(estimates: np.ndarray) -> np.ndarray:
    """Per row the candidate with the highest estimate; ties -> the first in ``CANDIDATES`` order."""
    estimates = np.asarray(estimates, dtype=np.float64)
    return np.asarray(CANDIDATES, dtype=object)[np.argmax(np.where(np.isnan(estimates), -np.inf, estimates), axis=1)]


def estimate(estimator: DiceEstimator, lmi: np.ndarray, tii: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(estimated Dice (N, 4), estimated choice (N,)) of new images' repeat maps, as the estimator was fitted."""
    values = estimator.predict(image_features(lmi, tii, combine=estimator.combine, threshold=estimator.threshold))
    return values, estimated_choice(values)
