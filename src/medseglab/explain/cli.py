"""`medseglab explain`: Grad-CAM, UMAP and galleries of a finished study (docs/EXPLAIN.md)."""

from __future__ import annotations

import argparse


def register(subparsers, common) -> None:
    p = subparsers.add_parser(
        "explain", parents=[common],
        help="Grad-CAM (both classes, repeats averaged), UMAP of penultimate features, Figure 2-5 galleries",
        description="Explain a finished study's LMI and TII models of one 80:20 set (docs/EXPLAIN.md): "
                    "Grad-CAM maps of both classes averaged over repeats, a UMAP of penultimate features and "
                    "the Figure 2-5 galleries; writes reports/<dataset>/explain/ and logs it on the study's run.",
    )
    p.add_argument("--dataset", required=True, help="dataset name (a key under `datasets:` in params.yaml)")
    p.add_argument("--run-id", default=None, help="study parent run (default: the newest finished study)")
    p.add_argument("--image-ids", default=None,
                   help="comma-separated test image ids to show besides best/worst/median (default params explain.image_ids)")
    p.add_argument("--split", type=int, default=None, help="which split (default: the one `medseglab stats`/`report` chose (Table S1), else that choice computed the same way)")
    p.add_argument("--ratio", type=int, default=None,
                   help="train %% of the set (default: 80, else the study's largest ratio)")
    p.add_argument("--prepared", default=None, help="prepared dataset folder (default: the study's own data)")
    p.add_argument("--ensemble", default=None,
                   help="Algorithm 1 choices (default reports/<dataset>/ensemble/choices.parquet; no frame if absent)")
    p.add_argument("--out", default=None, help="output folder (default reports/<dataset>/explain)")
    p.add_argument("--no-log", action="store_true", help="do not attach the results to the study's MLflow run")
    p.set_defaults(func=run_explain)


def _image_ids(text: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


def run_explain(args: argparse.Namespace) -> int:
    from medseglab.config import load_params
    from medseglab.explain.stage import study_explain

    params = load_params(args.params, args.overrides)
    run = study_explain(params, args.dataset, args.run_id, image_ids=_image_ids(args.image_ids), split=args.split,
                        ratio=args.ratio, prepared=args.prepared, ensemble=args.ensemble, out=args.out,
                        log=not args.no_log)
    print(run.describe())
    return 0
