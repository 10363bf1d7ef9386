"""`synthetic`: seeded phantom datasets for the three modalities (demo, tests, CI).

Nothing here is real data: every image id starts with ``synth-``, the manifest's ``synthetic``
column and dataset.json's ``synthetic`` are true, sources read ``synthetic:<modality>#<i>``.

- ``skin``: skin-toned RGB background with a dark irregular lesion (class 1), a few hairs
  (class 0). Malignant lesions are larger, darker, variegated and more irregular.
  Labels benign / malignant; 3 images per synthetic patient.
- ``prostate``: a round H&E-like core (pink stroma, glands with purple rims) on white; about
  two thirds of the cores hold a dense purple tumour region (class 1). Labels tumor / no tumor;
  2 cores per patient.
- ``kidney``: CT-like grayscale slices (body, fat, spine, liver); slices in the middle of a
  synthetic case show two bright kidneys (class 1), the others none. Labels kidney / no
  kidney; 6 slices per case.

Image ``i`` depends only on (seed, modality, i), so a subset or another thread order gives
the same pixels. The target is visibly brighter/darker than its surround, so a small U-Net
learns it in a couple of epochs.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from medseglab.config import ConfigError
from medseglab.data.registry import ImportContext, register_format
from medseglab.data.records import Record

MODALITIES = ("skin", "prostate", "kidney")
PER_GROUP = {"skin": 3, "prostate": 2, "kidney": 6}


def smooth_noise(rng: np.random.Generator, w: int, h: int, cell: int) -> np.ndarray:
    """Low-frequency noise in [-1, 1]: random values on a coarse grid, bilinear upsampled."""
    gw, gh = max(2, w // cell + 2), max(2, h // cell + 2)
    coarse = Image.fromarray(rng.uniform(-1, 1, (gh, gw)).astype(np.float32), mode="F")
    return np.asarray(coarse.resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32)


def blob(w: int, h: int, cx: float, cy: float, radius: float, rng: np.random.Generator,
         irregularity: float, aspect: float = 1.0) -> np.ndarray:
    """Distance ratio field of an irregular blob: <= 1 inside (a star-shaped Fourier contour)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    dx, dy = xx - cx, yy - cy
    rx = dx * np.cos(angle) + dy * np.sin(angle)
    ry = (-dx * np.sin(angle) + dy * np.cos(angle)) * aspect
    theta = np.arctan2(ry, rx)
    contour = np.ones_like(theta)
    for k in range(2, 6):
        contour += irregularity / k * rng.uniform(0.5, 1.0) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    return np.hypot(rx, ry) / (radius * np.clip(contour, 0.3, None))


