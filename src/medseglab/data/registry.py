"""The format registry: a format name -> an importer that yields `Record`s.

An importer is ``fn(ctx: ImportContext) -> Iterable[Record]``. It may write what it decided
(e.g. how Gleason maps were combined) into ``ctx.details``; that goes into dataset.json.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from medseglab.config import ConfigError
from medseglab.data.errors import DataError
from medseglab.data.records import Record


@dataclass
class ImportContext:
    name: str                        # dataset name (params key)
    source: Path | None              # the source folder, as given (relative paths stay relative)
    options: dict                    # the format's options (defaults filled in)
    cfg: dict                        # the whole effective config
    image_size: tuple[int, int]      # target W, H
    details: dict = field(default_factory=dict)

    def option_key(self, key: str) -> str:
        return f"datasets.{self.name}.options.{key}"


@dataclass(frozen=True)
class Format:
    name: str
    importer: Callable[[ImportContext], Iterable[Record]]
    options: dict                    # known option -> default
    needs_source: bool = True
    layout: str = ""                 # one line shown when the source is missing or empty


FORMATS: dict[str, Format] = {}


def register_format(name: str, *, options: dict | None = None, needs_source: bool = True, layout: str = ""):
    """Decorator: ``@register_format("folder", options={...})`` on an importer function."""

    def wrap(fn):
        FORMATS[name] = Format(name, fn, dict(options or {}), needs_source, layout)
        return fn

    return wrap


def get_format(name) -> Format:
    import medseglab.data.formats  # noqa: F401  (registers the built-in formats)

    if name not in FORMATS:
        raise DataError(
            f"unknown dataset format {name!r}; known formats: {', '.join(sorted(FORMATS))} "
            "(set datasets.<name>.format or pass --format)"
        )
    return FORMATS[name]


def format_options(fmt: Format, options: dict | None, dataset: str) -> dict:
    """The format's defaults updated with the given options.

    An option of another format is ignored (params.yaml keeps e.g. ``combine`` beside a
    ``synthetic`` format so that switching the format back needs no other edit); a name no
    format knows is a config error (a typo would otherwise be silently ignored).
    """
    options = dict(options or {})
    known_anywhere = set().union(*(f.options for f in FORMATS.values()))
    unknown = sorted(set(options) - known_anywhere)
    if unknown:
        known = ", ".join(sorted(fmt.options)) or "none"
        raise ConfigError(
            f"datasets.{dataset}.options: {', '.join(unknown)} is not an option of any format "
            f"(format {fmt.name!r} takes: {known}); remove it or fix the spelling"
        )
    return {**fmt.options, **{k: v for k, v in options.items() if k in fmt.options}}
