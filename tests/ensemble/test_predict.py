"""predict_folder on tiny Keras models whose masks are known in advance (conftest.py)."""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medseglab.data.errors import DataError  # noqa: E402
from medseglab.ensemble.algorithm import CANDIDATES  # noqa: E402
from medseglab.ensemble.predict import (  # noqa: E402
    list_images,
    model_input_size,
    predict_folder,
    review_proxies,
    suggest,
)
from medseglab.ensemble.queue import ReviewQueue  # noqa: E402



@pytest.fixture(scope="module")
def models(tiny):
    return tiny["tiny_models"]()


@pytest.fixture
def gradient_image(tiny):
    return tiny["gradient_image"]


def expected_masks(gradient_image):
    img = gradient_image().astype(float)
    lmi = img[..., 0] > 140.5
    tii = img[..., 1] > 120.5
    return {"lmi": lmi, "tii": tii, "union": lmi | tii, "intersection": lmi & tii}


@pytest.fixture
def images(tmp_path, gradient_image):
    folder = tmp_path / "new"
    folder.mkdir()
    for name in ("a", "b", "c", "d", "e"):
        Image.fromarray(gradient_image()).save(folder / f"{name}.png")
    (folder / "notes.txt").write_text("not an image, ignored")
    return folder


def run(models, images, tmp_path, queue, **kw):
    return predict_folder(models, images, tmp_path / "predictions", queue, dataset="skin", batch_size=2,
                          provenance={"study_run_id": "abc", "split": 0, "ratio": 80,
                                      "model_run_ids": {"lmi": ["l0", "l1"], "tii": ["t0", "t1"]}}, **kw)


def test_masks_written_and_queued(models, images, tmp_path, gradient_image):
    with ReviewQueue(tmp_path / "review.db") as queue:
        counts = run(models, images, tmp_path, queue)
        items = queue.items("skin").set_index("image_id")
    assert counts == {"found": 5, "skipped": 0, "queued": 5}
    assert sorted(items.index) == ["a", "b", "c", "d", "e"]
    expected = expected_masks(gradient_image)
    for cand in CANDIDATES:
        path = Path(items.loc["c", f"{cand}_path"])
        assert path == tmp_path / "predictions" / "skin" / "c" / f"{cand}.png"
        saved = np.asarray(Image.open(path))
        assert set(np.unique(saved)) <= {0, 255}
        np.testing.assert_array_equal(saved == 255, expected[cand], err_msg=cand)
        assert items.loc["c", f"{cand}_fg"] == pytest.approx(expected[cand].mean())
    row = items.loc["a"]
    assert row["status"] == "pending" and row["study_run_id"] == "abc" and row["combine"] == "intersection"
    assert '"lmi": ["l0", "l1"]' in row["model_run_ids"]
    proxies = [row[f"{c}_fp_proxy"] for c in CANDIDATES]
    assert row["suggested"] == CANDIDATES[int(np.argmin(proxies))]
    # the intersection marks a subset of each model's pixels, so it has no more consensus-FPs
    assert row["intersection_fp_proxy"] <= min(row["lmi_fp_proxy"], row["tii_fp_proxy"])


def test_rerun_skips_queued_images(models, images, tmp_path, gradient_image):
    with ReviewQueue(tmp_path / "review.db") as queue:
        run(models, images, tmp_path, queue)
        Image.fromarray(gradient_image()).save(images / "f.jpg")
        counts = run(models, images, tmp_path, queue)
        assert counts == {"found": 6, "skipped": 5, "queued": 1}
        assert len(queue.items("skin")) == 6


def test_crash_mid_batch_keeps_committed_rows_and_rerun_completes(models, images, tmp_path):
    seen = []

    def die_after_three(image_id):
        seen.append(image_id)
        if len(seen) == 3:  # b is committed, c (first of the second batch) too, d not yet
            raise KeyboardInterrupt("simulated crash")

    with ReviewQueue(tmp_path / "review.db") as queue:
        with pytest.raises(KeyboardInterrupt):
            run(models, images, tmp_path, queue, on_queued=die_after_three)
    with ReviewQueue(tmp_path / "review.db") as queue:  # a new process opens the file
        assert queue.queued_ids("skin") == {"a", "b", "c"}
        for image_id in ("a", "b", "c"):
            assert all(Path(queue.get(image_id)[f"{c}_path"]).is_file() for c in CANDIDATES)
        counts = run(models, images, tmp_path, queue)
        assert counts == {"found": 5, "skipped": 3, "queued": 2}
        assert sorted(queue.items("skin")["image_id"]) == ["a", "b", "c", "d", "e"]


