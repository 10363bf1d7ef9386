"""How fast the dashboard answers at the paper's scale (issue #9): first render per page, latency under
concurrent clients, and the server's peak memory.

1. Builds (or reuses, keyed by its parameters) a synthetic tracking store under ``--store``
   (``benchmarks/dashboard_store.py``: one skin study of 750 training runs x 2,758 test images,
   ``study/per_image.parquet`` of 2,068,500 rows, stats/ensemble/explain artifacts).
2. Starts ``medseglab dashboard --host 127.0.0.1 --port PORT`` against it (``MLFLOW_TRACKING_URI``
   set, run in the store's folder, which holds ``data/prepared/skin``).
3. Waits for ``/ready`` (the start-up reads done; a server without that route counts as ready once it
   answers), then times each page in headless Chromium, opened in a new tab (goto until its main
   graph/table/image is visible, no Dash callback in flight and no graph still drawing), in two
   browsers: a private window (a fresh incognito context: Chromium keeps no compiled-code cache
   there, so every tab compiles Dash's and plotly.js's scripts again: the worst case) and a browser
   profile (a fresh persistent profile, as a researcher's own browser: every page is opened there for
   the first time, after the pages before it in the list); and reached through the navigation bar of
   an open tab; then sends ``--clients`` concurrent loopback
   clients through the pages' own Dash callbacks (replayed from ``/_dash-layout`` and
   ``/_dash-dependencies`` as the renderer chains them) and the image URLs the pages show, and
   reads the server's peak resident memory (VmHWM of its process).
4. Times the floor the same way: a one-graph Dash app (three bars; nothing of medseglab but the
   plotly.js bundle), with the cartesian bundle the dashboard serves and with Dash's default full one,
   so a page's time can be read against what Dash and plotly.js cost on the machine at hand.
5. Prints one table with targets and PASS/FAIL; exits 0 either way (a benchmark, not a test).

    .venv/bin/python benchmarks/dashboard_latency.py            # full scale (first build ~minutes)
    .venv/bin/python benchmarks/dashboard_latency.py --quick    # 24 runs x 200 images, 5 clients

All traffic goes to 127.0.0.1 only; every client sends a bounded number of requests under a total
time cap.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shlex
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dashboard_store  # noqa: E402  (the sibling script; benchmarks/ is not a package)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CMD = (f"{shlex.quote(str(Path(sys.executable).with_name('medseglab')))} dashboard --host 127.0.0.1 --port {{port}} "
               f"--params {shlex.quote(str(ROOT / 'params.yaml'))}")  # run in the store's folder: params by path
FALLBACK_PAGES = ("/", "/statistics", "/depletion", "/distributions", "/image", "/splits", "/gradcam", "/ensemble",
                  "/umap", "/review", "/registry")
# what "the page has rendered" means: its main graph (drawn), table or image is visible
MAIN_SELECTOR = "#_pages_content :is(.js-plotly-plot .main-svg, .dash-table-container, .ag-root-wrapper, table, img)"
# pages that show their graph/table only for a chosen item: the query a user's link carries
PAGE_QUERY = {"/image": "image"}
RENDER_TARGET_S = 1.0
MEMORY_TARGET_MB = 1024
IMAGE_EXT = re.compile(r"\.(png|jpe?g|svg|webp)(\?|$)|/(image|img|images|thumb|thumbnail|overlay)s?/", re.I)


# --- the server -------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, timeout: float = 30.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_ready(port: int, timeout: float = 300.0) -> float | None:
    """Seconds until ``/ready`` answers 200 (the dashboard's start-up reads are done); None when the
    server has no such route (404: an older dashboard), which then counts as ready."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        try:
            status, _ = _get(f"http://127.0.0.1:{port}/ready", timeout=5)
        except OSError:
            status = 0
        if status == 200:
            return time.perf_counter() - started
        if status == 404:
            return None
        time.sleep(0.1)
    raise RuntimeError(f"the dashboard on port {port} was not ready within {timeout:.0f} s (/ready)")


def start_server(command: str, port: int, store: dashboard_store.Store, timeout: float = 180.0):
    """Start the dashboard; return (process, seconds until it answered GET /)."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": store.uri, "MEDSEGLAB_NO_PROGRESS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}  # medseglab and dashboards/
    started = time.perf_counter()
    with open(store.root / "dashboard.log", "wb") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(shlex.split(command.format(port=port)), cwd=store.root, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    while time.perf_counter() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"the dashboard exited with {proc.returncode}; see {store.root / 'dashboard.log'}")
        try:
            status, _ = _get(f"http://127.0.0.1:{port}/", timeout=5)
            if status < 500:
                return proc, time.perf_counter() - started
        except OSError:
            time.sleep(0.25)
    stop_server(proc)
    raise RuntimeError(f"the dashboard did not answer on port {port} within {timeout:.0f} s; "
                       f"see {store.root / 'dashboard.log'}")


def stop_server(proc) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _status_kb(pid: int, field_name: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used (its own, not its children's)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (a server may fork workers), from /proc."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    tree, frontier = [pid], [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


class MemoryWatch:
    """Samples the server's process tree: peak summed RSS, and VmHWM (kernel's peak RSS) per process."""

    def __init__(self, pid: int, every: float = 0.2):
        self.pid, self.every = pid, every
        self.peak_tree_kb, self.hwm_kb = 0, {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.every)

    def sample(self) -> None:
        pids = _tree(self.pid)
        self.peak_tree_kb = max(self.peak_tree_kb, sum(_status_kb(p, "VmRSS") for p in pids))
        for p in pids:
            self.hwm_kb[p] = max(self.hwm_kb.get(p, 0), _status_kb(p, "VmHWM"))

    def stop(self) -> None:
        self.sample()
        self._stop.set()
        self._thread.join()

    @property
    def main_hwm_mb(self) -> float:
        return self.hwm_kb.get(self.pid, 0) / 1024


# --- the app's pages and callbacks --------------------------------------------------------------------

def stringify_id(value) -> str:
    """Dash's key of a component id (dict ids: JSON with sorted keys, no spaces)."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))


