"""The human review queue of Algorithm 1 without ground truth (SPEC 7): one SQLite row per image.

A row is inserted (in its own transaction) only after the image's four candidate masks are on
disk, so a crash loses at most the image in flight, and a rerun skips every queued image. A
reviewer closes an item by accepting one output or sending the models back to training; every
decision is also appended to ``review_decisions``, so a changed decision keeps its history.

With a Dice estimator (Algorithm 1 without ground truth, ``ensemble.estimator``) each row holds every
candidate's estimated Dice (``<candidate>_est_dice``) and the suggested candidate's (``est_dice``, the
highest); :meth:`ReviewQueue.items` lists the worst estimates first, so reviewers see the images the
models most likely got wrong. Rows queued without an estimator (a study with one split, an older pair)
keep only the consensus proxies and come after them.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import os
import sqlite3
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlparse

import pandas as pd

from medseglab.ensemble.algorithm import CANDIDATES
from medseglab.errors import QueueError

STATUSES = ("pending", "accepted", "retrain")
ESTIMATE_COLUMNS = (*(f"{cand}_est_dice" for cand in CANDIDATES), "est_dice")
PROXIES = ("fp", "fn")

_CANDIDATE_COLUMNS = [
    f"{cand}_{field} {kind}"
    for cand in CANDIDATES
    for field, kind in (("path", "TEXT NOT NULL"), ("fg", "REAL NOT NULL"), ("fp_proxy", "REAL NOT NULL"), ("fn_proxy", "REAL NOT NULL"))
]

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS review_queue (
    dataset TEXT NOT NULL,
    image_id TEXT NOT NULL,
    source_path TEXT NOT NULL,
    study_run_id TEXT,
    split INTEGER,
    ratio INTEGER,
    model_run_ids TEXT,
    combine TEXT,
    {", ".join(_CANDIDATE_COLUMNS)},
    proxy TEXT NOT NULL CHECK (proxy IN ('fp', 'fn')),
    suggested TEXT NOT NULL,
    {", ".join(f"{cand}_est_dice REAL" for cand in CANDIDATES)},
    est_dice REAL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'retrain')),
    decision TEXT,
    reviewer TEXT,
    note TEXT,
    created_at TEXT NOT NULL,
    decided_at TEXT,
    PRIMARY KEY (dataset, image_id)
);
CREATE TABLE IF NOT EXISTS review_decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset TEXT NOT NULL,
    image_id TEXT NOT NULL,
    status TEXT NOT NULL,
    decision TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    note TEXT,
    decided_at TEXT NOT NULL
);
"""




def _missing_files(row: dict[str, Any]) -> list[str]:
    return [row[f"{cand}_path"] for cand in CANDIDATES if not Path(row[f"{cand}_path"]).is_file()]


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def default_reviewer() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        return os.environ.get("USER", "unknown")


def default_queue_path(tracking_uri: str) -> Path:
    """``review.db`` beside the tracking store (the SQLite file or the file store's folder)."""
    if tracking_uri.startswith("sqlite:///"):
        return Path(tracking_uri[len("sqlite:///"):]).parent / "review.db"
    if tracking_uri.startswith("file:"):
        return Path(urlparse(tracking_uri).path).parent / "review.db"
    if "://" not in tracking_uri:  # a plain folder path is a file store
        return Path(tracking_uri).parent / "review.db"
    return Path("review.db")  # a remote server: keep the queue in the project


