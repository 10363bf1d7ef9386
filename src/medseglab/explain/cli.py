"""`medseglab explain`: Grad-CAM, UMAP and galleries of a finished study (docs/EXPLAIN.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

ARTIFACT_DIR = "explain"


def register(subparsers, common) -> None:
    p = subparsers.add_parser(
        "explain", parents=[common],
        help="Grad-CAM (both classes, repeats averaged), UMAP of penultimate features, Figure 2-5 galleries",
    )
    p.add_argument("--dataset", required=True)
    p.add_argument("--run-id", default=None, help="study parent run (default: the newest finished study)")
    p.add_argument("--image-ids", default=None,
                   help="comma-separated test image ids to show besides best/worst/median (default params explain.image_ids)")
    p.add_argument("--split", type=int, default=None, help="which 80:20 set (default: the one `medseglab stats` chose (Table S1), else the lowest with LMI and TII runs)")
    p.add_argument("--ratio", type=int, default=80, help="train %% of the set (default 80)")
    p.add_argument("--prepared", default=None, help="prepared dataset folder (default: the study's own data)")
    p.add_argument("--ensemble", default=None,
                   help="Algorithm 1 choices (default reports/<dataset>/ensemble/choices.parquet; no frame if absent)")
    p.add_argument("--out", default=None, help="output folder (default reports/<dataset>/explain)")
    p.add_argument("--no-log", action="store_true", help="do not attach the results to the study's MLflow run")
    p.set_defaults(func=run_explain)


def _image_ids(text: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


def run_explain(args: argparse.Namespace) -> int:
    import pandas as pd

    from medseglab.errors import UserError
    from medseglab.config import load_params, resolve
    from medseglab.explain.pipeline import FILES, StudySource, explain_study, settings_from_params

    params = load_params(args.params, args.overrides)
    resolve(params, args.dataset)  # unknown dataset -> ConfigError naming the choices
    settings = settings_from_params(params, args.dataset, _image_ids(args.image_ids))

    from medseglab import tracking
    from medseglab.tracking.repeats import load_study_data

    study = tracking.find_study(args.dataset, args.run_id, params)
    run_id = study.info.run_id
    prepared = load_study_data(study, params, args.prepared)

    choices_path = Path(args.ensemble) if args.ensemble else Path("reports") / args.dataset / "ensemble" / "choices.parquet"
    choices = pd.read_parquet(choices_path) if choices_path.is_file() else None
    if choices is None:
        print(f"note: {choices_path} not found; the Figure 5 gallery has no Algorithm 1 frame "
              f"(run `medseglab ensemble --dataset {args.dataset}` first to get it)")
    source = StudySource(
        children=tracking.study_children(run_id), load_model=tracking.load_model,
        load_probabilities=tracking.load_probabilities, load_images=prepared.load_images,
        load_masks=prepared.load_masks, manifest=prepared.manifest, choices=choices, study_run_id=run_id,
    )
    out_dir = Path(args.out or Path("reports") / args.dataset / "explain")
    try:
        summary = explain_study(source, out_dir, settings, dataset=args.dataset, split=_split(args, study), ratio=args.ratio)
    except ValueError as exc:
        raise UserError(f"study {run_id}: {exc}") from exc
    if not args.no_log:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=tracking.tracking_uri(params))
        client.log_artifacts(run_id, str(out_dir), artifact_path=ARTIFACT_DIR)
        client.set_tag(run_id, "medseglab.explain.split", str(summary["split"]))
    print(f"explain {args.dataset}: split {summary['split']} ({args.ratio}:{100 - args.ratio}) of study {run_id}, "
          f"{summary['n_test_images']} test images; Grad-CAM layer {summary['gradcam']['layer']!r}, "
          f"UMAP n_neighbors {summary['embedding']['n_neighbors_used']}; shown: "
          + ", ".join(f"{k} {v}" for k, v in summary["selection"].items()))
    print(f"wrote {out_dir}/" + "{" + ",".join(FILES) + "}"
          + ("" if args.no_log else f" and logged them to run {run_id} under {ARTIFACT_DIR}/"))
    return 0


def _split(args, study) -> int | None:
    """The split to explain: --split, else the Table S1 choice that `medseglab stats` logged on the study."""
    if args.split is not None:
        return args.split
    chosen = study.data.metrics.get("stats.chosen_split")
    if chosen is not None and args.ratio == 80:
        print(f"explaining split {int(chosen)}: the 80:20 set `medseglab stats` chose (Table S1)")
        return int(chosen)
    return None

