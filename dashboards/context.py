"""The running dashboard's settings, set once by ``create_app`` before Dash imports the pages."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import flask

from medseglab.dashboard import safety
from medseglab.dashboard.data import StudyStore
from medseglab.dashboard.images import Pictures


@dataclasses.dataclass
class Context:
    store: StudyStore
    pictures: Pictures
    queue_path: Path
    mlflow_ui: str | None = None
    token: str | None = None

    @property
    def uri(self) -> str:
        return self.store.uri

    def write_allowed(self) -> bool:
        """Whether the request in flight may write (promote, review): with a token set, it must carry it
        (the login cookie or the header). Checked inside every write callback, besides the app's
        before-request gate, so no route to a write skips it."""
        if not self.token:
            return True
        request = flask.request
        given = request.headers.get(safety.TOKEN_HEADER) or request.cookies.get(safety.TOKEN_COOKIE)
        return safety.token_ok(given, self.token)


_CURRENT: Context | None = None


def set_current(context: Context) -> None:
    global _CURRENT
    _CURRENT = context


def current() -> Context:
    if _CURRENT is None:
        raise RuntimeError("the dashboard's context is not set: build the app with dashboards.app.create_app")
    return _CURRENT
