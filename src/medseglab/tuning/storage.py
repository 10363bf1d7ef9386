"""Where an Optuna study lives: an RDB URL (SQLite for one worker, PostgreSQL for several), with
heartbeats so that a killed worker's trial is failed and run again (docs/TUNING.md, "Resume")."""

from __future__ import annotations

import warnings
from pathlib import Path

from medseglab.errors import ConfigError

RETRY_ATTEMPTS = 3  # a trial whose worker died is run again at most this many times


def absolute_url(url: str) -> str:
    """``sqlite:///optuna.db`` (relative to the project) as an absolute URL, so that Ray workers in
    other folders open the same file; other URLs unchanged."""
    if not url or "://" not in url:
        raise ConfigError(f"tune.storage={url!r}: give an RDB URL, e.g. sqlite:///optuna.db or "
                          "postgresql+psycopg2://user@host:5432/optuna")
    prefix = "sqlite:///"
    if url.startswith(prefix) and url != "sqlite:///:memory:":
        path = Path(url[len(prefix):])
        if not path.is_absolute():
            return prefix + str(path.resolve())
    return url


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite:")


def check_workers(url: str, workers: int) -> None:
    """Several workers need a server database: Optuna advises against SQLite for parallel workers."""
    if workers < 1:
        raise ConfigError(f"--workers {workers}: give at least 1")
    if workers > 1 and is_sqlite(url):
        raise ConfigError(
            f"--workers {workers} with storage {url}: SQLite does not take parallel writers well (Optuna's own "
            "advice); give a PostgreSQL URL with --storage or tune.storage, e.g. "
            "postgresql+psycopg2://user@host:5432/optuna (docs/TUNING.md)"
        )


def open_storage(url: str, heartbeat_s: int, grace_s: int):
    """An RDBStorage whose running trials beat every ``heartbeat_s`` seconds; a trial silent for
    ``grace_s`` is failed and queued again (`RetryHeartbeatStaleTrialCallback`)."""
    import optuna

    if grace_s <= heartbeat_s:
        raise ConfigError(f"tune.grace_s={grace_s} must exceed tune.heartbeat_s={heartbeat_s} (a live trial "
                          "would be failed between two beats)")
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # heartbeats: stable in use
    engine_kwargs = {"pool_pre_ping": True} if not is_sqlite(url) else {"connect_args": {"timeout": 60}}
    try:
        return optuna.storages.RDBStorage(
            url, engine_kwargs=engine_kwargs, heartbeat_interval=int(heartbeat_s), grace_period=int(grace_s),
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=RETRY_ATTEMPTS),
        )
    except Exception as exc:  # noqa: BLE001 - narrowed below: SQLAlchemy's errors (Optuna's dependency, not ours)
        if not (type(exc).__module__.startswith("sqlalchemy") or isinstance(exc, (ImportError, ValueError))):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"Optuna storage {url}: cannot be opened ({first}); check the URL, that the database "
                          "server runs and that the user may connect (docs/TUNING.md)") from None
