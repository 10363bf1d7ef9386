"""`medseglab ensemble | predict | review`: Algorithm 1 with and without ground truth."""

from __future__ import annotations

import argparse
from pathlib import Path

from medseglab.names import CANDIDATES, INITS

QUEUE_HELP = "review queue SQLite file (default review.db beside the tracking store)"


def register(subparsers, common) -> None:
    p = subparsers.add_parser(
        "ensemble", parents=[common],
        help="Algorithm 1 on a study's test sets: which of LMI, TII, union, intersection wins per image",
        description="Run Algorithm 1 (docs/ENSEMBLE.md) on a finished study's test sets: per image, which of "
                    "LMI, TII, their union and intersection scores best, with a summary; writes "
                    "reports/<dataset>/ensemble/ and logs it on the study's parent MLflow run.",
    )
    p.add_argument("--dataset", required=True, help="dataset name (a key under `datasets:` in params.yaml)")
    p.add_argument("--run-id", default=None, help="study parent run (default: the newest finished study)")
    p.add_argument("--ratio", type=int, default=None,
                   help="train %% of the sets to use (default: 80, the 80:20 sets, else the study's largest ratio)")
    p.add_argument("--splits", type=int, nargs="+", default=None, help="only these splits (default: all in the study)")
    p.add_argument("--prepared", default=None, help="prepared dataset folder (default data/prepared/<dataset>)")
    p.add_argument("--out", default=None, help="output folder (default reports/<dataset>/ensemble)")
    p.add_argument("--no-log", action="store_true", help="do not attach the results to the study's MLflow run")
    p.set_defaults(func=run_ensemble)

    p = subparsers.add_parser(
        "promote", parents=[common],
        help="rank a finished study's models and move the registry's champion/challenger aliases",
        description="Rank the candidate trainings of a finished study (the chosen split's 80:20 models) by "
                    "--criterion, register the winners and set alias champion (best) and challenger (runner-up) "
                    "per init, and register the LMI+TII pair (Algorithm 1's four outputs) as champion "
                    "(docs/REGISTRY.md).",
    )
    p.add_argument("--dataset", required=True, help="dataset name (a key under `datasets:` in params.yaml)")
    p.add_argument("--study", default=None, metavar="RUN_ID",
                   help="study parent run (default: the newest finished study of the dataset)")
    p.add_argument("--criterion", default="dice_median",
                   help="ranking: <metric>_<median|mean> of the per-image test table, ties by lower SD "
                        "(default dice_median)")
    p.add_argument("--dry-run", action="store_true", help="print the ranking and what would change; change nothing")
    p.set_defaults(func=run_promote)

    p = subparsers.add_parser(
        "predict", parents=[common],
        help="run the champion LMI and TII models on new images and queue the four outputs for review",
        description="Segment new images (no ground truth) with the registry's champion pair of the dataset "
                    "(`medseglab promote`), or with one split's models of a study (--from-study, --run-id, "
                    "--split or --ratio; also when no pair is promoted yet); writes the four candidate masks "
                    "(LMI, TII, union, intersection) per image and queues each image for review "
                    "(`medseglab review list`).",
    )
    p.add_argument("--dataset", required=True, help="dataset whose models to use (a key under `datasets:`)")
    p.add_argument("--images", required=True, help="folder of .png/.jpg images")
    p.add_argument("--model", default=None, help="registered pair to use at alias champion (default: the "
                                                 "dataset's champion pair promoted last)")
    p.add_argument("--from-study", action="store_true", help="use a study's trainings, not the registry's champion")
    p.add_argument("--run-id", default=None, help="study parent run (default: the newest finished study; implies --from-study)")
    p.add_argument("--split", type=int, default=None, help="which split's models (default 0; implies --from-study)")
    p.add_argument("--ratio", type=int, default=None, help="which ratio's models (default 80; implies --from-study)")
    p.add_argument("--out", default="predictions", help="masks go to OUT/<dataset>/<image_id>/ (default predictions)")
    p.add_argument("--queue", default=None, help=QUEUE_HELP)
    p.add_argument("--batch-size", type=int, default=8, help="images per model call (default 8; lower it if memory runs out)")
    p.set_defaults(func=run_predict)

    p = subparsers.add_parser(
        "review", help="the human review queue: list items, accept an output or send back",
        description="The review queue `medseglab predict` fills: `review list` shows the items, "
                    "`review accept ID --output union` (or --retrain) closes one.",
    )
    sub = p.add_subparsers(dest="review_command", metavar="<action>")
    sub.required = True
    q = sub.add_parser(
        "list", parents=[common], help="list queued images",
        description="List the review queue's items with the suggested output and each candidate's "
                    "agreement with the all-model consensus.",
    )
    q.add_argument("--dataset", default=None, help="only this dataset's items (default: all datasets)")
    q.add_argument("--status", default="pending", choices=["pending", "accepted", "retrain", "all"],
                   help="which items: pending (default), accepted, retrain or all")
    q.add_argument("--queue", default=None, help=QUEUE_HELP)
    q.set_defaults(func=run_review_list)
    q = sub.add_parser(
        "accept", parents=[common], help="close an item: accept one output, or --retrain",
        description="Record a reviewer's decision on one queued image: the output accepted (--output), or "
                    "--retrain when none is good enough. Every decision is kept in the queue's log.",
    )
    q.add_argument("image_id", help="the queued image's id (as `medseglab review list` shows it)")
    choice = q.add_mutually_exclusive_group(required=True)
    choice.add_argument("--output", choices=CANDIDATES, help="the output the reviewer accepts")
    choice.add_argument("--retrain", action="store_true", help="none is good enough: send the models back to training")
    q.add_argument("--reviewer", default=None, help="who decides (default: the login name)")
    q.add_argument("--note", default=None, help="free-text remark stored with the decision")
    q.add_argument("--dataset", default=None, help="needed when the image id is queued for several datasets")
    q.add_argument("--force", action="store_true", help="change a decision already made (the old one stays in the log)")
    q.add_argument("--queue", default=None, help=QUEUE_HELP)
    q.set_defaults(func=run_review_accept)