class ReviewQueue:
    """The queue in one SQLite file; use as a context manager or call ``close()``."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(self.path, timeout=30)
            self._conn.row_factory = sqlite3.Row
            with self._conn:
                self._conn.executescript(SCHEMA)
                have = {row[1] for row in self._conn.execute("PRAGMA table_info(review_queue)")}
                for column in ESTIMATE_COLUMNS:  # a queue made before the Dice estimator: add its columns
                    if column not in have:
                        self._conn.execute(f"ALTER TABLE review_queue ADD COLUMN {column} REAL")
        except sqlite3.DatabaseError as exc:
            raise QueueError(f"{self.path}: not a usable review queue ({exc}); pass another --queue PATH") from exc

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "ReviewQueue":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------
    def queued_ids(self, dataset: str) -> set[str]:
        rows = self._conn.execute("SELECT image_id FROM review_queue WHERE dataset = ?", (dataset,))
        return {row[0] for row in rows}

    def missing_masks(self, dataset: str) -> set[str]:
        """Pending items of ``dataset`` with a candidate mask file gone: predict writes them again."""
        rows = self._conn.execute("SELECT * FROM review_queue WHERE dataset = ? AND status = 'pending'", (dataset,))
        return {row["image_id"] for row in rows if _missing_files(dict(row))}

    def enqueue(self, item: dict[str, Any], *, replace_pending: bool = False) -> bool:
        """Insert one pending item in its own transaction; False if (dataset, image_id) is queued already.

        ``replace_pending``: a row still pending is refreshed instead (its masks were predicted
        again); a decided row is never touched.
        """
        item = dict(item)
        item.setdefault("created_at", now())
        item["status"] = "pending"
        if item.get("proxy") not in PROXIES:
            raise QueueError(f"proxy must be one of {PROXIES}, got {item.get('proxy')!r} (params.yaml ensemble.review_fewest)")
        columns = ", ".join(item)
        marks = ", ".join("?" for _ in item)
        if replace_pending:
            updates = ", ".join(f"{col} = excluded.{col}" for col in item if col not in ("dataset", "image_id"))
            sql = (f"INSERT INTO review_queue ({columns}) VALUES ({marks}) ON CONFLICT (dataset, image_id) "
                   f"DO UPDATE SET {updates} WHERE review_queue.status = 'pending'")
        else:
            sql = f"INSERT OR IGNORE INTO review_queue ({columns}) VALUES ({marks})"
        with self._conn:
            cursor = self._conn.execute(sql, tuple(item.values()))
        return cursor.rowcount == 1

    def decide(
        self,
        image_id: str,
        *,
        output: str | None = None,
        retrain: bool = False,
        reviewer: str | None = None,
        note: str | None = None,
        dataset: str | None = None,
        force: bool = False,
    ) -> dict[str, Any]:
        """Close an item: accept ``output`` (one of CANDIDATES) or send the models back (``retrain``)."""
        if retrain == (output is not None):
            raise QueueError("give exactly one of --output NAME (accept that output) or --retrain")
        if output is not None and output not in CANDIDATES:
            raise QueueError(f"unknown output {output!r}; choose one of {', '.join(CANDIDATES)}")
        row = self.get(image_id, dataset)
        if row["status"] != "pending" and not force:
            raise QueueError(
                f"{row['dataset']}/{image_id} is already {row['status']} ({row['decision']}) by "
                f"{row['reviewer']} at {row['decided_at']}; pass --force to change the decision"
            )
        missing = _missing_files(row) if output is not None else []
        if missing:
            # An accepted output must be a file the reviewer could compare with the others.
            raise QueueError(
                f"{row['dataset']}/{image_id}: candidate mask file(s) {', '.join(missing)} are missing (moved or "
                "deleted after queueing); " + (
                    f"rerun `medseglab predict --dataset {row['dataset']} --images {Path(row['source_path']).parent}` "
                    "from the project root to write them again, then accept" if row["status"] == "pending"
                    else "restore them from a backup, or decide --retrain")
            )
        status, decision = ("retrain", "retrain") if retrain else ("accepted", output)
        reviewer = reviewer or default_reviewer()
        stamp = now()
        with self._conn:
            self._conn.execute(
                "UPDATE review_queue SET status = ?, decision = ?, reviewer = ?, note = ?, decided_at = ? "
                "WHERE dataset = ? AND image_id = ?",
                (status, decision, reviewer, note, stamp, row["dataset"], image_id),
            )
            self._conn.execute(
                "INSERT INTO review_decisions (dataset, image_id, status, decision, reviewer, note, decided_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (row["dataset"], image_id, status, decision, reviewer, note, stamp),
            )
        return self.get(image_id, row["dataset"])

    # -- reading ---------------------------------------------------------------------------
    def get(self, image_id: str, dataset: str | None = None) -> dict[str, Any]:
        query, args = "SELECT * FROM review_queue WHERE image_id = ?", [image_id]
        if dataset:
            query, args = query + " AND dataset = ?", args + [dataset]
        rows = [dict(r) for r in self._conn.execute(query, args)]
        if not rows:
            where = f" for dataset {dataset!r}" if dataset else ""
            raise QueueError(f"{image_id!r} is not in the review queue {self.path}{where}; see `medseglab review list`")
        if len(rows) > 1:
            names = sorted(r["dataset"] for r in rows)
            raise QueueError(f"{image_id!r} is queued for several datasets {names}; pass --dataset")
        return rows[0]

    def items(self, dataset: str | None = None, status: str | None = None) -> pd.DataFrame:
        clauses, args = [], []
        if dataset:
            clauses.append("dataset = ?")
            args.append(dataset)
        if status:
            if status not in STATUSES:
                raise QueueError(f"unknown status {status!r}; choose one of {', '.join(STATUSES)}")
            clauses.append("status = ?")
            args.append(status)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        # worst estimated Dice first; rows without an estimate after them, oldest first
        order = "dataset, est_dice IS NULL, est_dice, created_at, image_id"
        return pd.read_sql_query(f"SELECT * FROM review_queue{where} ORDER BY {order}", self._conn, params=args)

    def decisions(self, dataset: str | None = None, image_ids: Iterable[str] | None = None) -> pd.DataFrame:
        frame = pd.read_sql_query("SELECT * FROM review_decisions ORDER BY id", self._conn)
        if dataset:
            frame = frame[frame["dataset"] == dataset]
        if image_ids is not None:
            frame = frame[frame["image_id"].isin(list(image_ids))]
        return frame.reset_index(drop=True)
