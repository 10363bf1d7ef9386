"""What the dashboard reads, and only through :mod:`medseglab.tracking` (never the project's folders).

One :class:`StudyStore` per tracking URI (``sqlite:///...`` or an ``http://`` MLflow server work the
same: every read is an MLflow client call or an artifact download). Reads are cached:

- runs (``get_run``) for ``ttl`` seconds, so a running study's progress stays live;
- artifacts by (run id, path, the run's *stamp*): status, end time, metrics and tags change when a
  stage writes to the run, so a new ``medseglab stats`` shows without a restart, while a finished
  750-run study's ``study/per_image.parquet`` is downloaded and parsed once, not 750 training tables.
- downloaded files in a private cache folder (thumbnails are made from them by ``images``).

The only files read outside MLflow are the inputs and ground-truth masks of the drill-down, from the
prepared dataset the study was trained on (found by its content hash, as ``ensemble`` and ``explain``
find it: :func:`medseglab.tracking.repeats.find_prepared`); they are not artifacts.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from medseglab.dashboard import safety
from medseglab.tracking import conventions as C

STATES = ("FINISHED", "RUNNING", "FAILED", "KILLED", "SCHEDULED")


def _as_list(text: str | None) -> list:
    if text in (None, "", "null", "None"):
        return []
    try:
        value = json.loads(text)
    except ValueError:
        return []
    return value if isinstance(value, list) else [value]


def expected_trainings(params: dict[str, str]) -> int | None:
    """How many trainings a study's grid has, from its logged params (``splits``, ``repeats``,
    ``inits``, ``ratios`` and the profile's ``depletion.*``); None when they were not logged."""
    splits, repeats, inits, ratios = (_as_list(params.get(k)) for k in ("splits", "repeats", "inits", "ratios"))
    if not (splits and repeats and inits and ratios):
        return None
    n = len(ratios) * len(splits) * len(repeats) * len(inits)
    extra = [r for r in _as_list(params.get("depletion.ratios")) if r not in ratios]
    if extra:
        dep_splits = _as_list(params.get("depletion.splits")) or splits[:1]
        dep_repeats = _as_list(params.get("depletion.repeats")) or repeats[:1]
        n += len(extra) * len(dep_splits) * len(dep_repeats) * len(inits)
    return n


def run_stamp(run) -> str:
    """Changes whenever a stage writes to the run (status, end, metrics, tags)."""
    info = run.info
    items = [info.status, str(info.end_time), sorted(run.data.metrics.items()), sorted(run.data.tags.items())]
    return hashlib.sha1(repr(items).encode()).hexdigest()[:16]


