"""The explain stage as a function: Grad-CAM, UMAP and galleries of a finished study -> ``reports/
<dataset>/explain/`` and the study's parent run (artifacts ``explain/``). ``medseglab explain`` and
``medseglab study --analyze`` call :func:`study_explain`.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Sequence

ARTIFACT_DIR = "explain"


@dataclasses.dataclass
class ExplainRun:
    """What :func:`study_explain` did: the study, the pipeline's summary, the output folder, notes."""

    dataset: str
    run_id: str
    ratio: int
    summary: dict
    out_dir: Path
    notes: list[str]
    logged: bool

    def describe(self) -> str:
        """The lines the CLI prints."""
        from medseglab.explain.pipeline import FILES

        s = self.summary
        return "\n".join([
            *self.notes,
            f"explain {self.dataset}: split {s['split']} ({self.ratio}:{100 - self.ratio}) of study {self.run_id}, "
            f"{s['n_test_images']} test images; Grad-CAM layer {s['gradcam']['layer']!r}, "
            f"UMAP n_neighbors {s['embedding']['n_neighbors_used']}; shown: "
            + ", ".join(f"{k} {v}" for k, v in s["selection"].items()),
            f"wrote {self.out_dir}/" + "{" + ",".join(FILES) + "}"
            + (f" and logged them to run {self.run_id} under {ARTIFACT_DIR}/" if self.logged else ""),
        ])


def study_explain(params: dict, dataset: str, run_id: str | None = None, *, image_ids: Sequence[str] = (),
                  split: int | None = None, ratio: int | None = None, prepared: str | Path | None = None,
                  ensemble: str | Path | None = None, out: str | Path | None = None, log: bool = True) -> ExplainRun:
    """Explain study ``run_id`` (default the newest finished study of ``dataset``): Figure 2-5 galleries
    of ``image_ids`` besides best/worst/median, Grad-CAM, UMAP, written to ``out`` (default
    ``reports/<dataset>/explain``) and, with ``log``, to the parent run. ``ensemble``: Algorithm 1's
    choices (default ``reports/<dataset>/ensemble/choices.parquet``; no frame when absent).
    ``ratio``: default 80, else the study's largest; ``split``: default the chosen split that
    `stats`/`report` recorded (``stats.selection.chosen_split``), else that choice computed now."""
    import pandas as pd

    from medseglab import tracking
    from medseglab.config import resolve
    from medseglab.errors import UserError
    from medseglab.ensemble.stage import study_ratio
    from medseglab.names import INITS
    from medseglab.explain.pipeline import StudySource, explain_study, settings_from_params
    from medseglab.stats.provenance import study_provenance
    from medseglab.stats.selection import chosen_split
    from medseglab.tracking.repeats import finished_trainings, load_study_data

    resolve(params, dataset)  # unknown dataset -> ConfigError naming the choices
    settings = settings_from_params(params, dataset, tuple(image_ids))
    uri = tracking.tracking_uri(params)
    study = tracking.find_study(dataset, run_id, params)
    run_id = study.info.run_id
    data = load_study_data(study, params, prepared)
    notes = []
    choices_path = Path(ensemble) if ensemble else Path("reports") / dataset / "ensemble" / "choices.parquet"
    choices = pd.read_parquet(choices_path) if choices_path.is_file() else None
    if choices is None:
        notes.append(f"note: {choices_path} not found; the Figure 5 gallery has no Algorithm 1 frame "
                     f"(run `medseglab ensemble --dataset {dataset}` first to get it)")
    children = tracking.study_children(run_id, uri=uri)
    ratio, why = study_ratio(children, ratio)
    notes.append(f"ratio {ratio} ({why})")
    if split is None:
        try:
            chosen = chosen_split(study, params, uri=uri)
            rows = finished_trainings(children, ratio)
            complete = [s for s, part in rows.groupby(rows["split"].astype(int)) if set(part["init"]) >= set(INITS)]
            split, note = chosen.for_ratio(ratio, complete)
        except ValueError as exc:
            raise UserError(f"study {run_id}: {exc}") from exc
        notes.append(chosen.line(dataset, split))
        if note:
            notes.append(f"note: {note}")
    else:
        notes.append(f"{dataset}: split {split} chosen (--split)")
    source = StudySource(
        children=children, load_model=functools.partial(tracking.load_model, uri=uri),
        load_probabilities=functools.partial(tracking.load_probabilities, uri=uri), load_images=data.load_images,
        load_masks=data.load_masks, manifest=data.manifest, choices=choices, study_run_id=run_id,
    )
    out_dir = Path(out or Path("reports") / dataset / "explain")
    try:
        summary = explain_study(source, out_dir, settings, dataset=dataset, split=split, ratio=ratio,
                                provenance=study_provenance(study, params, children, uri=uri))
    except ValueError as exc:
        raise UserError(f"study {run_id}: {exc}") from exc
    if log:
        client = tracking.open_client(uri=uri)
        client.log_artifacts(run_id, str(out_dir), artifact_path=ARTIFACT_DIR)
        client.set_tag(run_id, "medseglab.explain.split", str(summary["split"]))
        client.set_tag(run_id, "medseglab.explain.ratio", str(ratio))
    return ExplainRun(dataset, run_id, ratio, summary, out_dir, notes, log)