def walk(node, found: dict) -> None:
    """Every component of a layout tree: ``found[id] = props``; also the tree's image URLs."""
    if isinstance(node, list):
        for item in node:
            walk(item, found)
        return
    if not isinstance(node, dict):
        return
    if "props" in node and "type" in node:
        props = node.get("props") or {}
        if "id" in props:
            found[stringify_id(props["id"])] = props
        for value in props.values():
            walk(value, found)
    else:
        for value in node.values():
            walk(value, found)


def urls(node, out: set, key: str = "") -> None:
    """(key, URL) of every local URL under a ``src``/``href`` key, or that looks like an image, in a JSON tree."""
    if isinstance(node, dict):
        for k, v in node.items():
            urls(v, out, k)
    elif isinstance(node, list):
        for v in node:
            urls(v, out, key)
    elif isinstance(node, str) and node.startswith("/") and not node.startswith("//"):
        if key in ("src", "href") or IMAGE_EXT.search(node):
            out.add((key, node))


def is_image(key: str, url: str) -> bool:
    return key == "src" or bool(IMAGE_EXT.search(url))


def merge(response: dict, components: dict, found: set) -> None:
    """A callback's answer ``{id: {prop: value}}`` into the page's components (new children too)."""
    for ident, props in response.items():
        components.setdefault(ident, {}).update(props)
        walk(props, components)
        urls(props, found)


def pick_first_options(components: dict) -> dict:
    """A user's first choice: every dropdown with options and no value takes its first option."""
    picked = {}
    for ident, props in components.items():
        options = props.get("options")
        if isinstance(options, list) and options and props.get("value") is None:
            first = options[0]
            props["value"] = picked[ident] = first.get("value") if isinstance(first, dict) else first
    return picked