class StudyStore:
    """Cached reads of one tracking store for the dashboard."""

    def __init__(self, uri: str, *, ttl: float = 5.0, cache_dir: str | Path | None = None):
        self.uri = uri
        self.ttl = ttl
        self._own_cache = cache_dir is None
        self.cache_dir = Path(cache_dir or tempfile.mkdtemp(prefix="medseglab-dashboard-"))
        self._lock = threading.RLock()
        self._runs: dict[str, tuple[float, Any]] = {}
        self._studies: tuple[float, pd.DataFrame] | None = None
        self._artifacts: dict[tuple, Any] = {}
        self._artifact_order: list[tuple] = []
        self._pending: dict[tuple, threading.Event] = {}  # keys being read: the others wait for that read
        self.max_cached = 256

    # -- MLflow through medseglab.tracking -----------------------------------------------------
    def client(self):
        from medseglab.tracking import open_client

        return open_client(uri=self.uri)

    def run(self, run_id: str, *, fresh: bool = False):
        now = time.monotonic()
        with self._lock:
            hit = self._runs.get(run_id)
            if hit and not fresh and now - hit[0] < self.ttl:
                return hit[1]
        from medseglab.tracking import get_run

        run = get_run(run_id, uri=self.uri)
        with self._lock:
            self._runs[run_id] = (now, run)
        return run

    def studies(self) -> pd.DataFrame:
        """Every study of every dataset, newest first: run id, dataset, profile, data source
        (synthetic marked), status, start, duration, trainings expected."""
        now = time.monotonic()
        with self._lock:
            if self._studies and now - self._studies[0] < self.ttl:
                return self._studies[1]
        from medseglab.tracking import list_studies

        rows = []
        for run in list_studies(uri=self.uri):
            tags, params, info = run.data.tags, run.data.params, run.info
            fmt = params.get("format", "")
            end = info.end_time or (int(time.time() * 1000) if info.status == "RUNNING" else None)
            rows.append({
                "run_id": info.run_id, "name": info.run_name, "dataset": tags.get(C.DATASET, ""),
                "profile": tags.get(C.PROFILE, ""), "format": fmt, "synthetic": fmt == "synthetic",
                "source": "SYNTHETIC demo data" if fmt == "synthetic" else f"{fmt}: {params.get('source', '')}",
                "status": info.status, "start_time": info.start_time,
                "started": pd.Timestamp(info.start_time, unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M UTC"),
                "duration_s": None if end is None else (end - info.start_time) / 1000.0,
                "expected": expected_trainings(params), "experiment_id": info.experiment_id,
            })
        frame = pd.DataFrame(rows, columns=["run_id", "name", "dataset", "profile", "format", "synthetic", "source",
                                            "status", "start_time", "started", "duration_s", "expected",
                                            "experiment_id"])
        with self._lock:
            self._studies = (now, frame)
        return frame

    def trainings(self, study_id: str) -> pd.DataFrame:
        """The study's child runs with their MLflow state: a running study's for ``ttl`` seconds, a
        finished one's until the study run changes (one search of a 750-run study, not one per refresh)."""
        run = self.run(study_id)
        live = run.info.status == "RUNNING"
        key = ("children", study_id, int(time.monotonic() // max(self.ttl, 0.001)) if live else run_stamp(run))
        return self._cached(key, lambda: self._children(study_id))

    def _children(self, study_id: str) -> pd.DataFrame:
        from medseglab.tracking import search_all

        client = self.client()
        parent = self.run(study_id)
        if parent.info.status == "FINISHED":
            # A finished study lists its trainings in study/runs.csv: one small download instead of a
            # search over every child run (750 runs: 2.5-7.5 s). A running study keeps the search (live).
            finished = self._finished_children(study_id, parent)
            if finished is not None:
                return finished
        runs = search_all(client, [parent.info.experiment_id],
                          C.tag_filter({C.PARENT: study_id, C.KIND: "training"}))
        rows = [{"run_id": r.info.run_id, "name": r.info.run_name, "status": r.info.status,
                 "init": r.data.tags.get(C.INIT), "split": r.data.tags.get(C.SPLIT),
                 "ratio": r.data.tags.get(C.RATIO), "repeat": r.data.tags.get(C.REPEAT),
                 "experiment_id": r.info.experiment_id} for r in runs]
        return pd.DataFrame(rows, columns=["run_id", "name", "status", "init", "split", "ratio", "repeat",
                                           "experiment_id"])

    def _finished_children(self, study_id: str, parent) -> pd.DataFrame | None:
        """``tracking.study_children`` of a finished study, in ``_children``'s columns (tags as strings);
        None when it cannot be read (then the search decides)."""
        from medseglab.tracking import study_children

        try:
            runs = study_children(study_id, uri=self.uri)
        except Exception:  # noqa: BLE001 - an unreadable runs.csv: fall back to the search
            return None
        if runs is None or not {"run_id", "init", "split", "ratio", "repeat"} <= set(runs.columns):
            return None
        # runs.csv's status says trained | resumed | skipped: every training of a finished study finished.
        status = runs["status"].astype(str) if "status" in runs else pd.Series("FINISHED", index=runs.index)
        name = runs["key"] if "key" in runs else pd.Series(None, index=runs.index, dtype=object)
        return pd.DataFrame({
            "run_id": runs["run_id"].astype(str), "name": name,
            "status": status.where(status.isin(STATES), "FINISHED"),
            "init": runs["init"], "split": runs["split"].astype(str), "ratio": runs["ratio"].astype(str),
            "repeat": runs["repeat"].astype(str), "experiment_id": parent.info.experiment_id,
        }, columns=["run_id", "name", "status", "init", "split", "ratio", "repeat", "experiment_id"])

    def progress(self, study_id: str) -> dict:
        """Trainings by state and the share of the grid finished."""
        children = self.trainings(study_id)
        counts = {state.lower(): int((children["status"] == state).sum()) for state in STATES}
        study = self.run(study_id)
        expected = expected_trainings(study.data.params) or len(children)
        return {**counts, "expected": expected, "status": study.info.status,
                "fraction": counts["finished"] / expected if expected else 0.0}

    # -- artifacts -------------------------------------------------------------------------------
    def _cached(self, key: tuple, make: Callable[[], Any]):
        """``make()`` once per key: concurrent callers of a key being made wait for it instead of making
        their own copy (50 clients opening a 750-run study at once would each read its 2 M-row table)."""
        while True:
            with self._lock:
                if key in self._artifacts:
                    return self._artifacts[key]
                pending = self._pending.get(key)
                if pending is None:
                    self._pending[key] = threading.Event()
                    break
            pending.wait()  # then the value is cached, or its make failed and this caller tries itself
        try:
            value = make()
            with self._lock:
                self._artifacts[key] = value
                self._artifact_order.append(key)
                while len(self._artifact_order) > self.max_cached:
                    self._artifacts.pop(self._artifact_order.pop(0), None)
        finally:
            with self._lock:
                self._pending.pop(key).set()
        return value

    def artifact(self, run_id: str, path: str, read: Callable[[Path], Any]):
        """``read(local file)`` of a run artifact, cached on the run's stamp; None when it is absent."""
        clean = safety.safe_artifact_path(path)
        if clean is None or not safety.valid_run_id(run_id):
            return None
        run = self.run(run_id)
        local = self.local_file(run_id, clean, run=run)
        if local is None:
            return None
        return self._cached((run_id, clean, run_stamp(run), getattr(read, "__name__", repr(read))),
                            lambda: read(local))

    def local_file(self, run_id: str, path: str, *, run=None) -> Path | None:
        """A local copy of one artifact file, or None when it does not exist or its path (or a symlink in
        it) would leave the run's artifacts. A local store is read in place (real path checked); any
        other store is downloaded once per run stamp into the cache folder."""
        from medseglab.tracking.store import file_path

        clean = safety.safe_artifact_path(path)
        if clean is None or not safety.valid_run_id(run_id):
            return None
        try:
            run = run or self.run(run_id)
        except Exception:  # noqa: BLE001 - MLflow raises several types for an unknown run id
            return None
        folder = file_path(run.info.artifact_uri)
        if folder is not None:
            return safety.inside(folder, clean)
        target_dir = self.cache_dir / run_id / run_stamp(run)
        cached = safety.inside(target_dir, clean) if target_dir.exists() else None
        if cached is not None:
            return cached
        import mlflow

        target_dir.mkdir(parents=True, exist_ok=True)
        try:
            mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=clean, dst_path=str(target_dir),
                                                tracking_uri=self.uri)
        except Exception:  # noqa: BLE001 - absent artifact: MlflowException, OSError or HTTP errors
            return None
        return safety.inside(target_dir, clean)

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[str]:
        from medseglab.tracking import list_artifacts

        run = self.run(run_id)
        return self._cached(("ls", run_id, path, run_stamp(run)),
                            lambda: list_artifacts(run_id, path, uri=self.uri))

    def csv(self, run_id: str, path: str) -> pd.DataFrame | None:
        return self.artifact(run_id, path, read_csv)

    def parquet(self, run_id: str, path: str) -> pd.DataFrame | None:
        return self.artifact(run_id, path, read_parquet)

    def text(self, run_id: str, path: str) -> str | None:
        return self.artifact(run_id, path, read_text)

    def json(self, run_id: str, path: str) -> dict | None:
        return self.artifact(run_id, path, read_json)

    # -- the study's own tables ----------------------------------------------------------------------
    def per_image(self, study_id: str) -> pd.DataFrame | None:
        """``study/per_image.parquet``: every training's per-image rows (one download per stamp), its
        text columns as categoricals (2 M rows of a 750-run study: ~0.65 GB as strings, a tenth of it so)."""
        return self.artifact(study_id, "study/per_image.parquet", read_per_image)

    def study_keys(self, study_id: str) -> dict | None:
        """What the pages' selectors need from the per-image table, computed once per stamp: sorted image
        ids (and their set), clinical labels, (split, ratio) pairs (largest ratio first) and ratios."""
        table = self.per_image(study_id)
        if table is None:
            return None

        def keys():
            pairs = table[["split", "ratio"]].drop_duplicates().astype(int)
            ids = sorted(str(v) for v in pd.unique(table["image_id"]))
            return {"image_ids": ids, "image_set": frozenset(ids),
                    "labels": sorted(str(v) for v in pd.unique(table["clinical_label"])),
                    "regimes": sorted(map(tuple, pairs.to_numpy().tolist()), key=lambda p: (-p[1], p[0])),
                    "ratios": sorted(set(pairs["ratio"].tolist()))}

        return self._cached(("keys", study_id, run_stamp(self.run(study_id))), keys)

    def regime(self, study_id: str, split: int | None, ratio: int | None) -> pd.DataFrame | None:
        """The per-image rows of one split and ratio, cached (every callback of a page filters the same)."""
        table = self.per_image(study_id)
        if table is None:
            return None

        def rows():
            mask = np.ones(len(table), bool)
            if ratio is not None:
                mask &= table["ratio"].to_numpy() == int(ratio)
            if split is not None:
                mask &= table["split"].to_numpy() == int(split)
            return table[mask].reset_index(drop=True)

        return self._cached(("regime", study_id, split, ratio, run_stamp(self.run(study_id))), rows)

    def prepared_ids(self, study_id: str) -> frozenset:
        """The image ids of the study's prepared dataset (empty when it is not on this machine)."""
        data = self.prepared(study_id)
        return self._cached(("prepared-ids", study_id, id(data)), lambda: frozenset(
            () if data is None else data.manifest["image_id"].astype(str)))

    def chosen_split(self, study_id: str) -> dict | None:
        """``stats/selection.json`` (the split Table S1 chose), as ``stats.selection`` records it."""
        return self.json(study_id, "stats/selection.json")

    def npz(self, run_id: str, path: str) -> dict | None:
        return self.artifact(run_id, path, read_npz)

    def prepared(self, study_id: str):
        """The prepared dataset the study used (inputs and masks of the drill-down), or None."""
        run = self.run(study_id)

        def load(_: Any = None):
            from medseglab.data import load_prepared
            from medseglab.tracking.repeats import find_prepared

            tags = run.data.tags
            try:
                folder = find_prepared(tags.get(C.DATASET, ""), None, tags.get(C.PROFILE), tags.get(C.DATA_HASH))
            except Exception:  # noqa: BLE001 - DataError: not on this machine; the page says so
                return None
            return load_prepared(folder)

        return self._cached(("prepared", study_id, run.data.tags.get(C.DATA_HASH)), load)

    def close(self) -> None:
        if self._own_cache:
            shutil.rmtree(self.cache_dir, ignore_errors=True)


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def read_parquet(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path)


def compact(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as categoricals (a few distinct values repeated over millions of rows)."""
    text = [c for c in frame.columns if frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c])]
    return frame.astype({c: "category" for c in text}) if text else frame


def read_per_image(path: Path) -> pd.DataFrame:
    """The per-image table with its text columns read straight into categoricals (no full string copy
    first: reading a 750-run table as strings, then converting, peaked at ~0.7 GB)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    text = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
    # self_destruct frees each Arrow column once converted (split_blocks: no consolidation copy), so the
    # peak is about the DataFrame rather than the Arrow table plus the DataFrame.
    return compact(pq.read_table(path, read_dictionary=text).to_pandas(self_destruct=True, split_blocks=True))


def read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def read_npz(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


@functools.lru_cache(maxsize=8)
def store_for(uri: str) -> StudyStore:
    """The one store per URI of this process (the app and its routes share its caches)."""
    return StudyStore(uri)


def to_png(array: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()
