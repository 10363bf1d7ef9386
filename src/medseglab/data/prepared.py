"""Reading a prepared dataset, and finding / building the one a config asks for."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
from PIL import Image

from medseglab.config import config_hash, prepare_config
from medseglab.data.errors import DataError
from medseglab.errors import check_name
from medseglab.data.prepare import prepare_dataset


@dataclass
class PreparedDataset:
    root: Path
    info: dict               # dataset.json
    manifest: pd.DataFrame   # manifest.parquet, one row per image, sorted by image_id

    @property
    def name(self) -> str:
        return self.info.get("name", self.root.name)

    @property
    def ids(self) -> list[str]:
        return self.manifest["image_id"].tolist()

    @property
    def image_size(self) -> tuple[int, int]:
        w, h = self.info["image_size"]
        return int(w), int(h)

    def __len__(self) -> int:
        return len(self.manifest)

    def image_path(self, image_id: str) -> Path:
        return self.root / "images" / f"{image_id}.png"

    def mask_path(self, image_id: str) -> Path:
        return self.root / "masks" / f"{image_id}.png"

    def _ids(self, ids: Iterable[str] | None) -> list[str]:
        if ids is None:
            return self.ids
        ids = [str(i) for i in ids]
        unknown = sorted(set(ids) - set(self.manifest["image_id"]))
        if unknown:
            raise DataError(
                f"{self.root}: image ids {', '.join(unknown[:5])} are not in this prepared dataset; "
                "the splits may come from another dataset version: re-run `medseglab split`"
            )
        return ids

    def _read(self, paths: list[Path], mode: str) -> np.ndarray:
        w, h = self.image_size

        def read(path: Path) -> np.ndarray:
            try:
                with Image.open(path) as image:
                    arr = np.asarray(image.convert(mode) if image.mode != mode else image)
            except (OSError, ValueError) as exc:
                raise DataError(
                    f"{path}: cannot read this prepared file ({exc}); re-run `medseglab prepare` for {self.name}"
                ) from exc
            if arr.shape[:2] != (h, w):
                raise DataError(f"{path}: is {arr.shape[1]}x{arr.shape[0]}, dataset.json says {w}x{h}; re-run `medseglab prepare`")
            return arr

        if not paths:
            return np.zeros((0, h, w, 3) if mode == "RGB" else (0, h, w), np.uint8)
        with ThreadPoolExecutor(max_workers=4) as pool:
            return np.stack(list(pool.map(read, paths))).astype(np.uint8, copy=False)

    def load_images(self, ids: Iterable[str] | None = None) -> np.ndarray:
        """uint8 (N, H, W, 3) in the order of ``ids`` (default: manifest order)."""
        return self._read([self.image_path(i) for i in self._ids(ids)], "RGB")

    def load_masks(self, ids: Iterable[str] | None = None) -> np.ndarray:
        """uint8 (N, H, W) with values {0, 1}."""
        return self._read([self.mask_path(i) for i in self._ids(ids)], "L")


def load_prepared(out_dir) -> PreparedDataset:
    root = Path(out_dir)
    info_path, manifest_path = root / "dataset.json", root / "manifest.parquet"
    if not info_path.is_file() or not manifest_path.is_file():
        raise DataError(
            f"{root}: not a prepared dataset (no dataset.json / manifest.parquet); "
            "run `medseglab prepare --dataset NAME` first"
        )
    try:
        info = json.loads(info_path.read_text())
        manifest = pd.read_parquet(manifest_path)
    except (OSError, ValueError) as exc:
        raise DataError(f"{root}: dataset.json or manifest.parquet is unreadable ({exc}); re-run `medseglab prepare`") from exc
    return PreparedDataset(root=root, info=info, manifest=manifest)


def _matches(root: Path, wanted: dict) -> bool:
    try:
        info = json.loads((root / "dataset.json").read_text())
    except (OSError, ValueError):
        return False
    return (root / "manifest.parquet").is_file() and config_hash(info.get("prepare_config")) == config_hash(wanted)


def prepared_dir_for(cfg: dict, base="data/prepared") -> Path:
    """Where the dataset ``cfg`` asks for lives: ``<base>/<name>`` if that one was prepared with
    the same prepare_config, else ``<base>/../cache/<name>-<hash>`` (so a study pointed at other
    data never overwrites the DVC-tracked demo data)."""
    base = Path(base)
    wanted = prepare_config(cfg)
    default = base / check_name(cfg["name"], "dataset name")  # it becomes a folder name
    if _matches(default, wanted):
        return default
    return base.parent / "cache" / f"{cfg['name']}-{config_hash(wanted)}"


def ensure_prepared(cfg: dict, base="data/prepared") -> PreparedDataset:
    """The prepared dataset for ``cfg``, importing it first when it is missing or stale."""
    root = prepared_dir_for(cfg, base)
    if not _matches(root, prepare_config(cfg)):
        prepare_dataset(cfg, root)
    return load_prepared(root)