def test_crash_between_masks_and_row_rewrites_that_image(models, images, tmp_path, monkeypatch):
    real = ReviewQueue.enqueue

    def fail_on_c(self, item, **kw):
        if item["image_id"] == "c":
            raise OSError("disk vanished")
        return real(self, item, **kw)

    with ReviewQueue(tmp_path / "review.db") as queue:
        monkeypatch.setattr(ReviewQueue, "enqueue", fail_on_c)
        with pytest.raises(OSError):
            run(models, images, tmp_path, queue)
        assert (tmp_path / "predictions" / "skin" / "c" / "union.png").is_file()  # files, no row
        assert queue.queued_ids("skin") == {"a", "b"}
        monkeypatch.setattr(ReviewQueue, "enqueue", real)
        assert run(models, images, tmp_path, queue)["queued"] == 3
    leftovers = [p.name for p in (tmp_path / "predictions" / "skin").iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_killed_process_loses_nothing_committed(images, tmp_path):
    """A real process death (os._exit: no finally, no close) after the 2nd commit."""
    script = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from conftest import tiny_models
        from medseglab.ensemble.predict import predict_folder
        from medseglab.ensemble.queue import ReviewQueue
        models = tiny_models()
        seen = []
        def die(image_id):
            seen.append(image_id)
            if len(seen) == 2:
                os._exit(9)
        queue = ReviewQueue({str(tmp_path / "review.db")!r})
        predict_folder(models, {str(images)!r}, {str(tmp_path / "predictions")!r}, queue, dataset="skin",
                       batch_size=4, on_queued=die)
        """
    )
    env = dict(os.environ, MEDSEGLAB_NO_PROGRESS="1", TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 9, result.stderr[-2000:]
    with ReviewQueue(tmp_path / "review.db") as queue:
        assert queue.queued_ids("skin") == {"a", "b"}


def test_bad_image_named_before_any_work(models, images, tmp_path):
    (images / "broken.jpg").write_bytes(b"\xff\xd8 definitely not a jpeg")
    with ReviewQueue(tmp_path / "review.db") as queue:
        with pytest.raises(DataError, match="broken.jpg"):
            run(models, images, tmp_path, queue)
        assert queue.queued_ids("skin") == set()


def test_image_folder_errors(tmp_path, gradient_image):
    with pytest.raises(DataError, match="no such folder"):
        list_images(tmp_path / "missing")
    (tmp_path / "x").mkdir()
    with pytest.raises(DataError, match="no .png"):
        list_images(tmp_path / "x")
    for name in ("same.png", "same.jpg"):
        Image.fromarray(gradient_image()).save(tmp_path / "x" / name)
    with pytest.raises(DataError, match="both give image id 'same'"):
        list_images(tmp_path / "x")


def test_other_sizes_resized_in_and_back_out(models, tmp_path, gradient_image):
    folder = tmp_path / "odd"
    folder.mkdir()
    Image.fromarray(gradient_image(width=64, height=48)).save(folder / "wide.png")
    with ReviewQueue(tmp_path / "review.db") as queue:
        run(models, folder, tmp_path, queue)
        path = queue.get("wide")["union_path"]
    saved = np.asarray(Image.open(path))
    assert saved.shape == (48, 64)
    # the gradient spans the same range, so the union keeps its shape at the source size
    assert saved[-1, 0] == 255 and saved[0, 0] == 0 and saved[0, -1] == 255


def test_review_proxies_and_suggestion_by_hand():
    maps = {
        "lmi": np.array([[[1, 1, 0, 0]]], np.float32),
        "tii": np.array([[[0, 1, 1, 0]]], np.float32),
        "union": np.array([[[1, 1, 1, 0]]], np.float32),
        "intersection": np.array([[[0, 1, 0, 0]]], np.float32),
    }
    consensus = np.array([[[1, 1, 0, 0]]], bool)
    p = review_proxies(maps, consensus, 0.5)
    assert p["union_fg"][0] == 0.75 and p["union_fp_proxy"][0] == 0.25 and p["union_fn_proxy"][0] == 0.0
    assert p["intersection_fn_proxy"][0] == 0.25 and p["tii_fp_proxy"][0] == 0.25
    assert suggest(p, "fp")[0] == "lmi"  # lmi and intersection both 0 fp: tie -> lmi
    assert suggest(p, "fn")[0] == "lmi"  # lmi and union both 0 fn: tie -> lmi
    with pytest.raises(ValueError, match="review_fewest"):
        suggest(p, "dice")


def test_vgg_unet_contract(tmp_path, gradient_image, tiny):
    """The study's real model class plugs in: raw 0..255 RGB in, (N, H, W, 2) softmax out."""
    from medseglab.models import build_vgg_unet

    size = tiny["SIZE"]
    model, _ = build_vgg_unet((size, size, 3), init="lmi", seed=0)
    assert model_input_size(model) == (size, size)
    folder = tmp_path / "one"
    folder.mkdir()
    Image.fromarray(gradient_image()).save(folder / "x.png")
    with ReviewQueue(tmp_path / "review.db") as queue:
        counts = run({"lmi": [model], "tii": [model, model]}, folder, tmp_path, queue)
        row = queue.get("x")
    assert counts["queued"] == 1
    for cand in CANDIDATES:
        assert 0.0 <= row[f"{cand}_fg"] <= 1.0 and Path(row[f"{cand}_path"]).is_file()
    assert row["union_fg"] >= max(row["lmi_fg"], row["tii_fg"]) >= row["intersection_fg"]


ISIC = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "isic2018" / "ISIC2018_Task1-2_Training_Input"


def test_real_isic_jpegs(models, tmp_path, shared_dataset):
    """Real dermoscopy JPEGs (256x256) go through: read, resize to 32x32, masks back at 256x256."""
    shared_dataset(ISIC.name, root=ISIC.parent)
    folder = tmp_path / "isic"
    folder.mkdir()
    for src in sorted(ISIC.glob("*.jpg"))[:3]:
        (folder / src.name).write_bytes(src.read_bytes())
    with ReviewQueue(tmp_path / "review.db") as queue:
        assert run(models, folder, tmp_path, queue)["queued"] == 3
        items = queue.items("skin")
    for row in items.itertuples():
        union = np.asarray(Image.open(row.union_path))
        with Image.open(row.source_path) as src:
            assert union.shape == (src.height, src.width)
        assert row.union_fg >= max(row.lmi_fg, row.tii_fg) >= row.intersection_fg


@pytest.mark.parametrize("name", ["..png", "...png", ".hidden.png"])
def test_dot_ids_refused_and_earlier_predictions_kept(models, images, tmp_path, gradient_image, name):
    """``..png`` (id '.') once replaced the whole predictions/<dataset>/ folder; ``...png`` crashed."""
    with ReviewQueue(tmp_path / "review.db") as queue:
        run(models, images, tmp_path, queue)
        Image.fromarray(gradient_image()).save(images / name, format="PNG")  # PIL reads no extension from "..png"
        with pytest.raises(DataError, match=re.escape(f"{name}: ") + ".* cannot be an image id.*rename the file"):
            run(models, images, tmp_path, queue)
        assert queue.queued_ids("skin") == {"a", "b", "c", "d", "e"}
        for image_id in ("a", "e"):
            assert all(Path(queue.get(image_id)[f"{c}_path"]).is_file() for c in CANDIDATES)


def test_masks_gone_accept_refused_until_predict_rewrites_them(models, images, tmp_path):
    """Masks deleted behind the queue's back: accept is refused, and a rerun of predict rewrites them."""
    import shutil

    from medseglab.errors import QueueError

    with ReviewQueue(tmp_path / "review.db") as queue:
        run(models, images, tmp_path, queue)
        queue.decide("a", output="lmi")
        shutil.rmtree(tmp_path / "predictions" / "skin")
        with pytest.raises(QueueError, match=r"skin/c: .*union\.png.* missing.*medseglab predict --dataset skin"):
            queue.decide("c", output="union")
        counts = run(models, images, tmp_path, queue)
        assert counts == {"found": 5, "skipped": 1, "queued": 4}  # a is decided: its row stays as it was
        assert queue.get("a")["decision"] == "lmi"
        assert queue.decide("c", output="union")["status"] == "accepted"
        assert Path(queue.get("c")["union_path"]).is_file()


def test_with_an_estimator_the_suggestion_is_the_highest_estimate(models, images, tmp_path):
    from medseglab.ensemble.estimator import FEATURES, DiceEstimator

    # An estimator that scores each candidate by its mask area alone (intercept 0, one coefficient):
    # the union marks the most pixels, so it is suggested everywhere.
    estimator = DiceEstimator({"features": list(FEATURES), "mean": [0.0] * 5, "scale": [1.0] * 5,
                               "coef": [0, 0, 0, 1.0, 0], "intercept": 0.0}, n_fit=30)
    with ReviewQueue(tmp_path / "review.db") as queue:
        run(models, images, tmp_path, queue, estimator=estimator)
        items = queue.items("skin").set_index("image_id")
    row = items.loc["a"]
    assert row["suggested"] == "union"
    assert row["union_est_dice"] == pytest.approx(row["union_fg"]) and row["est_dice"] == row["union_est_dice"]
    assert row["intersection_est_dice"] == pytest.approx(row["intersection_fg"])
