"""The errors a user can fix, below every package: each is printed by the CLI as one line, exit 2.

Every message names the file, setting or value at fault and says what to do about it.
Library modules raise these; no library module imports ``medseglab.cli``.
"""

from __future__ import annotations

import re


class UserError(Exception):
    """A request the user can fix (wrong flag, missing study, key alive elsewhere, ...)."""


class ConfigError(UserError, ValueError):
    """A params.yaml value or override is wrong; the message names the key and the fix."""


class DataError(UserError, ValueError):
    """Input data is missing, unreadable or malformed; the message says which file and how to fix it."""


class QueueError(UserError):
    """A review-queue request that cannot be done as asked (unknown image, already decided, ...)."""


class TrackingError(UserError):
    """The MLflow tracking store or artifact store cannot be used; names the store and the fix."""


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def check_name(value: str, what: str = "dataset name", fix: str = "use letters, digits, '-' or '_'") -> str:
    """``value`` if it is a plain identifier that is safe as one path component, else a ConfigError.

    Dataset names (and other names that become folder names) must never carry ``/``, ``..`` or a
    leading dot: ``--dataset ../../x`` would otherwise write outside the project.
    """
    text = str(value)
    if not _NAME.fullmatch(text):
        raise ConfigError(f"{what} {text!r} is not a plain identifier; {fix} (at most 64, starting with a letter or digit)")
    return text
