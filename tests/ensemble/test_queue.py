"""The SQLite review queue: enqueue once, decisions stored with history, clear refusals."""

import sqlite3
from pathlib import Path

import pytest

from medseglab.ensemble.algorithm import CANDIDATES
from medseglab.ensemble.queue import QueueError, ReviewQueue, default_queue_path


def item(image_id, dataset="skin", **extra):
    """A queue row whose candidate files exist (relative to the test's working folder)."""
    row = {"dataset": dataset, "image_id": image_id, "source_path": f"new/{image_id}.png", "proxy": "fp",
           "suggested": "intersection"}
    for i, cand in enumerate(CANDIDATES):
        path = Path("p") / dataset / image_id / f"{cand}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"mask")
        row.update({f"{cand}_path": str(path), f"{cand}_fg": 0.1 * i,
                    f"{cand}_fp_proxy": 0.01 * i, f"{cand}_fn_proxy": 0.02 * i})
    row.update(extra)
    return row


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def queue(tmp_path):
    with ReviewQueue(tmp_path / "review.db") as q:
        yield q


def test_enqueue_once(queue):
    assert queue.enqueue(item("a")) is True
    assert queue.enqueue(item("a", source_path="other.png")) is False
    assert queue.enqueue(item("a", dataset="kidney")) is True  # same id, other dataset
    assert queue.queued_ids("skin") == {"a"}
    items = queue.items("skin")
    assert len(items) == 1 and items.iloc[0]["source_path"] == "new/a.png"  # the first row is kept
    assert items.iloc[0]["status"] == "pending" and items.iloc[0]["union_fg"] == pytest.approx(0.2)


def test_accept_and_retrain_are_stored(queue, tmp_path):
    queue.enqueue(item("a"))
    queue.enqueue(item("b"))
    row = queue.decide("a", output="union", reviewer="dr-x", note="clean border")
    assert (row["status"], row["decision"], row["reviewer"], row["note"]) == ("accepted", "union", "dr-x", "clean border")
    assert row["decided_at"]
    queue.decide("b", retrain=True, reviewer="dr-y")
    queue.close()
    with ReviewQueue(tmp_path / "review.db") as again:  # persisted, not just in memory
        assert again.get("b")["status"] == "retrain"
        assert list(again.items(status="pending")["image_id"]) == []
        log = again.decisions("skin")
        assert list(log["image_id"]) == ["a", "b"] and list(log["decision"]) == ["union", "retrain"]


def test_changing_a_decision_needs_force_and_keeps_history(queue):
    queue.enqueue(item("a"))
    queue.decide("a", output="lmi", reviewer="r1")
    with pytest.raises(QueueError, match="already accepted.*--force"):
        queue.decide("a", output="tii", reviewer="r2")
    row = queue.decide("a", retrain=True, reviewer="r2", force=True)
    assert row["status"] == "retrain" and row["reviewer"] == "r2"
    assert list(queue.decisions(image_ids=["a"])["decision"]) == ["lmi", "retrain"]


def test_refusals_name_the_problem(queue):
    queue.enqueue(item("a"))
    queue.enqueue(item("a", dataset="kidney"))
    with pytest.raises(QueueError, match="not in the review queue"):
        queue.decide("zzz", output="lmi")
    with pytest.raises(QueueError, match="several datasets"):
        queue.decide("a", output="lmi")
    with pytest.raises(QueueError, match="exactly one"):
        queue.decide("a", dataset="skin")
    with pytest.raises(QueueError, match="exactly one"):
        queue.decide("a", dataset="skin", output="lmi", retrain=True)
    with pytest.raises(QueueError, match="unknown output"):
        queue.decide("a", dataset="skin", output="mean")
    with pytest.raises(QueueError, match="proxy"):
        queue.enqueue(item("c", proxy="dice"))
    assert queue.decide("a", dataset="kidney", output="tii")["dataset"] == "kidney"


