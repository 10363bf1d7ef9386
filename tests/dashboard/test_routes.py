"""The image route serves only files inside a run's artifacts, and a token, when set, guards every request
(Dash's callback endpoint included). The dashboard runs as `medseglab dashboard` in a subprocess."""

from __future__ import annotations

import http.client
import io
import json
from urllib.parse import urlparse

import pytest

TOKEN = "test-token-5d1f0c"


def get(base: str, raw_path: str, headers: dict | None = None, method: str = "GET", body: bytes | None = None):
    """A request whose path is sent byte for byte (no client-side normalisation of '..' or '%2e')."""
    url = urlparse(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    conn.request(method, raw_path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, response.getheader("Content-Type"), data


def test_an_artifact_picture_is_served_as_a_thumbnail(fake_store, serve):
    from PIL import Image

    base = serve(fake_store["uri"])
    status, kind, data = get(base, f"/img/{fake_store['run_id']}/explain/pic.png?w=30")
    assert status == 200 and kind == "image/png"
    assert Image.open(io.BytesIO(data)).size == (30, 20)


@pytest.mark.parametrize("path", [
    "/img/{rid}/../../../secret.png",
    "/img/{rid}/explain/../../../../secret.png",
    "/img/{rid}/explain/%2e%2e/%2e%2e/%2e%2e/%2e%2e/secret.png",
    "/img/{rid}/explain/%2E%2E%2F%2E%2E%2Fsecret.png",
    "/img/{rid}/%2fetc%2fpasswd",
    "/img/{rid}//etc/passwd",
    "/img/{rid}/explain/leak.png",          # a symlink to a file outside the store
    "/img/{rid}/explain/up/secret.png",     # a symlinked folder outside the store
    "/img/{rid}/explain/%252e%252e/%252e%252e/secret.png",
    "/img/..%2f..%2f/explain/pic.png",
    "/img/{rid}/explain/pic.png?view=overlay&image=..%2f..%2fx",
    "/data/{rid}/..%2f..%2fsecret?view=input",
    "/review-mask/skin/..%2f..%2fsecret/union",
])
def test_paths_leaving_the_artifacts_are_404(fake_store, serve, path):
    base = serve(fake_store["uri"])
    status, _, data = get(base, path.format(rid=fake_store["run_id"]))
    assert status == 404, (path, status)
    assert fake_store["secret"].read_bytes() not in data


def _callback_body() -> bytes:
    """A real Dash callback request: the study selector's options."""
    return json.dumps({
        "output": "..study-select.options...study-select.value..",
        "outputs": [{"id": "study-select", "property": "options"}, {"id": "study-select", "property": "value"}],
        "inputs": [{"id": "studies-refresh", "property": "n_intervals", "value": None}],
        "state": [{"id": "study-select", "property": "value", "value": None}],
        "changedPropIds": [],
    }).encode()


def _promote_body() -> bytes:
    return json.dumps({
        "output": "registry-message.children", "outputs": {"id": "registry-message", "property": "children"},
        "inputs": [{"id": "registry-promote", "property": "n_clicks", "value": 1}],
        "state": [{"id": "registry-model", "property": "value", "value": "medseglab-skin-tii"},
                  {"id": "registry-version", "property": "value", "value": 1},
                  {"id": "registry-alias", "property": "value", "value": "champion"}],
        "changedPropIds": ["registry-promote.n_clicks"],
    }).encode()


def test_with_a_token_every_request_and_every_callback_needs_it(fake_store, serve):
    base = serve(fake_store["uri"], token=TOKEN)
    rid = fake_store["run_id"]
    json_headers = {"Content-Type": "application/json"}
    assert get(base, f"/img/{rid}/explain/pic.png")[0] == 403
    assert get(base, "/_dash-layout")[0] == 403
    for body in (_callback_body(), _promote_body()):  # a direct POST to Dash's endpoint, no token
        assert get(base, "/_dash-update-component", json_headers, "POST", body)[0] == 403
    wrong = {**json_headers, "X-Medseglab-Token": "not-it"}
    assert get(base, "/_dash-update-component", wrong, "POST", _promote_body())[0] == 403
    good = {**json_headers, "X-Medseglab-Token": TOKEN}
    status, _, data = get(base, "/_dash-update-component", good, "POST", _callback_body())
    assert status == 200 and rid.encode() in data
    assert get(base, f"/img/{rid}/explain/pic.png", {"Cookie": f"medseglab_token={TOKEN}"})[0] == 200
    # the login form sets the cookie; a wrong token gets none
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert get(base, "/login", form, "POST", b"token=nope")[0] == 403
    assert get(base, "/login", form, "POST", f"token={TOKEN}".encode())[0] == 302


def test_without_a_token_the_loopback_dashboard_is_open(fake_store, serve):
    base = serve(fake_store["uri"])
    status, _, data = get(base, "/_dash-update-component", {"Content-Type": "application/json"}, "POST",
                          _callback_body())
    assert status == 200 and fake_store["run_id"].encode() in data


def test_the_study_report_route_serves_that_artifact_only_as_html_that_fetches_nothing(fake_store, serve):
    import urllib.request

    rid, art = fake_store["run_id"], fake_store["artifacts"]
    base = serve(fake_store["uri"])
    status, kind, data = get(base, f"/report/{rid}")
    assert status == 404 and b"medseglab report --dataset <dataset> --html" in data
    (art / "report").mkdir()
    (art / "report" / "study_report.html").write_text("<!doctype html><h2>Study</h2>")
    with urllib.request.urlopen(f"{base}/report/{rid}", timeout=60) as response:
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
        assert response.read() == b"<!doctype html><h2>Study</h2>"
    for path in (f"/report/{rid}/../../secret.png", f"/report/{rid}/explain/pic.png", f"/report/..%2f{rid}",
                 f"/report/{rid}%2f..%2f..%2fsecret.png", "/report/not-a-run"):
        assert get(base, path)[0] == 404, path
    (art / "report" / "study_report.html").unlink()
    (art / "report" / "study_report.html").symlink_to(fake_store["secret"])  # a link out of the store
    status, _, data = get(base, f"/report/{rid}")
    assert status == 404 and fake_store["secret"].read_bytes() not in data
