"""One sync: bring a folder's tracked run up to what its files say, under the folder's
tracking lock (a run's tracker and ``main.py track`` never log the same folder at once).

Every step is idempotent and the run id is recorded in tracking.json before anything is logged
to it, so a sync killed at any point and run again ends in the same single, complete run.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from evoprompt.checkpoint.layout import TRACKING_LOCK, Layout, SweepLayout
from evoprompt.checkpoint.nofollow import PathRefused, read_text
from evoprompt.checkpoint.schema import SchemaError
from evoprompt.checkpoint.schema.sweep import SweepRecord
from evoprompt.llm.transport import split_userinfo
from evoprompt.tracking.content import (
    ExperimentFiles,
    aggregate_series,
    param_value,
    rollbacks_done,
    sweep_of,
)
from evoprompt.tracking.mlflow_sink import MlflowSink
from evoprompt.tracking.record import TrackingRecord, read_record, write_record

DEFAULT_STORE = "mlflow.db"
DEFAULT_ARTIFACTS = "mlartifacts"


@dataclass(frozen=True)
class Target:
    """Where runs go: ``uri`` as given (credentials included, never written), ``stored`` as
    tracking.json records it ("" for the default store under the result folder)."""

    uri: str
    stored: str
    artifact_root: Path | None

    @property
    def shown(self) -> str:
        return split_userinfo(self.uri)[0]


def result_root(folder: Path) -> Path:
    """The result folder above an experiment, a sweep, or a sweep's cell."""
    return folder.parent.parent if sweep_of(folder) is not None else folder.parent


