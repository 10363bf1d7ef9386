"""The app factory: a Dash multi-page app (one file per page in ``pages/``) over one tracking store.

Routes besides Dash's own:

- ``/img/<run_id>/<artifact path>?w=&image=&view=``: an artifact picture or one made from an array
  artifact, as a cached PNG thumbnail (``medseglab.dashboard.images``); anything that could leave the
  run's artifacts is a 404;
- ``/data/<study_id>/<image_id>?view=input|gt``: input / ground truth from the study's prepared data;
- ``/review-mask/<dataset>/<image_id>/<candidate>``: a queued candidate mask (path from the queue DB);
- ``/report/<run_id>``: the study's HTML report (its artifact ``report/study_report.html`` and no other
  path), as text/html under a Content-Security-Policy that lets it fetch nothing;
- ``/ready``: 200 once the start-up reads (:func:`_warm`) are done, 503 before (a readiness probe: a tab
  opened before then waits for reads the warm-up is still making);
- ``/login``: with ``MEDSEGLAB_DASHBOARD_TOKEN`` set, every other request needs the token (cookie
  set here, or the ``X-Medseglab-Token`` header); write callbacks check it again.
"""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import dash
import flask
from dash import Input, Output, dcc, html

from dashboards import context as ctx
from dashboards import plotly_bundle, polyfill
from medseglab.dashboard import safety
from medseglab.dashboard.data import StudyStore, to_png
from medseglab.dashboard.images import Pictures, clamp_width, file_picture
from medseglab.names import CANDIDATES

HERE = Path(__file__).resolve().parent
NAV = [("/", "Studies"), ("/statistics", "Statistics"), ("/depletion", "Depletion"),
       ("/distributions", "Distributions"), ("/image", "Image"), ("/splits", "Splits"), ("/gradcam", "Grad-CAM"),
       ("/ensemble", "Ensemble"), ("/umap", "UMAP"), ("/review", "Review queue"), ("/registry", "Registry")]

# Routes that answer with a file: their prefix is answered by the route or not at all.
PICTURE_PREFIXES = ("/img/", "/data/", "/review-mask/", "/report/")
PICTURE_ENDPOINTS = ("artifact_image", "dataset_image", "review_mask", "study_report")

LOGIN_PAGE = """<!doctype html><html><head><title>medseglab dashboard: log in</title></head>
<body style="font-family:sans-serif;margin:3em"><h2>medseglab dashboard</h2>
<p>This dashboard needs its token (MEDSEGLAB_DASHBOARD_TOKEN).</p>
<form method="post" action="/login"><input type="password" name="token" autofocus>
<button type="submit">Log in</button></form>{error}</body></html>"""


