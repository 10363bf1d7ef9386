"""One progress bar style for all long work: counts, rate and time left (tqdm)."""

from __future__ import annotations

import os
import sys

from tqdm.auto import tqdm


def bar(iterable=None, *, total=None, desc: str = "", unit: str = "it", leave: bool = True, **kwargs):
    """A tqdm bar on stderr; ``MEDSEGLAB_NO_PROGRESS=1`` silences it (tests, logs)."""
    disable = os.environ.get("MEDSEGLAB_NO_PROGRESS") == "1"
    return tqdm(
        iterable,
        total=total,
        desc=desc,
        unit=unit,
        leave=leave,
        file=sys.stderr,
        disable=disable,
        dynamic_ncols=True,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}{postfix}]",
        **kwargs,
    )
