"""``python main.py sweep-report <sweep-id>``: write a sweep's HTML report (read-only, safe
while the sweep runs); the report itself is built in ``evoprompt.sweep.report``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evoprompt.checkpoint.atomic import atomic_write_bytes
from evoprompt.checkpoint.layout import SweepLayout
from evoprompt.checkpoint.nofollow import PathRefused, make_dirs
from evoprompt.cli.hints import program
from evoprompt.config import result_root
from evoprompt.report.plot import INSTALL_HINT, matplotlib_available
from evoprompt.report.sweeps import sweep_view

EXIT_OK, EXIT_USAGE = 0, 2


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog=f"{program()} sweep-report", description="HTML report of a sweep (read-only)."
    )
    parser.add_argument("sweep_id", metavar="SWEEP_ID")
    parser.add_argument("--result-dir", help="default: $EVOPROMPT_RESULT_DIR or 'result'")
    parser.add_argument("--output", metavar="PATH", help="default: <sweep>/sweep_report.html")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    root = result_root(args.result_dir)
    sweep_dir = root / args.sweep_id
    view = sweep_view(sweep_dir) if "/" not in args.sweep_id else None
    if view is None:
        print(
            f"error: no sweep {args.sweep_id!r} in {root}/ (see: {program()} list)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if not matplotlib_available():
        print(f"error: sweep-report needs matplotlib: {INSTALL_HINT}", file=sys.stderr)
        return EXIT_USAGE
    from evoprompt.sweep.report import build  # pandas and scipy: only once there is a sweep

    output = Path(args.output) if args.output else SweepLayout(sweep_dir).report
    try:
        make_dirs(output.parent)
        atomic_write_bytes(output, build(view, sweep_dir).encode("utf-8"))
    except PathRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"error: cannot write {output}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    print(output)
    return EXIT_OK
