"""What keeps the dashboard from leaking files or taking writes from strangers (issue #9 part 3).

- It binds 127.0.0.1 unless told otherwise, and a non-loopback host needs ``MEDSEGLAB_DASHBOARD_TOKEN``.
- An artifact path from a URL is checked before it reaches the store: no ``..``, no absolute path,
  no backslash, no control character, whatever URL encoding carried it; on a local store the file's
  real path (symlinks resolved) must lie inside the run's artifact folder.
- With a token set, every request but the login page needs it (cookie set at login, or header), and
  the write callbacks check it again themselves.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import re
from pathlib import Path
from urllib.parse import unquote

from medseglab.errors import UserError

TOKEN_ENV = "MEDSEGLAB_DASHBOARD_TOKEN"
TOKEN_COOKIE = "medseglab_token"
TOKEN_HEADER = "X-Medseglab-Token"
RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
IMAGE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")


def token_from_env() -> str | None:
    """The dashboard's token, or None when ``MEDSEGLAB_DASHBOARD_TOKEN`` is unset or empty."""
    value = os.environ.get(TOKEN_ENV, "").strip()
    return value or None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_host(host: str, token: str | None) -> None:
    """Refuse to serve on a non-loopback address without a token (anyone on the network could read
    the study's images and promote models)."""
    if not is_loopback(host) and not token:
        raise UserError(f"--host {host} would serve the dashboard to other machines without authentication; "
                        f"set {TOKEN_ENV} to a long random secret (users log in with it), or keep the default "
                        "--host 127.0.0.1 and reach it through an SSH tunnel")


def token_ok(given: str | None, token: str | None) -> bool:
    """Whether ``given`` matches ``token`` (always true when no token is set); constant time."""
    if not token:
        return True
    return bool(given) and hmac.compare_digest(str(given).encode(), token.encode())


def safe_artifact_path(path: str) -> str | None:
    """``path`` as a relative artifact path with '/' separators, or None when it could leave the run's
    artifacts: ``..`` or ``.`` parts, an absolute path, a backslash, a NUL/control character, or any of
    these hidden behind (repeated) URL encoding (``%2e%2e``, ``%2f``, ``%252e``)."""
    if not path:
        return None
    decoded = path
    for _ in range(3):  # a doubly encoded '..' must not survive a later decode
        once = unquote(decoded)
        if once == decoded:
            break
        decoded = once
    if "%" in decoded or "\\" in decoded or any(ord(ch) < 32 for ch in decoded):
        return None
    if decoded.startswith("/") or re.match(r"^[A-Za-z]:", decoded):
        return None
    parts = decoded.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return None
    return "/".join(parts)


def inside(folder: str | os.PathLike, path: str) -> Path | None:
    """The real path of ``folder/path`` if it is a file inside ``folder``'s real path (symlinks
    resolved, so a link that points out of the folder is refused), else None."""
    root = Path(os.path.realpath(folder))
    target = Path(os.path.realpath(root / path))
    if root != target and root in target.parents and target.is_file():
        return target
    return None


def valid_run_id(run_id: str) -> bool:
    return bool(RUN_ID.match(run_id or ""))


def valid_image_id(image_id: str) -> bool:
    return bool(IMAGE_ID.match(image_id or "")) and ".." not in image_id