def _png(data: bytes | None):
    if data is None:
        flask.abort(404)
    response = flask.make_response(data)
    response.headers["Content-Type"] = "image/png"
    response.headers["Cache-Control"] = "private, max-age=300"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _add_routes(server: flask.Flask, context: ctx.Context, warmed: threading.Event) -> None:
    @server.before_request
    def picture_paths_only():
        """A picture URL is answered by its route or not at all (Dash's catch-all page would answer 200),
        and an encoded separator or dot-dot in it never names a real file."""
        if not flask.request.path.startswith(PICTURE_PREFIXES):
            return None
        raw = (flask.request.environ.get("RAW_URI") or flask.request.environ.get("REQUEST_URI") or "").lower()
        if flask.request.endpoint not in PICTURE_ENDPOINTS or any(s in raw for s in ("..", "%2e", "%2f", "%5c")):
            flask.abort(404)
        return None

    @server.before_request
    def require_token():
        if not context.token or flask.request.path == "/login":
            return None
        given = flask.request.headers.get(safety.TOKEN_HEADER) or flask.request.cookies.get(safety.TOKEN_COOKIE)
        if safety.token_ok(given, context.token):
            return None
        if flask.request.method == "GET" and "text/html" in flask.request.headers.get("Accept", ""):
            return flask.redirect("/login")
        return flask.Response("this dashboard needs its token: log in at /login", status=403)

    @server.route("/login", methods=["GET", "POST"])
    def login():
        if flask.request.method == "POST":
            given = flask.request.form.get("token", "")
            if context.token and safety.token_ok(given, context.token):
                response = flask.redirect("/")
                response.set_cookie(safety.TOKEN_COOKIE, context.token, httponly=True, samesite="Strict")
                return response
            return flask.Response(LOGIN_PAGE.format(error="<p style='color:#b00'>wrong token</p>"), status=403)
        return LOGIN_PAGE.format(error="")

    @server.route("/ready")
    def ready():
        if warmed.is_set():
            return flask.Response("ready\n", mimetype="text/plain")
        return flask.Response("warming up: reading the newest study's tables\n", status=503, mimetype="text/plain")

    @server.route("/img/<run_id>/<path:artifact_path>")
    def artifact_image(run_id: str, artifact_path: str):
        args = flask.request.args
        return _png(context.pictures.artifact(run_id, artifact_path, image=args.get("image"), view=args.get("view"),
                                              width=clamp_width(args.get("w"))))

    @server.route("/report/<run_id>")
    def study_report(run_id: str):
        from medseglab.report.html import CSP
        from medseglab.report.stage import ARTIFACT

        local = context.store.local_file(run_id, ARTIFACT) if safety.valid_run_id(run_id) else None
        if local is None:
            return flask.Response("no study report on this run yet: make it with `medseglab report --dataset "
                                  "<dataset> --html --run-id <run id>`", status=404, mimetype="text/plain")
        response = flask.make_response(local.read_bytes())
        response.headers["Content-Type"] = "text/html; charset=utf-8"
        response.headers["Content-Security-Policy"] = CSP  # the report fetches nothing and runs no script
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "private, no-cache"
        return response

    @server.route("/data/<study_id>/<image_id>")
    def dataset_image(study_id: str, image_id: str):
        args = flask.request.args
        return _png(context.pictures.dataset(study_id, image_id, view=args.get("view", "input"),
                                             width=clamp_width(args.get("w"))))

    @server.route("/review-mask/<dataset>/<image_id>/<candidate>")
    def review_mask(dataset: str, image_id: str, candidate: str):
        from medseglab.ensemble.queue import ReviewQueue
        from medseglab.errors import QueueError

        if candidate not in (*CANDIDATES, "source"):
            flask.abort(404)
        if not context.queue_path.is_file():
            flask.abort(404)
        try:
            with ReviewQueue(context.queue_path) as queue:
                row = queue.get(image_id, dataset)
        except QueueError:
            flask.abort(404)
        # the file's path comes from the queue database, never from the URL
        path = Path(row["source_path" if candidate == "source" else f"{candidate}_path"])
        picture = file_picture(path) if path.is_file() else None
        if picture is None:
            flask.abort(404)
        from medseglab.dashboard.figures import thumbnail

        return _png(to_png(thumbnail(picture, clamp_width(flask.request.args.get("w")))))


def _study_options(store: StudyStore, value: str | None) -> tuple[list[dict], str | None]:
    """The study selector's options and value: ``value`` while it exists, else the newest finished study."""
    studies = store.studies()
    options = [{"label": f"{r['dataset']} · {r['name']} · {r['status'].lower()}"
                         + (" · SYNTHETIC" if r["synthetic"] else ""), "value": r["run_id"]}
               for r in studies.to_dict("records")]
    ids = [o["value"] for o in options]
    if value in ids:
        return options, value
    finished = studies[studies["status"] == "FINISHED"]["run_id"].tolist()
    return options, (finished or ids or [None])[0]


def _layout() -> html.Div:
    # The selector is filled here, not by a first callback: every page's callbacks wait for its value,
    # so a page load saves one round trip.
    options, value = _study_options(ctx.current().store, None)
    return html.Div([
        dcc.Location(id="url"),
        html.Header([
            html.Span("medseglab", className="brand"),
            html.Nav([dcc.Link(name, href=path, className="nav-link") for path, name in NAV]),
            html.Div([
                html.Label("study", htmlFor="study-select", className="muted"),
                dcc.Dropdown(id="study-select", options=options, value=value, placeholder="choose a study",
                             clearable=False, style={"width": "520px"}),
            ], className="study-bar"),
        ]),
        dcc.Interval(id="studies-refresh", interval=10_000),
        html.Main(_page_container()),
    ])


