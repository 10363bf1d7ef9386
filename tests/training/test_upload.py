"""The background checkpoint upload: one worker thread, waited for before the next save and at the
end, failures reported as warnings and never raised into the training."""

from __future__ import annotations

import logging
import threading

from medseglab.training.upload import BackgroundUpload


def test_uploads_on_a_worker_thread_and_wait_blocks_until_done(tmp_path):
    release = threading.Event()
    seen = []

    def upload(folder):
        release.wait(10)
        seen.append((folder, threading.current_thread().name))

    up = BackgroundUpload(upload)
    up.submit(tmp_path)
    assert seen == []  # the caller was not blocked
    release.set()
    up.wait()
    assert seen and seen[0][0] == tmp_path and seen[0][1].startswith("medseglab-upload")
    assert up.uploaded == 1 and not up.failures
    up.close()
    up.close()  # a second close (the run's finally after a normal end) is harmless


def test_the_next_submit_waits_for_the_previous_upload(tmp_path):
    active, overlaps, lock = [0], [], threading.Lock()

    def upload(folder):
        with lock:
            active[0] += 1
            overlaps.append(active[0])
        threading.Event().wait(0.05)
        with lock:
            active[0] -= 1

    up = BackgroundUpload(upload)
    for _ in range(4):
        up.submit(tmp_path)
    up.close()
    assert overlaps == [1, 1, 1, 1] and up.uploaded == 4


def test_a_failed_upload_is_a_warning_and_the_next_one_still_runs(tmp_path, caplog):
    calls = []

    def upload(folder):
        calls.append(folder)
        if len(calls) == 1:
            raise OSError(28, "No space left on device")

    up = BackgroundUpload(upload, what="checkpoint of run abc")
    with caplog.at_level(logging.WARNING, logger="medseglab.training.upload"):
        up.submit(tmp_path)
        up.submit(tmp_path)
        up.close()
    assert len(calls) == 2 and up.uploaded == 1
    assert up.failures == ["OSError: [Errno 28] No space left on device"]
    (record,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "checkpoint of run abc" in record.getMessage() and "No space left" in record.getMessage()


def test_synchronous_mode_uploads_in_the_caller(tmp_path):
    threads = []
    up = BackgroundUpload(lambda folder: threads.append(threading.current_thread()), synchronous=True)
    up.submit(tmp_path)
    assert threads == [threading.current_thread()] and up.uploaded == 1
    up.close()
