"""``medseglab report --html``: a study's parent MLflow run -> one self-contained HTML file
(``reports/<dataset>/study_report-<run id>.html``), logged back on the run as ``report/study_report.html``.

Everything comes from the run and its trainings through ``medseglab.tracking``; the sections are
``report.sections.SECTIONS``. A section whose artifacts are absent says so and names the command.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd

from medseglab.report import html as H
from medseglab.report import sections as S
from medseglab.tracking.environment import PACKAGES, TRAINING_TAGS, environment, recorded

ARTIFACT = "report/study_report.html"
REPORT_TAG = "medseglab.report_made"  # when the report was last logged on the study run (UTC)
ENV_NAMES = {"code_commit": "code commit", "python": "Python", "host": "host", "platform": "platform",
             "machine": "machine", "cpus": "CPU cores", "accelerator": "accelerator (GPUs TensorFlow saw)",
             "training.device": "training device", "training.precision": "training precision",
             "training.distribute": "training distribution", "training.replicas": "training replicas",
             "training.jit_compile": "training XLA"}


class StudyRun:
    """What the report reads from one study: the parent run, its artifacts, its trainings."""

    def __init__(self, run, uri: str):
        from medseglab.tracking.runs import list_artifacts

        self.run, self.uri, self.run_id = run, uri, run.info.run_id
        # an absent folder lists as empty; a store that cannot be read fails the report (not "not computed")
        self.available = {path for folder in S.folders() + ["stats"]
                          for path in list_artifacts(self.run_id, folder, uri=uri)}
        self.trainings = self._trainings()

    def _trainings(self) -> list:
        from medseglab.tracking import conventions as C
        from medseglab.tracking.runs import search_all
        from medseglab.tracking.store import open_client

        client = open_client(uri=self.uri)
        runs = search_all(client, [self.run.info.experiment_id],
                          C.tag_filter({C.PARENT: self.run_id, C.KIND: "training"}))
        return sorted(runs, key=lambda r: r.data.tags.get(C.KEY, r.info.run_id))

    def read(self, path: str, how: str):
        from medseglab.tracking.runs import read_artifact

        readers = {"bytes": lambda p: p.read_bytes(), "text": lambda p: p.read_text(encoding="utf-8"),
                   "csv": pd.read_csv, "json": lambda p: json.loads(p.read_text())}
        return read_artifact(self.run_id, path, readers[how], uri=self.uri)

    def children(self) -> pd.DataFrame:
        from medseglab.tracking import conventions as C

        rows = [{"key": r.data.tags.get(C.KEY, ""), "init": r.data.tags.get(C.INIT, ""), "run_id": r.info.run_id,
                 "status": r.info.status, "weights source": r.data.tags.get(C.WEIGHTS_SOURCE, ""),
                 "weights sha256": r.data.tags.get(C.WEIGHTS_SHA256, "")} for r in self.trainings]
        return pd.DataFrame(rows, columns=["key", "init", "run_id", "status", "weights source", "weights sha256"])


def _command(section_command: str, study: StudyRun, dataset: str) -> str:
    return section_command.format(dataset=dataset, run_id=study.run_id)


def render_part(study: StudyRun, part: S.Part) -> str | None:
    """HTML of one part, or None when none of its artifact files is on the run."""
    path = next((p for p in part.candidates() if p in study.available), None)
    if path is None:
        return None
    caption = part.caption or path
    if path.endswith(".md"):
        body = H.markdown(study.read(path, "text"))
    elif part.kind == "image":
        png = study.read(path, "bytes")
        if not png.startswith(b"\x89PNG"):
            return f"<div class='missing'>{H.esc(path)} is not a PNG picture; make it again</div>"
        body = H.image(png, caption, caption)
    elif part.kind == "json":
        body = H.key_values(H.flatten(study.read(path, "json")))
    else:
        body = H.frame_table(study.read(path, "csv"))
    heading = "" if part.kind == "image" or path.endswith(".md") else f"<h4>{H.esc(caption)}</h4>"
    return heading + body + f"<p class='muted'>artifact <code>{H.esc(path)}</code></p>"


def render_section(study: StudyRun, section: S.Section, dataset: str) -> tuple[str, bool]:
    """(HTML of the section, whether anything of it was computed)."""
    command = _command(section.command, study, dataset)
    if section.datasets and dataset not in section.datasets:
        return H.section(section.key, section.title, f"<p class='muted'>Not applicable to {H.esc(dataset)}: only "
                                                     f"{H.esc(', '.join(section.datasets))} has it.</p>"), False
    rendered = [(part, render_part(study, part)) for part in section.parts]
    if all(body is None for _, body in rendered):
        return H.section(section.key, section.title, H.missing(section.title, command)), False
    body = [f"<p>{H.esc(section.intro)}</p>"] if section.intro else []
    for part, html in rendered:
        body.append(html if html is not None else H.missing(part.caption or part.path, command))
    return H.section(section.key, section.title, "\n".join(body)), True


def _duration(run) -> str:
    if not run.info.end_time:
        return "still running" if run.info.status == "RUNNING" else ""
    seconds = (run.info.end_time - run.info.start_time) / 1000.0
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _utc(ms) -> str:
    return pd.Timestamp(ms, unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M UTC") if ms else ""


def overview(study: StudyRun, dataset: str, provenance, present: dict[str, bool]) -> str:
    from medseglab.tracking import conventions as C

    run, children = study.run, study.children()
    states = children["status"].value_counts().to_dict()
    pairs = [("dataset", dataset), ("study run", f"{run.info.run_name} ({study.run_id})"),
             ("status", run.info.status), ("profile", run.data.tags.get(C.PROFILE, "")),
             ("started", _utc(run.info.start_time)), ("duration", _duration(run)),
             ("trainings", ", ".join(f"{n} {s.lower()}" for s, n in sorted(states.items())) or "none found"),
             ("TII encoder weights", provenance.weights_name or "not recorded"),
             ("data", {True: provenance.data_label(), False: "real (not synthetic)", None: "not known"}[
                 provenance.synthetic])]
    if "stats/selection.json" in study.available:
        sel = study.read("stats/selection.json", "json")
        pairs.append(("chosen split (Table S1)", f"split {sel.get('split')} of the {sel.get('ratio')}:"
                                                 f"{100 - int(sel.get('ratio') or 80)} sets: {sel.get('reason', '')}"))
    body = H.key_values(pairs)
    done = [t for t, ok in present.items() if ok]
    todo = [t for t, ok in present.items() if not ok]
    body += f"<p>Computed: {H.esc(', '.join(done) or 'nothing yet')}.</p>"
    if todo:
        body += f"<p class='missing'>Not computed for this study: {H.esc(', '.join(todo))} (each section says how).</p>"
    return H.section("study", S.OVERVIEW_TITLE, body)


def _env_value(counts: dict[str, int] | None, n_runs: int) -> str:
    """One value when every run agrees, else each value with its run count; "not recorded" when none has it."""
    if not counts:
        return "not recorded"
    if len(counts) == 1 and next(iter(counts.values())) == n_runs:
        return next(iter(counts))
    return "; ".join(f"{v} ({c} of {n_runs})" for v, c in sorted(counts.items()))


def environment_table(study_tags: dict, training_tags: list[dict]) -> pd.DataFrame:
    """What each environment item is on the study run and on its trainings ("not recorded" where absent)."""
    parent, children = recorded([study_tags]), recorded(training_tags)
    keys = ["code_commit", "python", *(f"version.{p}" for p in PACKAGES), "host", "platform", "machine", "cpus",
            "accelerator", *(f"training.{k}" for k in TRAINING_TAGS)]
    keys += sorted((set(parent) | set(children)) - set(keys))
    rows = [{"": ENV_NAMES.get(k, k.replace("version.", "") + " version"),
             "study run": _env_value(parent.get(k), 1),
             f"trainings ({len(training_tags)})": _env_value(children.get(k), len(training_tags))} for k in keys]
    return pd.DataFrame(rows)


def provenance_section(study: StudyRun, dataset: str, provenance, made_by: dict[str, str]) -> str:
    from medseglab.tracking import conventions as C

    run, children = study.run, study.children()
    tags, params = run.data.tags, run.data.params
    source = provenance.data_source or " ".join(p for p in (params.get("format"), params.get("source")) if p)
    data = [("data source", source or "not recorded"),
            ("synthetic", {True: "yes: SYNTHETIC demo data, not comparable to the paper", False: "no",
                           None: "not known"}[provenance.synthetic]),
            ("data hash (prepared dataset)", tags.get(C.DATA_HASH, "not recorded")),
            ("split hash", tags.get(C.SPLITS_HASH, "not recorded")),
            ("config hash", tags.get(C.CONFIG_HASH, "not recorded")),
            ("profile", tags.get(C.PROFILE, ""))]
    body = ["<h3>Data and splits</h3>", H.key_values(data)]
    weights = children.groupby(["init", "weights source", "weights sha256"], dropna=False).size()
    weights = weights.rename("trainings").reset_index()
    body += ["<h3>Encoder weights</h3>",
             f"<p>{H.esc(provenance.weights_note() or 'TII weights not recorded on the trainings.')}</p>",
             H.frame_table(weights)]
    body += ["<h3>Code, packages, machine and accelerator of the study's runs</h3>",
             "<p class='muted'>From the runs' tags: <code>medseglab.env.*</code> (or MLflow's "
             "<code>mlflow.source.git.commit</code>) and the hardware tags each training sets.</p>",
             H.frame_table(environment_table(tags, [r.data.tags for r in study.trainings])),
             "<h3>This report</h3>",
             H.key_values([("made", _utc(int(time.time() * 1000))),
                           *((ENV_NAMES.get(k, k.replace("version.", "") + " version"), v) for k, v in made_by.items())])]
    config = sorted(params.items())
    body.append(f"<details><summary>Full configuration ({len(config)} parameters of the study run)</summary>"
                f"{H.key_values(config)}</details>")
    ids = [("study (parent) run", study.run_id), ("experiment", run.info.experiment_id)]
    if tags.get(C.LAUNCHER):
        ids.append(("`mlflow run` launcher run", tags[C.LAUNCHER]))
    body.append("<h3>Run ids</h3>" + H.key_values(ids))
    body.append(f"<details><summary>The {len(children)} trainings</summary>"
                f"{H.frame_table(children[['key', 'init', 'run_id', 'status']], max_rows=len(children) or 1)}"
                "</details>")
    return H.section("provenance", S.PROVENANCE_TITLE, "\n".join(body))


def build_html(study: StudyRun, dataset: str, provenance) -> str:
    from medseglab.progress import bar

    present, sections = {}, []
    for section in bar(S.SECTIONS, desc=f"report {dataset}", unit="section"):
        html, ok = render_section(study, section, dataset)
        sections.append(html)
        present[section.title] = ok
    banners = [f"{provenance.data_label()}: these numbers are not comparable to the paper's"
               if provenance.synthetic else "", f"TII encoder: {provenance.weights_name}"
               if provenance.fallback else ""]
    toc = [("study", S.OVERVIEW_TITLE), *((s.key, s.title) for s in S.SECTIONS), ("provenance", S.PROVENANCE_TITLE)]
    title = provenance.caption(f"medseglab study report: {dataset}")
    subtitle = f"study run {study.run.info.run_name} ({study.run_id}), {study.run.info.status.lower()}"
    return H.page(title, subtitle, banners, toc,
                  [overview(study, dataset, provenance, present), *sections,
                   provenance_section(study, dataset, provenance, environment())])


def study_report(params: dict, dataset: str, run_id: str | None = None, *, out: str | Path | None = None,
                 log: bool = True) -> tuple[Path, str | None]:
    """Write the HTML report of study ``run_id`` (default the newest finished study of ``dataset``) to
    ``out`` (a folder, default ``reports/<dataset>``) and, with ``log``, log it on the study's parent run
    as ``report/study_report.html``. Returns (the file, the run it was logged on or None)."""
    from medseglab import tracking
    from medseglab.errors import UserError
    from medseglab.io import atomic_path, temp_dir
    from medseglab.stats.provenance import Provenance, study_provenance
    from medseglab.tracking import conventions as C
    from medseglab.tracking.store import open_client

    uri = tracking.tracking_uri(params)
    run = tracking.find_study(dataset, run_id, params, uri=uri)
    if run.data.tags.get(C.DATASET, dataset) != dataset:
        raise UserError(f"study run {run.info.run_id} is of dataset {run.data.tags.get(C.DATASET)!r}, not "
                        f"{dataset!r}; pass --dataset {run.data.tags.get(C.DATASET)}")
    study = StudyRun(run, uri)
    children = study.children()
    provenance = study_provenance(run, params, children=children, uri=uri)
    if provenance.synthetic is None and run.data.params.get("format"):  # no prepared folder here: the run says
        provenance = Provenance(run.data.params["format"] == "synthetic", provenance.data_source,
                                provenance.tii_weights)
    text = build_html(study, dataset, provenance)
    path = Path(out or Path("reports") / dataset) / f"study_report-{study.run_id}.html"
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    if not log:
        return path, None
    with temp_dir() as tmp:
        staged = tmp / Path(ARTIFACT).name
        staged.write_text(text, encoding="utf-8")
        client = open_client(uri=uri)
        client.log_artifact(study.run_id, str(staged), str(Path(ARTIFACT).parent))
        # a new tag changes the run's stamp, so the dashboard's cached copy (tracking server) is refreshed
        client.set_tag(study.run_id, REPORT_TAG, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    return path, study.run_id