def _page_container() -> html.Div:
    """``dash.page_container``, with the page a new tab opened already in it when the layout request
    says which (its Referer, the tab's URL): that page's layout, and the ``dcc.Location`` at the tab's
    path, query and fragment, so Dash's router (fired by a Location that changes as it mounts) does not
    run. The page's first callbacks then start with the layout, not one round trip later, after the
    router's answer. Without a Referer, from another origin, or
    for a path no page has, Dash's router fills the container as usual (its 404 page included)."""
    # Dash's own router helpers and ids (dash.dash, dash._pages; Dash is pinned, and
    # tests/dashboard/test_layout.py fails if these change)
    from dash._pages import _parse_query_string, _path_to_page
    from dash.dash import _ID_CONTENT, _ID_DUMMY, _ID_LOCATION, _ID_STORE

    referrer = flask.request.referrer if flask.has_request_context() else None
    url = urlsplit(referrer or "")
    if not referrer or url.netloc != flask.request.host:
        return dash.page_container
    app = dash.get_app()
    page, variables = _path_to_page(app.strip_relative_path(url.path))
    if not page:
        return dash.page_container
    search = f"?{url.query}" if url.query else ""
    layout, title = page["layout"], page["title"]
    if callable(layout):  # as Dash's router calls it
        layout = layout(**{**(variables or {}), **_parse_query_string(search)})
    if callable(title):
        title = title(**(variables or {}))
    return html.Div([
        dcc.Location(id=_ID_LOCATION, refresh="callback-nav", pathname=url.path, search=search,
                     hash=f"#{url.fragment}" if url.fragment else ""),
        html.Div(layout, id=_ID_CONTENT, disable_n_clicks=True),
        dcc.Store(id=_ID_STORE, data={"title": title}),
        html.Div(id=_ID_DUMMY, disable_n_clicks=True),
    ])


def _warm(store: StudyStore, done: threading.Event | None = None) -> None:
    """As the server starts, in the background: each page's first callbacks for the study the selector
    opens with (the newest finished one; :func:`_warm_pages`), so the first tab finds the page's reads
    (at 750 runs the Splits and Ensemble callbacks took 380-570 ms cold, and the per-image table is 2 M
    rows) and the code its first call loads. A request arriving meanwhile waits for a read in progress
    instead of starting its own. ``done`` is set at the end, whatever happened (``/ready``)."""
    try:
        _, study_id = _study_options(store, None)
        if study_id:
            _warm_pages(study_id)
    except Exception:  # noqa: BLE001 - a failed warm-up only means the first page reads for itself
        logging.getLogger(__name__).warning("warming the dashboard's cache failed", exc_info=True)
    finally:
        if done is not None:
            done.set()


def _warm_pages(study_id: str) -> None:
    """Call each page's ``warm(study_id)`` (its first callbacks with the layout's defaults): their reads,
    and the code their first call loads (at 750 runs the Ensemble page's first callback took 0.63 s with
    every read cached, importing scipy.stats through the Dice estimator's report and plotly's bar trace
    classes; 0.01 s on every later call)."""
    for page in dash.page_registry.values():
        warm = getattr(sys.modules.get(page["module"]), "warm", None)
        if warm is None:
            continue
        try:
            warm(study_id)
        except Exception:  # noqa: BLE001 - as in _warm, for that page only
            logging.getLogger(__name__).warning("warming the page %s failed", page["path"], exc_info=True)


def create_app(uri: str, *, mlflow_ui: str | None = None, token: str | None = None,
               queue_path: str | Path | None = None, warm: bool = True) -> dash.Dash:
    """The dashboard of the tracking store at ``uri`` (``sqlite:///...`` or ``http://...``); ``warm``:
    read the newest study's tables in a background thread as it starts (:func:`_warm`; ``/ready`` answers 200
    once it is done, at once without ``warm``)."""
    from medseglab.ensemble.queue import default_queue_path

    # Import MLflow before the server's threads do: two callbacks importing it at once for the first time
    # hit a partially initialised mlflow.tracking (ImportError _get_store).
    import mlflow.artifacts  # noqa: F401
    import mlflow.tracking  # noqa: F401

    import medseglab.tracking.registry  # noqa: F401
    import medseglab.tracking.runs  # noqa: F401

    store = StudyStore(uri)
    store.client()  # creates / checks the store once, before any request
    context = ctx.Context(store=store, pictures=Pictures(store),
                          queue_path=Path(queue_path) if queue_path else default_queue_path(uri),
                          mlflow_ui=mlflow_ui, token=token)
    ctx.set_current(context)
    app = dash.Dash("dashboards", use_pages=True, pages_folder=str(HERE / "pages"), assets_folder=str(HERE / "assets"),
                    title="medseglab", suppress_callback_exceptions=True, update_title=None)
    app.layout = _layout
    warmed = threading.Event()
    _add_routes(app.server, context, warmed)
    plotly_bundle.install(app)
    polyfill.install(app)
    if warm:
        threading.Thread(target=_warm, args=(store, warmed), name="medseglab-dashboard-warm", daemon=True).start()
    else:
        warmed.set()

    @app.callback(Output("study-select", "options"), Output("study-select", "value"),
                  Input("studies-refresh", "n_intervals"), dash.State("study-select", "value"),
                  prevent_initial_call=True)
    def study_options(_, value):
        options, chosen = _study_options(context.store, value)
        return options, (dash.no_update if chosen == value else chosen)

    return app