# --- ensemble ----------------------------------------------------------------------------------


def run_ensemble(args: argparse.Namespace) -> int:
    from medseglab.config import load_params
    from medseglab.ensemble.stage import study_ensemble

    params = load_params(args.params, args.overrides)
    run = study_ensemble(params, args.dataset, args.run_id, ratio=args.ratio, splits=args.splits,
                         prepared=args.prepared, out=args.out, log=not args.no_log)
    print(run.describe())
    return 0


# --- promote -----------------------------------------------------------------------------------


def run_promote(args: argparse.Namespace) -> int:
    from medseglab.config import load_params
    from medseglab.ensemble.promotion import promote_study

    params = load_params(args.params, args.overrides)
    promotion = promote_study(params, args.dataset, args.study, criterion=args.criterion, dry_run=args.dry_run)
    print(promotion.describe())
    return 0


# --- predict -----------------------------------------------------------------------------------


def _queue_path(args: argparse.Namespace, params: dict) -> Path:
    if args.queue:
        return Path(args.queue)
    from medseglab.ensemble.queue import default_queue_path
    from medseglab.tracking import tracking_uri

    return default_queue_path(tracking_uri(params))


def run_predict(args: argparse.Namespace) -> int:
    import sys

    from medseglab.errors import UserError
    from medseglab.config import load_params, resolve
    from medseglab.ensemble.stage import ensemble_settings

    params = load_params(args.params, args.overrides)
    cfg = resolve(params, args.dataset)
    settings = ensemble_settings(params)
    if args.batch_size < 1:
        raise UserError(f"--batch-size {args.batch_size}: give a positive number")

    from medseglab import tracking
    from medseglab.ensemble.predict import list_images, predict_folder
    from medseglab.ensemble.queue import ReviewQueue

    list_images(args.images)  # a wrong folder fails before MLflow and TensorFlow load
    uri = tracking.tracking_uri(params)
    from_study = args.from_study or args.run_id is not None or args.split is not None or args.ratio is not None
    champion = None if from_study else _champion(args, uri)
    if champion is not None:
        models, settings, provenance, estimator = _champion_models(champion, uri, settings)
        lmi_runs = provenance["model_run_ids"].get(INITS[0]) or []
        if lmi_runs:
            _warn_if_unlike_training(args.images, lmi_runs[0], uri)
    else:
        models, provenance, estimator = _study_models(args, params, uri, settings)
    print("medseglab predict: " + ("queue ordered by estimated Dice, worst first" if estimator is not None else
                                   f"no Dice estimator: suggestions by the fewest {settings['review_fewest']} "
                                   "against the models' consensus"), file=sys.stderr)
    with ReviewQueue(_queue_path(args, params)) as queue:
        counts = predict_folder(
            models, args.images, args.out, queue, dataset=args.dataset, image_size=cfg.get("image_size"),
            combine=settings["combine"], threshold=settings["mask_threshold"],
            review_fewest=settings["review_fewest"], batch_size=args.batch_size, provenance=provenance,
            estimator=estimator,
        )
        queue_path = queue.path
    print(f"predict {args.dataset}: {counts['found']} images, {counts['skipped']} already queued, "
          f"{counts['queued']} newly queued in {queue_path}; masks under {Path(args.out) / args.dataset}")
    return 0