def target(configured: str, folder: Path) -> Target:
    """The tracking URI of a folder: the configured one (flag, TOML, $MLFLOW_TRACKING_URI),
    else a SQLite store in its result folder, which ``mlflow ui`` opens."""
    if configured:
        return Target(configured, split_userinfo(configured)[0], None)
    root = result_root(folder).resolve()
    return Target(f"sqlite:///{root / DEFAULT_STORE}", "", root / DEFAULT_ARTIFACTS)


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    fd = os.open(folder / TRACKING_LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _record(path: Path, where: Target, rollbacks: int = 0) -> TrackingRecord:
    record = read_record(path)
    if record is None or record.uri != where.stored:  # none yet, or another tracker's run
        record = TrackingRecord.new(where.stored, rollbacks)
        write_record(path, record)
    return record


def _run(
    sink: MlflowSink,
    path: Path,
    record: TrackingRecord,
    name: str,
    run_name: str,
    tags: dict[str, str],
) -> TrackingRecord:
    """The record with its run, found by key or created, and recorded before use."""
    if record.run_id is not None and sink.run_alive(record.run_id):
        return record
    experiment = sink.experiment_id(name)
    record = record.with_run(sink.run_for(experiment, record.run_key, run_name, tags))
    write_record(path, record)
    return record


def _roll_over(
    sink: MlflowSink, exp_dir: Path, record: TrackingRecord, where: Target
) -> TrackingRecord:
    """After a rollback: mark the steps it moved aside on the old run and end it; the
    experiment goes on in a new run that names the old one."""
    done = rollbacks_done(exp_dir)
    if record.run_id is None or len(done) <= record.rollbacks:
        return record
    tags = {}
    moved: dict[int, float] = {}
    for k, rollback in enumerate(done[record.rollbacks :], start=record.rollbacks + 1):
        first, last = rollback.to_generation + 1, rollback.from_generation
        tags[f"evoprompt.rollback.{k}"] = (
            f"generations {first}-{last} moved aside by a rollback to generation "
            f"{rollback.to_generation}"
        )
        moved.update(dict.fromkeys(range(first, last + 1), 1.0))
    run = sink.update(record.run_id, {}, {**tags, "evoprompt.status": "rolled_back"})
    sink.log_missing(record.run_id, {"moved_aside": moved})
    sink.set_status(run, "rolled_back")
    fresh = TrackingRecord.new(where.stored, len(done), record.run_id)
    write_record(Layout(exp_dir).tracking, fresh)
    return fresh


def sync_experiment(exp_dir: Path, sink: MlflowSink, where: Target, *, final: bool) -> int:
    """Log what the experiment's files hold and its run lacks; the number of metric values
    logged. ``final``: also the artifacts (summary.json, the HTML report)."""
    files = ExperimentFiles.read(exp_dir)
    if not files.config:
        return 0
    layout = Layout(exp_dir)
    sweep = sweep_of(exp_dir)
    with folder_lock(exp_dir):
        record = _record(layout.tracking, where, len(rollbacks_done(exp_dir)))
        record = _roll_over(sink, exp_dir, record, where)
        tags = {"evoprompt.experiment_id": exp_dir.name}
        lineage = files.lineage()
        if lineage is not None:
            tags |= {
                "evoprompt.parent": lineage.parent,
                "evoprompt.forked_at": str(lineage.forked_at),
            }
            parent = read_record(Layout(exp_dir.parent / lineage.parent).tracking)
            if parent is not None and parent.run_id and parent.uri == where.stored:
                tags["evoprompt.parent_run_id"] = parent.run_id
        if record.previous_run_id:
            tags["evoprompt.previous_run_id"] = record.previous_run_id
        if sweep is not None:
            tags |= {
                "evoprompt.sweep_id": sweep.name,
                "evoprompt.cell": exp_dir.name,
                "mlflow.parentRunId": sweep_run(sweep, sink, where, files.name),
            }
        record = _run(sink, layout.tracking, record, files.name, exp_dir.name, tags)
        assert record.run_id is not None
        status = files.summary.status if files.summary else "running"
        run = sink.update(record.run_id, files.params(), {**tags, "evoprompt.status": status})
        logged = sink.log_missing(record.run_id, {**files.steps(), **files.verdict()})
        if files.summary is not None and files.summary.best_prompt is not None:
            sink.text(record.run_id, files.summary.best_prompt + "\n", "best_prompt.txt")
            sink.text(record.run_id, files.lineage_text(), "lineage.txt")
        if final:
            _artifacts(sink, record.run_id, exp_dir)
        sink.set_status(run, status)
    return logged


def _artifacts(sink: MlflowSink, run_id: str, exp_dir: Path) -> None:
    """summary.json and, where matplotlib is installed, the HTML report."""
    import tempfile

    from evoprompt.report.plot import matplotlib_available

    summary = Layout(exp_dir).summary
    if summary.exists():
        sink.artifact(run_id, summary)
    if not matplotlib_available():
        return
    from evoprompt.report.content import report_parts
    from evoprompt.report.html import render_html

    data, png = report_parts(exp_dir)
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(render_html(data, png), encoding="utf-8")
        sink.artifact(run_id, page)


def _sweep_record(sweep_dir: Path) -> SweepRecord | None:
    import json

    try:
        raw = json.loads(read_text(SweepLayout(sweep_dir).sweep))
        return SweepRecord.from_json(raw)
    except (OSError, ValueError, SchemaError, PathRefused):
        return None


def sweep_run(sweep_dir: Path, sink: MlflowSink, where: Target, name: str | None = None) -> str:
    """The sweep's parent run id, created (once, across processes) when there is none."""
    stored = _sweep_record(sweep_dir)
    name = name or str((stored.runtime if stored else {}).get("name") or "default")
    tags = {"evoprompt.sweep_id": sweep_dir.name, "evoprompt.kind": "sweep"}
    path = SweepLayout(sweep_dir).tracking
    with folder_lock(sweep_dir):
        record = _run(sink, path, _record(path, where), name, sweep_dir.name, tags)
    assert record.run_id is not None
    return record.run_id


def sync_sweep(sweep_dir: Path, sink: MlflowSink, where: Target, *, final: bool) -> int:
    """The parent run: the grid as params, the aggregate as metrics, its status."""
    stored = _sweep_record(sweep_dir)
    if stored is None:
        return 0
    run_id = sweep_run(sweep_dir, sink, where)
    finished = all(cell.status == "finished" for cell in stored.cells)
    status = "finished" if finished else "interrupted" if final else "running"
    params = {f"grid.{k}": param_value(v) for k, v in stored.grid.items()}
    params["sweep_file"] = param_value(stored.file)
    run = sink.update(run_id, params, {"evoprompt.status": status})
    logged = sink.log_missing(run_id, aggregate_series(sweep_dir))
    if final:
        for path in (SweepLayout(sweep_dir).aggregate, SweepLayout(sweep_dir).sweep):
            if path.exists():
                sink.artifact(run_id, path)
    sink.set_status(run, status)
    return logged
