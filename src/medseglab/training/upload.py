"""The checkpoint's copy into the artifact store, on one worker thread, while the training goes on.

A ~228 MB checkpoint (VGG-UNet weights + Adadelta's slots) copied synchronously cost seconds per
epoch, and a remote store would multiply it; in the background it overlaps the next epochs (or
the test-set evaluation). One upload at a time: `submit` first waits for the previous one, because
the next save replaces the folder it reads. A failed upload is logged as a warning and counted;
it never stops the training (the local checkpoint is intact and the next save uploads again).
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)


class BackgroundUpload:
    """Uploads folders with ``upload(folder)`` on a single worker thread (``synchronous=True``: in
    the caller, as before issue #10). ``waited_s``: seconds the caller spent blocked in it."""

    def __init__(self, upload: Callable[[Path], None], what: str = "checkpoint", synchronous: bool = False):
        self._upload = upload
        self.what = what
        self.synchronous = synchronous
        self._executor: ThreadPoolExecutor | None = None
        self._pending: Future | None = None
        self.failures: list[str] = []
        self.uploaded = 0
        self.waited_s = 0.0

    def submit(self, folder: str | Path) -> None:
        """Upload ``folder`` (after the previous upload, which this waits for, has finished)."""
        self.wait()
        if self.synchronous:
            start = time.perf_counter()
            self._run(Path(folder))
            self.waited_s += time.perf_counter() - start
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="medseglab-upload")
        self._pending = self._executor.submit(self._run, Path(folder))

    def wait(self) -> None:
        """Block until the upload in flight (if any) has finished."""
        if self._pending is None:
            return
        start = time.perf_counter()
        self._pending.result()  # _run catches the upload's errors: this only waits
        self._pending = None
        self.waited_s += time.perf_counter() - start

    def close(self) -> None:
        """Wait for the last upload and stop the worker thread (it can be called again)."""
        self.wait()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def _run(self, folder: Path) -> None:
        try:
            self._upload(folder)
            self.uploaded += 1
        except Exception as exc:  # noqa: BLE001 - any store error; reported, and the training goes on
            self.failures.append(f"{type(exc).__name__}: {exc}")
            log.warning("upload of the %s %s to the artifact store failed (%s: %s); the local copy is intact "
                        "(a resume on this machine uses it; the next save uploads again); check the "
                        "store's space, permissions and connection",
                        self.what, folder, type(exc).__name__, exc)