def _parse_output(text: str):
    """A dependency's output string -> the request's ``outputs`` (a dict, or a list when multi-output)."""
    def one(part: str) -> dict:
        ident, prop = part.rsplit(".", 1)
        return {"id": json.loads(ident) if ident.startswith("{") else ident, "property": prop}

    if text.startswith(".."):
        return [one(p) for p in text[2:-2].split("...")]
    return one(text)


def _wildcard(dep: dict) -> bool:
    items = list(dep.get("inputs", [])) + list(dep.get("state", []))
    return "[\"ALL\"]" in dep["output"] or "[\"MATCH\"]" in dep["output"] or any(
        isinstance(i["id"], dict) and any(isinstance(v, list) for v in i["id"].values()) for i in items)


@dataclass
class Request:
    """One HTTP request of the load test."""

    kind: str   # layout | page | callback | image
    page: str
    method: str
    path: str
    body: bytes | None = None
    label: str = ""


@dataclass
class App:
    """What the benchmark learnt about the running app."""

    base: str
    pages: list[str]
    requests: list[Request] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    choices: dict = field(default_factory=dict)  # page -> {component id: the first option discovery chose}


def _post(base: str, body: dict, timeout: float = 60.0) -> tuple[int, object]:
    data = json.dumps(body).encode()
    req = urllib.request.Request(base + "/_dash-update-component", data=data,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()[:300]


def callback_body(dep: dict, components: dict, pathname: str | None = None) -> dict | None:
    """The POST a browser sends for ``dep`` with the components' current values (None if an input
    is not on the page)."""
    def value(item: dict):
        key = stringify_id(item["id"])
        if item["property"] == "pathname" and pathname is not None:
            return pathname
        return (components.get(key) or {}).get(item["property"])

    inputs, outputs = dep.get("inputs", []), _parse_output(dep["output"])
    targets = outputs if isinstance(outputs, list) else [outputs]
    if any(stringify_id(i["id"]) not in components for i in inputs + targets):
        return None  # the renderer fires a callback only when its inputs and outputs are on the page
    body = {"output": dep["output"], "outputs": outputs,
            "inputs": [{"id": i["id"], "property": i["property"], "value": value(i)} for i in inputs],
            "changedPropIds": [f"{stringify_id(i['id'])}.{i['property']}" for i in inputs[:1]],
            "state": [{"id": s["id"], "property": s["property"], "value": value(s)} for s in dep.get("state", [])]}
    return body


def _layout(base: str):
    status, raw = _get(base + "/_dash-layout")
    if status != 200:
        raise RuntimeError(f"GET /_dash-layout answered {status}")
    return json.loads(raw)


def page_links(base: str) -> list[str]:
    """The page paths the app's layout links to (its navigation)."""
    found: set = set()
    urls(_layout(base), found)
    return sorted(u for k, u in found if k == "href" and not is_image(k, u) and not u.startswith(("/_", "/assets")))


def discover(base: str, pages: list[str] | None, max_waves: int = 5) -> App:
    """Read the app's layout and callbacks; for every page, replay what a browser does: the routing
    callback with the page's pathname, then every callback whose inputs are on the page, again when
    an answer changed its inputs, and once the dropdowns are filled, with their first option chosen."""
    layout = _layout(base)
    deps = json.loads(_get(base + "/_dash-dependencies")[1])
    deps = [d for d in deps if not d.get("clientside_function") and not _wildcard(d)]
    shell: dict = {}
    walk(layout, shell)
    found: set = set()
    urls(layout, found)
    app = App(base, list(pages or page_links(base) or FALLBACK_PAGES))
    routing = [d for d in deps if any(i["property"] == "pathname" for i in d.get("inputs", []))]
    for page in app.pages:
        app.requests.append(Request("page", page, "GET", page, label="HTML shell"))
        components = {k: dict(v) for k, v in shell.items()}
        sent: dict[str, str] = {}  # dependency -> the inputs it was last sent with
        picked = False
        for wave in range(max_waves):
            progressed = False
            for dep in deps:
                body = callback_body(dep, components, pathname=page)
                if body is None:
                    continue
                signature = json.dumps([body["inputs"], body["state"]], sort_keys=True, default=str)
                if sent.get(dep["output"]) == signature:
                    continue
                sent[dep["output"]] = signature
                status, answer = _post(base, body)
                kind = "page" if dep in routing else "callback"
                app.requests.append(Request(kind, page, "POST", "/_dash-update-component", json.dumps(body).encode(),
                                            label=dep["output"][:60]))
                if status >= 400:
                    app.notes.append(f"{page}: callback {dep['output'][:60]} answered {status} during discovery")
                    continue
                if isinstance(answer, dict):
                    merge(answer.get("response") or {}, components, found)
                    progressed = True
            if not progressed:
                if picked or not (choice := pick_first_options(components)):
                    break
                app.choices[page], picked = choice, True
    app.images = sorted({u for k, u in found if is_image(k, u)})[:200]
    for url in app.images:
        app.requests.append(Request("image", "", "GET", url, label="image"))
    app.requests.insert(0, Request("layout", "", "GET", "/_dash-layout", label="layout"))
    return app


# --- first render in Chromium -------------------------------------------------------------------------

# counts the renderer's callback requests in flight (Dash posts them with fetch)
COUNT_CALLBACKS_JS = """
window.__cb = {pending: 0, done: 0};
const fetch0 = window.fetch;
window.fetch = function (url, options) {
  const callback = String(url && url.url || url).includes('_dash-update-component');
  if (callback) window.__cb.pending++;
  const answer = fetch0.apply(this, arguments);
  if (callback) answer.finally(() => { window.__cb.pending--; window.__cb.done++; });
  return answer;
};
// counts plotly.js drawings, in flight and done: Plotly.react / newPlot resolve once every trace is drawn.
// dcc.Graph draws twice in a new tab (an empty figure as plotly.js arrives, then the callback's), and the
// second can start a task after the first ended: a page is rendered once the last drawing is done.
window.__plots = {pending: 0, done: 0};
(function () {
  let plotly;
  Object.defineProperty(window, 'Plotly', {configurable: true, enumerable: true, get() { return plotly; },
    set(value) {
      plotly = value;
      for (const name of ['react', 'newPlot']) {
        const original = value && value[name];
        if (typeof original !== 'function' || original.counted) continue;
        const counted = function () {
          window.__plots.pending++;
          const done = () => { window.__plots.pending--; window.__plots.done++; };
          let answer;
          try { answer = original.apply(this, arguments); } catch (error) { done(); throw error; }
          Promise.resolve(answer).then(done, done);
          return answer;
        };
        counted.counted = true;
        value[name] = counted;
      }
    }});
})();
"""
STATE_JS = """([sel, minDone]) => {
  const cb = window.__cb || {pending: 1, done: 0};
  if (cb.pending > 0 || cb.done < minDone) return null;
  const plots = window.__plots || {pending: 0, done: 0};
  if (plots.pending > 0) return null;  // plotly.js still drawing
  // a dcc.Graph not drawn yet (plotly.js still loading) is not rendered
  for (const g of document.querySelectorAll('.dash-graph')) if (!g.querySelector('.main-svg')) return null;
  const el = document.querySelector(sel);
  if (el) {
    const box = el.getBoundingClientRect();
    if (box.width > 0 && box.height > 0) {
      const name = typeof el.className === 'string' && el.className ? '.' + el.className.split(' ')[0] : '';
      return [el.tagName.toLowerCase() + name, cb.done, plots.done];
    }
  }
  const content = document.querySelector('#_pages_content');
  return content && content.innerText.trim().length > 0 ? ['TEXT_ONLY', cb.done, plots.done] : null;
}"""
TEXT_ONLY = "text only (no graph/table/image)"
STABLE_S = 0.25  # no new callback for this long after the main element showed: the page has settled
TEXT_STABLE_S = 1.0  # a text-only state must last longer: a table or graph chunk may still be loading


STATE_JS = STATE_JS.replace("TEXT_ONLY", TEXT_ONLY)


def wait_rendered(page, timeout_s: float, started: float, min_done: int = 1) -> tuple[float | None, str]:
    """Seconds since ``started`` until the page's main graph/table/image is visible (or, on a page
    that shows only text, its text) with no Dash callback in flight and every plotly.js drawing done,
    and nothing changed within STABLE_S after (a chained callback could still replace it, a graph
    could still draw again). The time is when that state began."""
    since, seen = None, None
    while time.perf_counter() - started < timeout_s:
        state = page.evaluate(STATE_JS, [MAIN_SELECTOR, min_done])
        now = time.perf_counter() - started
        if state != seen:
            since, seen = (None if state is None else now), state
        elif seen is not None and now - since >= (TEXT_STABLE_S if seen[0] == TEXT_ONLY else STABLE_S):
            return since, seen[0]
        page.wait_for_timeout(15)
    return None, f"not rendered within {timeout_s:.0f} s"


BROWSER_ARGS = ["--no-sandbox", "--disable-gpu"]
VIEWPORT = {"width": 1400, "height": 900}


def _new_tabs(context, base: str, results: dict, key: str, timeout_s: float) -> None:
    """Open each page of ``results`` in a new tab of ``context`` in turn; ``row[key]`` = seconds until
    :func:`wait_rendered`, ``row[key + '_main']`` = what showed (or why nothing did)."""
    for row in results.values():
        page = context.new_page()
        page.on("pageerror", lambda exc, errors=row["errors"]: errors.append(str(exc)[:120]))
        page.on("response", lambda r, errors=row["errors"]: errors.append(f"HTTP {r.status} {r.url[-60:]}")
                if r.status >= 400 and r.url.startswith(base) else None)
        started = time.perf_counter()
        try:
            page.goto(base + row["page"], wait_until="commit", timeout=timeout_s * 1000)
            row[key], row[key + "_main"] = wait_rendered(page, timeout_s, started)
        except Exception as exc:  # noqa: BLE001 - a page that does not load is a result, not a crash
            row[key], row[key + "_main"] = None, f"{type(exc).__name__}: {str(exc)[:80]}"
        page.close()


def first_renders(base: str, pages: list[str], urls_for: dict | None = None, timeout_s: float = 30.0, *,
                  with_nav: bool = True) -> list[dict]:
    """Per page, seconds until :func:`wait_rendered`: ``first`` = opening its URL in a new tab of a
    private window (an incognito context: no compiled-code cache, so every tab compiles the scripts;
    the first page also pays the bundles' download, the first graph page plotly.js's), in turn;
    ``profile`` = the same in a fresh persistent browser profile (Chromium's HTTP and code caches
    on disk, as a user's browser: the page's first visit there); ``nav`` = clicking its link in the
    navigation bar of one open tab (Dash swaps the page without reloading, as a user moves between
    pages)."""
    import tempfile

    from playwright.sync_api import sync_playwright

    results = {path: {"page": (urls_for or {}).get(path, path), "errors": []} for path in pages}
    with sync_playwright() as p:
        with tempfile.TemporaryDirectory(prefix="medseglab-bench-profile-") as folder:
            profile = p.chromium.launch_persistent_context(folder, executable_path="/usr/bin/chromium",
                                                           args=BROWSER_ARGS, viewport=VIEWPORT)
            profile.add_init_script(COUNT_CALLBACKS_JS)
            _new_tabs(profile, base, results, "profile", timeout_s)
            profile.close()
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=BROWSER_ARGS)
        context = browser.new_context(viewport=VIEWPORT)
        context.add_init_script(COUNT_CALLBACKS_JS)
        _new_tabs(context, base, results, "first", timeout_s)
        if not with_nav:
            browser.close()
            return list(results.values())
        tab = context.new_page()
        tab.goto(base + pages[-1], wait_until="commit", timeout=timeout_s * 1000)
        wait_rendered(tab, timeout_s, time.perf_counter())
        for path in pages:
            row = results[path]
            link = tab.locator(f'a[href="{path}"]').first
            before = tab.evaluate("() => window.__cb.done")
            started = time.perf_counter()
            try:
                link.click(timeout=timeout_s * 1000) if link.count() else tab.goto(base + row["page"])
                row["nav"], row["nav_main"] = wait_rendered(tab, timeout_s, started, min_done=before + 1)
            except Exception as exc:  # noqa: BLE001
                row["nav"], row["nav_main"] = None, f"{type(exc).__name__}: {str(exc)[:80]}"
        browser.close()
    return list(results.values())


