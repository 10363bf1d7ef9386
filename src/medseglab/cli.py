"""`medseglab <stage>`: one subcommand per stage of the study.

Each stage package owns a small `cli.py` with ``register(subparsers, common)`` that adds its
subcommands and sets ``func`` on them; heavy imports (TensorFlow, MLflow) happen inside ``func``
so that `medseglab --help` stays fast. MLproject entry points and dvc.yaml stages call these.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from medseglab.errors import UserError, check_name  # UserError also re-exported for old imports
from medseglab.quiet import quiet_libraries

# Before any stage imports TensorFlow or MLflow: their env and loggers are read once, at import.
quiet_libraries()

# Stage order follows the life of an image: data -> splits -> training -> study -> ... -> dashboard.
STAGE_MODULES = (
    "medseglab.data.cli",
    "medseglab.splits.cli",
    "medseglab.study.cli",
    "medseglab.tuning.cli",
    "medseglab.stats.cli",
    "medseglab.ensemble.cli",
    "medseglab.explain.cli",
    "medseglab.dashboard.cli",
)


def common_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    common.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a params.yaml key for this run, e.g. --set train.batch_size=4 (repeatable)",
    )
    common.add_argument(
        "--set-file", dest="overrides", action=SetFile, metavar="FILE",
        help="apply every `key: value` line of a YAML file as --set overrides, e.g. the best values "
             "`medseglab tune` wrote (repeatable; later --set / --set-file win)",
    )
    return common


class SetFile(argparse.Action):
    """``--set-file FILE``: a flat YAML mapping of params keys, added to the ``--set`` overrides in order."""

    def __call__(self, parser, namespace, path, option_string=None):
        import json

        import yaml

        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            parser.error(f"--set-file {path}: cannot be read as YAML ({exc}); give the file `medseglab tune` wrote")
        if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
            parser.error(f"--set-file {path}: give a mapping of params keys, e.g. `train.learning_rate: 0.1`")
        overrides = list(getattr(namespace, self.dest, None) or [])
        overrides += [f"{key}={json.dumps(value)}" for key, value in data.items()]
        setattr(namespace, self.dest, overrides)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medseglab", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", metavar="<stage>")
    subparsers.required = True
    common = common_parser()
    for name in STAGE_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # stage not built yet
                continue
            raise
        module.register(subparsers, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if getattr(args, "dataset", None) is not None:
            # Every stage turns --dataset into folders (data/prepared/, results/, reports/, predictions/).
            check_name(args.dataset, "--dataset", "name the dataset with letters, digits, '-' or '_'")
        result = args.func(args)
    except UserError as exc:
        print(f"medseglab {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"medseglab {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
