"""The tracking store itself: one client factory that creates, migrates and checks the store once.

- A new SQLite store is created and migrated by one process at a time, under ``fcntl.flock`` on
  ``<db>.lock`` (three processes started together on a fresh store raced MLflow's migrations:
  ``duplicate column name: step``), then switched to WAL so readers do not block the writer.
- A corrupt database is a :class:`~medseglab.errors.TrackingError` naming the file and the fix,
  not a SQLAlchemy traceback.
- An artifact folder that cannot be written is found before a run starts (:func:`check_writable`).

Every client is built with an explicit tracking URI; nothing here sets MLflow's global URI.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import tempfile
import threading
from pathlib import Path
from urllib.parse import unquote, urlparse

from medseglab.errors import TrackingError
from medseglab.tracking import conventions as C

_READY: set[str] = set()  # URIs this process has already checked (the lock and checks run once)
_READY_LOCK = threading.Lock()


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (None for other stores)."""
    if not uri.startswith("sqlite:"):
        return None
    path = uri.split("sqlite:///", 1)[1] if "sqlite:///" in uri else ""
    path = path.split("?", 1)[0]
    return None if not path or path == ":memory:" else Path(path)


def file_path(uri: str) -> Path | None:
    """The local folder of a ``file:`` URI or a plain path (None for remote stores)."""
    parsed = urlparse(str(uri))
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "" or len(parsed.scheme) == 1:  # a plain path (or a Windows drive letter)
        return Path(str(uri))
    return None


def _fix(db: Path) -> str:
    return (f"restore {db} from a backup (or move it aside to start an empty store), or point "
            "MLFLOW_TRACKING_URI / params tracking.uri at another store")


def _check_sqlite(db: Path) -> None:
    """Raise TrackingError when ``db`` exists but is not a sound SQLite database."""
    if not db.exists() or db.stat().st_size == 0:
        return
    try:
        with contextlib.closing(sqlite3.connect(str(db), timeout=30)) as conn:
            rows = conn.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as exc:
        raise TrackingError(f"tracking database {db} is not a readable SQLite database ({exc}); {_fix(db)}") from None
    if rows != [("ok",)]:
        first = str(rows[0][0]) if rows else "no answer"
        raise TrackingError(f"tracking database {db} is corrupt (quick_check: {first}); {_fix(db)}")


def _enable_wal(db: Path) -> None:
    with contextlib.closing(sqlite3.connect(str(db), timeout=60)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")


@contextlib.contextmanager
def _store_lock(db: Path):
    """An exclusive lock on ``<db>.lock`` held while the store is created or migrated."""
    lock = db.with_name(db.name + ".lock")
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _first_use(uri: str):
    """Build a client and touch the store, which makes MLflow create or migrate it."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.search_experiments(max_results=1)
    return client


def prepare_store(uri: str) -> None:
    """Make the store at ``uri`` ready for many processes, once per process.

    SQLite: under a file lock, check the file is a sound database, let MLflow create or migrate
    it, and switch it to WAL. Any failure is a TrackingError naming the database and the fix.
    """
    with _READY_LOCK:
        if uri in _READY:
            return
    db = sqlite_path(uri)
    if db is None:
        _READY.add(uri)
        return
    if not db.parent.is_dir():
        raise TrackingError(f"tracking URI {uri}: folder {db.parent} does not exist; create it or set "
                            "MLFLOW_TRACKING_URI / params tracking.uri to a store in an existing folder")
    with _store_lock(db):
        _check_sqlite(db)
        try:
            _first_use(uri)
        except Exception as exc:  # noqa: BLE001 - SQLAlchemy/alembic/MLflow raise many types; the file is at fault
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise TrackingError(f"tracking database {db} cannot be opened by MLflow ({reason[:200]}); "
                                f"{_fix(db)}") from None
        _enable_wal(db)
    with _READY_LOCK:
        _READY.add(uri)


def journal_mode(db: str | Path) -> str:
    """SQLite's journal mode of ``db`` (``wal`` once :func:`prepare_store` has run)."""
    with contextlib.closing(sqlite3.connect(str(db))) as conn:
        return str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()


def open_client(params: dict | None = None, uri: str | None = None):
    """An ``MlflowClient`` for ``uri`` (default: :func:`medseglab.tracking.tracking_uri` of ``params``).

    The store is created, migrated and checked once per process (:func:`prepare_store`); MLflow's
    process-global tracking URI is left alone.
    """
    from mlflow.tracking import MlflowClient

    uri = uri or C.tracking_uri(params)
    prepare_store(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def check_writable(location: str) -> None:
    """Raise TrackingError unless a file can be created in the artifact folder ``location``.

    Only local (``file:``) locations are probed; the probe writes and removes a file, so it also
    holds for root, whom permission bits do not stop.
    """
    folder = file_path(location)
    if folder is None:
        return
    fix = (f"make it writable (chmod u+rwx / chown it to this user), or set params tracking.artifact_root "
           "to a writable folder (a new experiment name is needed for an existing one: its location is fixed)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".medseglab-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise TrackingError(f"artifact folder {folder} cannot be written ({exc.strerror or exc}); {fix}") from None