# --- the floor: what a one-graph Dash app costs in the same browser ------------------------------------

FLOOR_TABS = ("/?tab=1", "/?tab=2", "/?tab=3")


def serve_floor(port: int, bundle: str) -> None:
    """Serve the floor app: one page whose one callback returns a dcc.Graph of three bars (as the
    dashboard's pages return theirs), with the cartesian plotly.js bundle or Dash's full one."""
    import dash
    from dash import Input, Output, dcc, html

    sys.path.insert(0, str(ROOT))
    app = dash.Dash("floor", update_title=None)
    app.layout = html.Div([dcc.Location(id="url"), html.H2("floor"), html.Div(id="_pages_content")])

    @app.callback(Output("_pages_content", "children"), Input("url", "pathname"))
    def body(_):
        return dcc.Graph(figure={"data": [{"type": "bar", "x": ["a", "b", "c"], "y": [1, 3, 2]}]})

    if bundle == "cartesian":
        from dashboards import plotly_bundle

        plotly_bundle.install(app)
    app.run(host="127.0.0.1", port=port, debug=False)


def floor_renders() -> dict[str, dict[str, float | None]]:
    """Per bundle, the median over FLOOR_TABS of the floor app's first render in a new tab (private
    window, browser profile), as :func:`first_renders` times the dashboard's pages."""
    out = {}
    for bundle in ("cartesian", "full"):
        port = free_port()
        proc = subprocess.Popen([sys.executable, __file__, "--serve-floor", bundle, "--port", str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            for _ in range(300):
                try:
                    if _get(f"http://127.0.0.1:{port}/", timeout=2)[0] == 200:
                        break
                except OSError:
                    time.sleep(0.1)
            rows = first_renders(f"http://127.0.0.1:{port}", list(FLOOR_TABS), with_nav=False)
        finally:
            stop_server(proc)
        out[bundle] = {key: (statistics.median(v) if (v := [r[key] for r in rows if r.get(key) is not None]) else None)
                       for key in ("first", "profile")}
    return out


# --- concurrent clients -------------------------------------------------------------------------------

def _send(conn_base: str, req: Request, timeout: float) -> tuple[float, bool, int]:
    started = time.perf_counter()
    try:
        request = urllib.request.Request(conn_base + req.path, data=req.body, method=req.method,
                                         headers={"Content-Type": "application/json"} if req.body else {})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except OSError:
        status = 0
    return time.perf_counter() - started, status in (200, 204), status


def load_test(app: App, clients: int, per_client: int, cap_s: float, timeout: float = 30.0) -> dict:
    """``clients`` threads, each sending up to ``per_client`` requests (cycling through the app's
    requests from its own offset) until ``cap_s`` seconds have passed."""
    deadline = time.perf_counter() + cap_s
    stream = list(app.requests)
    random.Random(0).shuffle(stream)  # every client gets a mix of pages, callbacks and images
    results: list[tuple[str, float, bool, int]] = []
    lock = threading.Lock()

    def client(k: int) -> None:
        for n in range(per_client):
            if time.perf_counter() > deadline:
                return
            req = stream[(k * len(stream) // clients + n) % len(stream)]
            seconds, ok, status = _send(app.base, req, timeout)
            with lock:
                results.append((req.kind, seconds, ok, status))

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(client, range(clients)))
    wall = time.perf_counter() - started
    out = {"wall_s": wall, "n": len(results), "errors": sum(not ok for _, _, ok, _ in results),
           "statuses": sorted({s for *_, s in results}), "by_kind": {}}
    for kind in ["all"] + sorted({k for k, *_ in results}):
        times = sorted(s for k, s, _, _ in results if kind in ("all", k))
        if times:
            out["by_kind"][kind] = {"n": len(times), "p50": _pct(times, 50), "p95": _pct(times, 95), "max": times[-1]}
    return out


def _pct(sorted_values: list[float], q: float) -> float:
    if len(sorted_values) == 1:
        return sorted_values[0]
    return statistics.quantiles(sorted_values, n=100, method="inclusive")[int(q) - 1]


# --- the report ---------------------------------------------------------------------------------------

def _mark(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def report(store, startup_s, ready_s, renders, load, memory, app: App, args, floor: dict | None = None) -> str:
    g = store.grid
    lines = [
        f"store: {store.root} ({'reused; built' if store.reused else 'built'} in {store.build_seconds:.1f} s): "
        f"1 study, {g.runs} training runs x {g.images:,} test images = {g.runs * g.images:,} per-image rows",
        *(f"  {name}: {seconds:.1f} s" for name, seconds in store.steps.items()),
        f"dashboard: `{args.command.format(port='PORT')}` answered after {startup_s:.1f} s, ready (start-up reads "
        f"done, /ready) {'at once: no /ready route' if ready_s is None else f'{ready_s:.1f} s later'}; "
        f"{len(app.pages)} pages, {sum(r.kind == 'callback' for r in app.requests)} callback requests, "
        f"{len(app.images)} image URLs found",
        *(f"  note: {n}" for n in app.notes),
        "",
        f"{'measure':<44} {'value':>12} {'target':>10}  result",
        "-" * 76,
    ]
    def seconds(value):
        return "never" if value is None else f"{value:.3f} s"

    if renders:
        lines.append("new tab, seconds: private window (no code cache) | browser profile (the page's first visit); "
                     "PASS when both are under the target")
    for r in renders:
        ok = all(r.get(k) is not None and r[k] < RENDER_TARGET_S for k in ("first", "profile"))
        extra = f"  [{r['first_main']}; via the nav bar {seconds(r.get('nav'))}]" + (
            f" {len(r['errors'])} errors: {r['errors'][:2]}" if r["errors"] else "")
        value = f"{seconds(r['first'])} | {seconds(r.get('profile'))}"
        lines.append(f"{'first render ' + r['page']:<34} {value:>22} {'< 1 s':>10}  {_mark(ok)}{extra}")
    for bundle, row in (floor or {}).items():
        label = f"floor: 1-graph Dash app, {bundle} plotly.js"
        lines.append(f"{label:<34} {seconds(row['first'])} | {seconds(row['profile'])}  (median of "
                     f"{len(FLOOR_TABS)} tabs; {'what the dashboard serves' if bundle == 'cartesian' else 'Dash default'})")
    if load:
        for kind, row in load["by_kind"].items():
            label = f"{args.clients} clients, {kind} (n={row['n']}) p50"
            lines.append(f"{label:<44} {row['p50']:>10.3f} s")
            lines.append(f"{f'{args.clients} clients, {kind} p95':<44} {row['p95']:>10.3f} s "
                         f"{'< 1 s' if kind == 'all' else '':>10}  {_mark(row['p95'] < 1.0) if kind == 'all' else ''}")
        lines.append(f"{'errors (HTTP >= 400, timeouts)':<44} {load['errors']:>12} {'0':>10}  {_mark(load['errors'] == 0)}"
                     f"  statuses {load['statuses']}")
        done = f"{load['n']} / {load['wall_s']:.1f}"
        lines.append(f"{'requests / wall seconds':<44} {done:>12}")
        per = f"{1000 * load['server_cpu_s'] / max(load['n'], 1):.1f} ms"
        lines.append(f"{'server CPU per request (user + sys)':<44} {per:>12}  (steadier than wall times on a "
                     "shared machine)")
    lines.append(f"{'dashboard peak resident memory (VmHWM)':<44} {memory.main_hwm_mb:>9.0f} MB {'< 1024 MB':>10}  "
                 f"{_mark(memory.main_hwm_mb < MEMORY_TARGET_MB)}  (process tree peak RSS {memory.peak_tree_kb / 1024:.0f} MB)")
    load_avg = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    lines.append(f"machine: {os.cpu_count()} CPUs, load average {load_avg} at the end (other work shares them)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default="/tmp/medseglab-dashboard-bench",
                        help="folder of the synthetic stores (one subfolder per parameter set, reused)")
    parser.add_argument("--quick", action="store_true", help="24 runs x 200 images, 5 clients: a smoke run")
    parser.add_argument("--clients", type=int, help="concurrent loopback clients (default 50; --quick 5)")
    parser.add_argument("--requests", type=int, help="requests per client (default 20; --quick 6)")
    parser.add_argument("--time-cap", type=float, help="seconds the load test may take at most (default 180; --quick 30)")
    parser.add_argument("--command", default=DEFAULT_CMD,
                        help="how to start the dashboard; {port} is replaced (default: medseglab dashboard)")
    parser.add_argument("--pages", nargs="*", help="page paths (default: the links in the app's layout)")
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium first-render timings")
    parser.add_argument("--no-floor", action="store_true", help="skip the one-graph Dash app's timings")
    parser.add_argument("--serve-floor", choices=("cartesian", "full"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_floor:  # the floor app, started by floor_renders
        serve_floor(args.port, args.serve_floor)
        return 0
    args.clients = args.clients or (5 if args.quick else 50)
    args.requests = args.requests or (6 if args.quick else 20)
    args.time_cap = args.time_cap or (30.0 if args.quick else 180.0)
    os.environ.setdefault("MEDSEGLAB_NO_PROGRESS", "1")

    grid = dashboard_store.QUICK if args.quick else dashboard_store.FULL
    print(f"building or reusing the store for {grid.runs} runs x {grid.images} images under {args.store}", flush=True)
    store = dashboard_store.build_or_reuse(grid, Path(args.store), log=lambda m: print(m, flush=True))
    port = free_port()
    proc, startup_s = start_server(args.command, port, store)
    memory = MemoryWatch(proc.pid)
    base = f"http://127.0.0.1:{port}"
    try:
        ready_s = wait_ready(port)
        # the browser first, on a server no request has reached yet: what a user who opens the dashboard waits for
        pages = args.pages or page_links(base) or list(FALLBACK_PAGES)
        urls_for = {page: f"{page}?{urlencode({query: store.sample_image})}" for page, query in PAGE_QUERY.items()}
        renders = [] if args.no_browser else first_renders(base, pages, urls_for)
        app = discover(base, pages)
        print(f"dashboard up in {startup_s:.1f} s; pages {app.pages}", flush=True)
        cpu = cpu_seconds(proc.pid)
        load = load_test(app, args.clients, args.requests, args.time_cap)
        load["server_cpu_s"] = cpu_seconds(proc.pid) - cpu
        memory.stop()
    finally:
        if memory._thread.is_alive():
            memory.stop()
        stop_server(proc)
    floor = None if args.no_browser or args.no_floor else floor_renders()
    print(report(store, startup_s, ready_s, renders, load, memory, app, args, floor), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