def _champion(args: argparse.Namespace, uri: str):
    """The registry's champion pair for predict, None to use a study (said on stderr)."""
    import sys

    from medseglab.errors import UserError
    from medseglab.tracking import registry

    champion = registry.resolve_champion(args.dataset, name=args.model, uri=uri)
    if champion is None and args.model:
        raise UserError(f"registered model {args.model!r} has no alias champion in {uri}; run `medseglab promote "
                        f"--dataset {args.dataset}` or pass another --model")
    if champion is None:
        print(f"medseglab predict: no champion pair registered for {args.dataset} in {uri}; using the newest "
              f"finished study's models (`medseglab promote --dataset {args.dataset}` registers one)", file=sys.stderr)
    else:
        print(f"medseglab predict: models {champion.model_uri} (version {champion.version})", file=sys.stderr)
    return champion


def _champion_models(champion, uri: str, settings: dict):
    """(models, settings, provenance, Dice estimator or None) of the champion pair: its Keras members,
    combined as it was registered."""
    from medseglab.tracking import registry

    pair = registry.load_pair(champion.model_uri, uri=uri).unwrap_python_model()
    config = pair.config
    settings = dict(settings, combine=pair.combine, mask_threshold=pair.threshold)
    provenance = {"study_run_id": config.get("study_run_id"), "split": config.get("split"),
                  "ratio": config.get("ratio"),
                  "model_run_ids": {**config.get("run_ids", {}), "pair": f"{champion.name}/{champion.version}"}}
    return pair.models, settings, provenance, getattr(pair, "estimator", None)