def test_not_a_database(tmp_path):
    bad = tmp_path / "review.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(QueueError, match="--queue"):
        ReviewQueue(bad)


def test_status_check_constraint(queue):
    queue.enqueue(item("a"))
    with pytest.raises(sqlite3.IntegrityError):
        with queue._conn:
            queue._conn.execute("UPDATE review_queue SET status = 'maybe'")


@pytest.mark.parametrize(
    "uri, expected",
    [("sqlite:///mlflow.db", "review.db"), ("sqlite:///store/mlflow.db", "store/review.db"),
     ("file:///data/mlruns", "/data/review.db"), ("http://tracking:5000", "review.db")],
)
def test_default_queue_path_beside_the_store(uri, expected):
    assert str(default_queue_path(uri)) == expected


def test_accept_refuses_an_item_whose_masks_are_gone(queue):
    """The masks were deleted after queueing (once by predict itself): accepting one is refused."""
    queue.enqueue(item("a"))
    queue.enqueue(item("b"))
    Path("p/skin/a/union.png").unlink()
    with pytest.raises(QueueError, match=r"skin/a: .*p/skin/a/union\.png.*missing.*medseglab predict"):
        queue.decide("a", output="union")
    with pytest.raises(QueueError, match=r"p/skin/a/union\.png"):
        queue.decide("a", output="lmi")  # the reviewer could not compare it with the union
    assert queue.get("a")["status"] == "pending" and queue.decisions().empty
    assert queue.missing_masks("skin") == {"a"}
    assert queue.decide("a", retrain=True)["status"] == "retrain"  # nothing is accepted: allowed
    assert queue.missing_masks("skin") == set()  # only pending items are worth predicting again


def test_requeue_refreshes_only_a_pending_row(queue):
    queue.enqueue(item("a"))
    queue.enqueue(item("b"))
    queue.decide("b", output="tii")
    assert queue.enqueue(item("a", suggested="union"), replace_pending=True) is True
    assert queue.get("a")["suggested"] == "union" and queue.get("a")["status"] == "pending"
    assert queue.enqueue(item("b", suggested="union"), replace_pending=True) is False  # decided: kept
    assert queue.get("b")["suggested"] == "intersection" and queue.get("b")["decision"] == "tii"


def test_items_list_the_worst_estimated_dice_first(queue):
    queue.enqueue(item("old", created_at="2026-01-01T00:00:00+00:00"))  # no estimate: after the estimated ones
    for name, est in (("good", 0.95), ("bad", 0.31), ("mid", 0.7)):
        queue.enqueue(item(name, est_dice=est, **{f"{c}_est_dice": est - 0.01 * i for i, c in enumerate(CANDIDATES)}))
    items = queue.items("skin")
    assert list(items["image_id"]) == ["bad", "mid", "good", "old"]
    assert items.set_index("image_id").loc["bad", "tii_est_dice"] == pytest.approx(0.30)


def test_a_queue_from_before_the_estimator_gets_its_columns(tmp_path):
    path = tmp_path / "old.db"
    with ReviewQueue(path) as q:
        q.enqueue(item("a"))
    conn = sqlite3.connect(path)
    with conn:  # the schema before the estimator: no *_est_dice columns
        conn.executescript("CREATE TABLE t AS SELECT * FROM review_queue;")
        columns = [r[1] for r in conn.execute("PRAGMA table_info(review_queue)") if "est_dice" not in r[1]]
        conn.executescript(f"DROP TABLE review_queue; CREATE TABLE review_queue AS SELECT {', '.join(columns)} FROM t;"
                           "DROP TABLE t;")
    conn.close()
    with ReviewQueue(path) as q:
        q.enqueue(item("b", est_dice=0.5))
        items = q.items("skin")
    assert list(items["image_id"]) == ["b", "a"] and items["est_dice"].isna().tolist() == [False, True]
