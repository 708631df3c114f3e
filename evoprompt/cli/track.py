"""``python main.py track ID``: log an experiment (or a sweep and its cells) to MLflow now.

For an experiment run without ``--track``, one whose tracker was down, or one finished long
ago: the same idempotent sync a tracked run makes, so running it twice, or on an experiment
whose own tracker already logged everything, adds nothing. It takes no experiment lock (the
folder's tracking lock keeps it and a running tracker apart), so it is safe while one runs.

Exit codes: 0 logged; 2 bad usage, unknown id, or MLflow not installed; 75 the tracking server
failed (nothing is lost: run it again once the server is back).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from pathlib import Path

from evoprompt.checkpoint.layout import Layout, SweepLayout, is_safe_id
from evoprompt.checkpoint.nofollow import PathRefused, read_text
from evoprompt.cli.folders import InspectError, experiment_dir
from evoprompt.cli.hints import program
from evoprompt.config import result_root

EXIT_OK, EXIT_USAGE, EXIT_TEMPFAIL = 0, 2, 75


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{program()} track",
        description="Log an experiment, or a sweep with its cells, to MLflow (again: only what "
        "the tracked run lacks is added).",
    )
    parser.add_argument("experiment_id", metavar="ID", help="experiment or sweep id")
    parser.add_argument("--result-dir", help="default: $EVOPROMPT_RESULT_DIR or 'result'")
    parser.add_argument(
        "--track-uri",
        help="tracking server or store (default: $MLFLOW_TRACKING_URI, else the experiment's "
        "own, else sqlite:///<result-dir>/mlflow.db)",
    )
    return parser


def _stored_uri(folder: Path) -> str:
    """The URI the experiment (or sweep) was run with, without credentials ("" if none)."""
    doc_path = (
        SweepLayout(folder).sweep if SweepLayout(folder).is_sweep() else Layout(folder).config
    )
    try:
        doc = json.loads(read_text(doc_path))
    except (OSError, ValueError, PathRefused):
        return ""
    values = doc.get("runtime", doc) if isinstance(doc, dict) else {}
    uri = values.get("track_uri") if isinstance(values, dict) else None
    return uri if isinstance(uri, str) else ""


def _folder(args: argparse.Namespace) -> tuple[Path, bool]:
    """(folder, whether it is a sweep) for the id, or InspectError."""
    root = result_root(args.result_dir)
    if is_safe_id(args.experiment_id) and SweepLayout(root / args.experiment_id).is_sweep():
        return root / args.experiment_id, True
    return experiment_dir(args), False


def main(argv: list[str]) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        folder, is_sweep = _folder(args)
    except InspectError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    uri = args.track_uri or os.environ.get("MLFLOW_TRACKING_URI") or _stored_uri(folder)
    if uri and "://" not in uri and uri != "databricks":
        print(f"error: --track-uri {uri!r} is not a tracking URI", file=sys.stderr)
        return EXIT_USAGE
    if importlib.util.find_spec("mlflow") is None:
        print("error: track needs MLflow: pip install 'evoprompt[mlflow]'", file=sys.stderr)
        return EXIT_USAGE
    from evoprompt.tracking.agent import reason
    from evoprompt.tracking.mlflow_sink import MlflowSink
    from evoprompt.tracking.record import read_record
    from evoprompt.tracking.sync import sync_experiment, sync_sweep, target

    where = target(uri, folder)
    cells = [folder / c.name for c in sorted(folder.iterdir())] if is_sweep else [folder]
    try:
        sink = MlflowSink(where.uri, where.artifact_root)
        added = sync_sweep(folder, sink, where, final=True) if is_sweep else 0
        for cell in cells:
            if Layout(cell).config.is_file():
                added += sync_experiment(cell, sink, where, final=True)
    except Exception as exc:  # the server's failure, whatever its kind: one line
        print(
            f"error: MLflow at {where.shown} failed ({reason(exc)}); nothing is lost: run this "
            "command again once it is reachable",
            file=sys.stderr,
        )
        return EXIT_TEMPFAIL
    path = SweepLayout(folder).tracking if is_sweep else Layout(folder).tracking
    record = read_record(path)
    run = record.run_id if record else "-"
    print(f"{folder.name}: MLflow run {run} at {where.shown} ({added} metric values added)")
    return EXIT_OK