def _study_models(args: argparse.Namespace, params: dict, uri: str, settings: dict):
    """(models, provenance, Dice estimator or None) of one split's LMI and TII trainings of a finished study."""
    import sys

    from medseglab.ensemble.estimator import DiceEstimator
    from medseglab.ensemble.promotion import study_estimator
    from mlflow.exceptions import MlflowException

    from medseglab import tracking
    from medseglab.errors import UserError
    from medseglab.progress import bar
    from medseglab.tracking.repeats import finished_trainings

    split = 0 if args.split is None else args.split
    ratio = 80 if args.ratio is None else args.ratio
    study = tracking.find_study(args.dataset, args.run_id, params)
    run_id = study.info.run_id
    children = tracking.study_children(run_id, uri=uri)
    rows = finished_trainings(children, ratio, [split])
    runs = {init: rows.loc[rows["init"] == init, "run_id"].astype(str).tolist() for init in INITS}
    if not runs["lmi"] or not runs["tii"]:
        have = sorted({(int(s), int(r)) for s, r in zip(children["split"], children["ratio"])})
        raise UserError(f"study {run_id} has no finished LMI and TII trainings for split {split} ratio "
                        f"{ratio}; it has (split, ratio) {have}: pass --split/--ratio")
    _warn_if_unlike_training(args.images, runs["lmi"][0], uri)
    import medseglab.models.saving  # noqa: F401  (registers the custom layers the saved models use)

    models = {}
    for init, ids in runs.items():
        models[init] = []
        for rid in bar(ids, desc=f"load {init.upper()} models", unit="model"):
            try:
                models[init].append(tracking.load_model(rid, uri=uri))
            except (MlflowException, OSError) as exc:
                raise UserError(f"training run {rid} ({init.upper()}, split {split}, ratio {ratio}) has no "
                                f"loadable `model` artifact ({str(exc).splitlines()[0]}); retrain it with "
                                "`medseglab study` or pick another --split/--ratio") from exc
    estimator, note = study_estimator(study, split, ratio, settings, uri=uri)
    print(f"medseglab predict: {note}", file=sys.stderr)
    estimator = DiceEstimator.from_dict(estimator) if estimator is not None else None
    return models, {"study_run_id": run_id, "split": split, "ratio": ratio, "model_run_ids": runs}, estimator


def _warn_if_unlike_training(images: str, run_id: str, uri: str) -> None:
    """One stderr line when the images are unlike the data the study's models were trained on."""
    import sys

    from medseglab import tracking
    from medseglab.ensemble.mismatch import images_of, mismatch, trained_on
    from medseglab.ensemble.predict import list_images

    run = tracking.get_run(run_id, uri=uri)
    line = mismatch(trained_on(run.data.params, run.data.tags), images_of([p for _, p in list_images(images)]), images)
    if line:
        print(f"medseglab predict: {line}", file=sys.stderr)


# --- review ------------------------------------------------------------------------------------


def run_review_list(args: argparse.Namespace) -> int:
    from medseglab.config import load_params
    from medseglab.ensemble.queue import ReviewQueue

    params = load_params(args.params, args.overrides)
    path = _queue_path(args, params)
    if not path.is_file():
        print(f"review queue {path} is empty (no `medseglab predict` yet)")
        return 0
    with ReviewQueue(path) as queue:
        items = queue.items(args.dataset, None if args.status == "all" else args.status)
    if items.empty:
        print(f"no {'' if args.status == 'all' else args.status + ' '}items in {path}")
        return 0
    proxy = items["proxy"].iloc[0]
    view = items[["dataset", "image_id", "status", "suggested"]].copy()
    estimated = items["est_dice"].notna().any()
    for cand in CANDIDATES:
        if estimated:
            view[f"{cand}_est"] = items[f"{cand}_est_dice"].round(3)
        else:
            view[f"{cand}_{proxy}"] = items[f"{cand}_{proxy}_proxy"].round(4)
    view["decision"] = items["decision"].fillna("")
    view["reviewer"] = items["reviewer"].fillna("")
    print(view.to_string(index=False))
    what = ("<candidate>_est columns: estimated Dice (no ground truth), worst first; suggested = the highest"
            if estimated else f"{proxy}_proxy columns: fraction of pixels vs the all-model consensus")
    print(f"{len(items)} item(s) in {path}; {what}; masks under the paths in the queue (e.g. {items['union_path'].iloc[0]})")
    return 0


def run_review_accept(args: argparse.Namespace) -> int:
    from medseglab.errors import UserError
    from medseglab.config import load_params
    from medseglab.ensemble.queue import ReviewQueue

    params = load_params(args.params, args.overrides)
    path = _queue_path(args, params)
    if not path.is_file():
        raise UserError(f"{path}: no review queue; run `medseglab predict` first or pass --queue PATH")
    with ReviewQueue(path) as queue:
        row = queue.decide(args.image_id, output=args.output, retrain=args.retrain, reviewer=args.reviewer,
                           note=args.note, dataset=args.dataset, force=args.force)
    print(f"{row['dataset']}/{row['image_id']}: {row['status']} ({row['decision']}) by {row['reviewer']} at {row['decided_at']}")
    return 0
