"""Files of the ensemble stage (``reports/<dataset>/ensemble/``) and their copy on the study run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from medseglab.ensemble.summary import choice_counts, choices_figure, dice_gain, headline_metrics, summary_markdown
from medseglab.io import atomic_path, write_csv, write_parquet
from medseglab.stats.provenance import UNKNOWN, Provenance

ARTIFACT_DIR = "ensemble"
FILES = ("choices.parquet", "counts.csv", "summary.csv", "summary.md", "choices.png")


def write_reports(choices: pd.DataFrame, out_dir: str | Path, *, dataset: str, threshold: float, combine: str,
                  split: int | None = None, provenance: Provenance = UNKNOWN) -> dict:
    """Write the choice table, counts, Dice summary (csv + md) and bar chart; return paths and metrics.

    The files cover every split of ``choices``; the headline metrics are the chosen ``split``'s images
    (all rows when None). ``provenance`` (synthetic data, TII weights) labels the summary and figure."""
    out_dir = Path(out_dir)
    counts = choice_counts(choices)
    gains = dice_gain(choices)
    main = choices if split is None else choices[choices["split"].astype(int) == int(split)]
    write_parquet(out_dir / "choices.parquet", choices)
    write_csv(out_dir / "counts.csv", counts)
    write_csv(out_dir / "summary.csv", gains)
    text = summary_markdown(counts, gains, dataset=dataset, threshold=threshold, combine=combine)
    notes = [n for n in (provenance.data_note(), provenance.weights_note()) if n]
    if split is not None:
        notes.append(f"The run's headline metrics (ensemble.*) are split {split}'s images: the chosen split (Table S1).")
    if notes:
        text += "\n" + "\n".join(f"- {n}" for n in notes) + "\n"
    with atomic_path(out_dir / "summary.md") as tmp:
        tmp.write_text(text.replace(f"# Algorithm 1 on `{dataset}`", provenance.caption(f"# Algorithm 1 on `{dataset}`"), 1))
    with atomic_path(out_dir / "choices.png") as tmp:
        choices_figure(counts, tmp, title=provenance.figure_title(
            f"Algorithm 1 on {dataset}, an oracle (it reads the ground truth):\noutput chosen per image (Dice threshold {threshold})"))
    return {
        "paths": {name: out_dir / name for name in FILES},
        "metrics": headline_metrics(choice_counts(main), dice_gain(main, by_split=False)),
        "counts": counts,
        "gains": gains,
    }


def log_to_study(run_id: str, paths: dict[str, Path], metrics: dict[str, float], tags: dict[str, str], *,
                 uri: str | None = None) -> None:
    """Attach the files (artifact dir ``ensemble/``), headline metrics and settings to the study run.

    Works on a finished run; metrics get a step so a rerun adds a point instead of failing.
    ``uri``: the tracking store (default ``MLFLOW_TRACKING_URI`` or the project's).
    """
    import time

    from mlflow.entities import Metric, RunTag

    from medseglab.tracking.store import open_client

    client = open_client(uri=uri)
    for path in paths.values():
        client.log_artifact(run_id, str(path), artifact_path=ARTIFACT_DIR)
    stamp = int(time.time() * 1000)
    history = [len(client.get_metric_history(run_id, name)) for name in list(metrics)[:1]]
    step = history[0] if history else 0
    client.log_batch(
        run_id,
        metrics=[Metric(name, float(value), stamp, step) for name, value in metrics.items()],
        tags=[RunTag(key, str(value)) for key, value in tags.items()],
    )