def ellipse(w: int, h: int, cx: float, cy: float, ax: float, ay: float) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return ((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2


def to_uint8(arr: np.ndarray) -> np.ndarray:
    return np.clip(np.round(arr), 0, 255).astype(np.uint8)


def skin(rng: np.random.Generator, w: int, h: int, malignant: bool):
    size = min(w, h)
    base = np.array([rng.uniform(205, 240), rng.uniform(155, 190), rng.uniform(130, 165)], np.float32)
    shade = 1 + 0.07 * smooth_noise(rng, w, h, max(4, size // 4))
    img = base * shade[..., None] + rng.normal(0, 4, (h, w, 3))
    radius = size * (rng.uniform(0.26, 0.36) if malignant else rng.uniform(0.18, 0.28))
    cx, cy = w * rng.uniform(0.35, 0.65), h * rng.uniform(0.35, 0.65)
    ratio = blob(w, h, cx, cy, radius, rng, 0.6 if malignant else 0.15, rng.uniform(0.8, 1.25))
    mask = (ratio <= 1).astype(np.uint8)
    colour = np.array([70, 40, 35] if malignant else [110, 65, 50], np.float32) * rng.uniform(0.85, 1.1)
    texture = smooth_noise(rng, w, h, max(3, size // 10))
    lesion = colour * (1 + 0.15 * texture[..., None])
    if malignant:  # blue-grey veil in part of the lesion
        lesion = np.where((texture > 0.3)[..., None], lesion * 0.6 + np.array([95, 95, 120]) * 0.4, lesion)
    alpha = np.clip((1.15 - ratio) / 0.15, 0, 1)[..., None]  # soft edge, mask = ratio <= 1
    img = img * (1 - alpha) + lesion * alpha
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for _ in range(rng.integers(0, 3)):  # hairs: thin darker lines, not lesion
        x0, y0, slope = rng.uniform(0, w), rng.uniform(0, h), np.tan(rng.uniform(-1.3, 1.3))
        dist = np.abs((yy - y0) - slope * (xx - x0)) / np.sqrt(1 + slope**2)
        img = np.where((dist < max(0.6, size / 200))[..., None], img * 0.7, img)
    vignette = 1 - 0.1 * np.clip(ellipse(w, h, w / 2, h / 2, w * 0.75, h * 0.75) - 0.6, 0, None)
    return to_uint8(img * vignette[..., None]), mask


def prostate(rng: np.random.Generator, w: int, h: int, tumour: bool):
    size = min(w, h)
    img = np.full((h, w, 3), 242, np.float32)
    core = ellipse(w, h, w / 2 + rng.normal(0, size * 0.02), h / 2 + rng.normal(0, size * 0.02), size * 0.46, size * 0.46) <= 1
    stroma = np.array([232, 165, 198], np.float32) * (1 + 0.08 * smooth_noise(rng, w, h, max(3, size // 12)))[..., None]
    img[core] = stroma[core]
    for _ in range(rng.integers(6, 12)):  # benign glands: pale lumen with a purple rim
        gx, gy = w / 2 + rng.uniform(-0.35, 0.35) * size, h / 2 + rng.uniform(-0.35, 0.35) * size
        r = ellipse(w, h, gx, gy, size * rng.uniform(0.04, 0.08), size * rng.uniform(0.03, 0.07))
        img[(r <= 1.5) & (r > 1) & core] = (165, 95, 170)
        img[(r <= 1) & core] = (246, 228, 238)
    mask = np.zeros((h, w), np.uint8)
    if tumour:
        ratio = blob(w, h, w / 2 + rng.uniform(-0.2, 0.2) * size, h / 2 + rng.uniform(-0.2, 0.2) * size,
                     size * rng.uniform(0.14, 0.26), rng, 0.45)
        region = (ratio <= 1) & core
        mask[region] = 1
        dense = np.array([125, 60, 150], np.float32) * (1 + 0.12 * smooth_noise(rng, w, h, max(2, size // 24)))[..., None]
        nuclei = rng.random((h, w)) < 0.18
        dense[nuclei] *= 0.55
        img[region] = dense[region]
    return to_uint8(img + rng.normal(0, 5, img.shape)), mask


def kidney(rng: np.random.Generator, w: int, h: int, position: float):
    size = min(w, h)
    body = ellipse(w, h, w / 2, h * 0.52, w * 0.44, h * 0.36)
    img = np.full((h, w), 5, np.float32)
    img[body <= 1] = 70  # subcutaneous fat
    img[body <= 0.8] = 105  # soft tissue
    liver = ellipse(w, h, w * 0.32, h * 0.42, w * 0.17, h * 0.15)
    if position < 0.6:
        img[(liver <= 1) & (body <= 0.8)] = 125
    img[ellipse(w, h, w / 2, h * 0.72, size * 0.06, size * 0.06) <= 1] = 150  # vertebra (cancellous bone)
    mask = np.zeros((h, w), np.uint8)
    extent = 1 - abs(position - 0.5) / 0.28  # kidneys fill the middle of the case
    if extent > 0:
        for side in (-1, 1):
            cx = w / 2 + side * w * rng.uniform(0.17, 0.21)
            cy = h * rng.uniform(0.6, 0.66)
            ax, ay = size * 0.11 * (0.6 + 0.4 * extent), size * 0.16 * (0.6 + 0.4 * extent)
            r = ellipse(w, h, cx, cy, ax, ay)
            img[r <= 1] = 215  # contrast-enhanced cortex: the brightest tissue of the slice
            img[r <= 0.3] = 185  # medulla / pelvis, still kidney
            mask[r <= 1] = 1
    img += 8 * smooth_noise(rng, w, h, max(3, size // 16)) + rng.normal(0, 6, img.shape)
    gray = to_uint8(img)
    return np.repeat(gray[..., None], 3, axis=2), mask


GENERATORS = {"skin": skin, "prostate": prostate, "kidney": kidney}


def _plan(seed: int, modality: str, i: int) -> dict:
    """The per-image decisions known before drawing (label, slice position)."""
    rng = np.random.default_rng([seed, MODALITIES.index(modality), i, 0])
    if modality == "skin":
        return {"malignant": bool(rng.random() < 0.35)}
    if modality == "prostate":
        return {"tumour": bool(rng.random() < 0.65)}
    per = PER_GROUP["kidney"]
    return {"position": (i % per + rng.uniform(0.1, 0.9)) / per}


def _loader(seed: int, modality: str, i: int, plan: dict):
    def load(size):
        w, h = size
        rng = np.random.default_rng([seed, MODALITIES.index(modality), i, 1])
        image, mask = GENERATORS[modality](rng, w, h, *plan.values())
        return Image.fromarray(image, mode="RGB"), mask

    return load


@register_format("synthetic", options={"seed": 0}, needs_source=False, layout="(generated; no source folder)")
def import_synthetic(ctx: ImportContext):
    modality = ctx.cfg.get("modality") or "skin"
    if modality not in MODALITIES:
        raise ConfigError(f"datasets.{ctx.name}.modality = {modality!r}: use one of {', '.join(MODALITIES)}")
    n = ctx.cfg.get("n_images")
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ConfigError(f"datasets.{ctx.name}.n_images = {n!r}: give the number of phantoms, a positive integer")
    seed = int(ctx.options["seed"])
    ctx.details.update(modality=modality, seed=seed, images_per_group=PER_GROUP[modality])
    for i in range(n):
        plan = _plan(seed, modality, i)
        label = None
        if modality == "skin":
            label = "malignant" if plan["malignant"] else "benign"
        yield Record(
            image_id=f"synth-{modality}-{i:04d}",
            group_id=f"synth-{'case' if modality == 'kidney' else 'patient'}-{i // PER_GROUP[modality]:03d}",
            clinical_label=label,
            label_from_mask=None if label else {"prostate": ("tumor", "no tumor"), "kidney": ("kidney", "no kidney")}[modality],
            source_image=f"synthetic:{modality}#{i}",
            source_mask=f"synthetic:{modality}#{i}",
            load=_loader(seed, modality, i, plan),
            synthetic=True,
        )
