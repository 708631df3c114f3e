"""``python main.py list|status|verify|report``: look at experiments without touching them.

Every command is read-only and takes no lock, so it is safe on a running experiment and
useful on a crashed one (missing files are named, figures come from what survives).
Status values: running (a live process holds the experiment's lock), finished, interrupted,
error (the stop the run recorded), crashed (saved as in progress, but no process holds the
lock: killed; resume it like an interrupted one).

Exit codes: 0 success; 1 ``verify`` found a bad file; 2 bad usage, unknown experiment id, or
matplotlib missing for ``report``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evoprompt.checkpoint.atomic import DISK_FULL, atomic_write_bytes, disk_full
from evoprompt.checkpoint.nofollow import PathRefused, is_real_dir, make_dirs
from evoprompt.cli.folders import InspectError, experiment_dir, num, result_dir_of, table_text
from evoprompt.cli.hints import program
from evoprompt.cli.status import cmd_status
from evoprompt.report.experiment import Snapshot, is_experiment, snapshot, when
from evoprompt.report.lineage import lineage_of
from evoprompt.report.sweeps import list_rows, sweep_view
from evoprompt.report.verify import check_files

EXIT_OK, EXIT_BAD, EXIT_USAGE, EXIT_TEMPFAIL = 0, 1, 2, 75
STATUS_HELP = (
    "status: running (a live process holds the lock), finished, interrupted, error, or crashed "
    "(left in progress by a killed process; resumable like an interrupted one)"
)


def _list_row(snap: Snapshot, indent: str = "") -> dict[str, object]:
    done, limit = snap.completed_generation, snap.config.get("max_generations", "?")
    return {
        "id": indent + snap.id,
        "algorithm": snap.config.get("algorithm", "-"),
        "status": snap.status,
        "generation": f"{done if done >= 0 else '-'}/{limit}",
        "best_fitness": num(snap.best_fitness),
        "last_update": when(snap.updated),
    }


def cmd_list(args: argparse.Namespace) -> int:
    result_dir = result_dir_of(args)
    if not result_dir.is_dir():
        raise InspectError(f"result folder {result_dir} does not exist (set --result-dir)")
    rows: list[dict[str, object]] = []
    snaps: list[Snapshot] = []
    for path in sorted(result_dir.iterdir()):
        if path.name.startswith(".") or not is_real_dir(path):
            continue  # a link is never listed (nor read) as an experiment
        if is_experiment(path):
            snaps.append(snapshot(path))
            rows.append(_list_row(snaps[-1]))
        elif (view := sweep_view(path)) is not None:
            rows += list_rows(view, _list_row)
    if not rows:
        print(f"no experiments in {result_dir}/")
        return EXIT_OK
    left: tuple[str, ...] = ("id", "algorithm", "status", "generation", "last_update")
    parents = {snap.id: lineage_of(snap) for snap in snaps}
    if any(parents.values()):  # the column only appears where there are forks
        for row in rows:
            parent = parents.get(str(row["id"]))
            row["forked_from"] = f"{parent.parent}@{parent.forked_at}" if parent else "-"
        left += ("forked_from",)
    print(table_text(rows, left=left))
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    exp_dir = experiment_dir(args)
    checks = check_files(exp_dir)
    if not checks:
        print(
            f"{exp_dir.name}: no checkpoint files to verify (nothing saved yet, or --no-checkpoint)"
        )
        return EXIT_OK
    for check in checks:
        size = "-" if check.size is None else f"{check.size} B"
        if check.ok:
            print(f"ok   {check.name} ({size})")
        else:
            print(f"BAD  {check.name} ({size}): {check.problem}")
    bad = [c for c in checks if not c.ok]
    if bad:
        print(f"{exp_dir.name}: {len(bad)} of {len(checks)} files bad")
        return EXIT_BAD
    print(f"{exp_dir.name}: all {len(checks)} files verified")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from evoprompt.report.plot import INSTALL_HINT, matplotlib_available

    exp_dir = experiment_dir(args)
    if not matplotlib_available():
        raise InspectError(f"report needs matplotlib: {INSTALL_HINT}")
    from evoprompt.report.content import report_parts

    data, png = report_parts(exp_dir)
    suffix = ".md" if args.format == "md" else ".html"
    output = Path(args.output) if args.output else exp_dir / f"report{suffix}"
    try:
        make_dirs(output.parent)
        if args.format == "md":
            from evoprompt.report.markdown import render_markdown

            plot_name = None
            if png is not None:
                plot_name = f"{output.stem}_fitness.png"
                atomic_write_bytes(output.with_name(plot_name), png)
            atomic_write_bytes(output, render_markdown(data, plot_name).encode("utf-8"))
        else:
            from evoprompt.report.html import render_html

            atomic_write_bytes(output, render_html(data, png).encode("utf-8"))
    except PathRefused as exc:
        raise InspectError(str(exc)) from None
    except OSError as exc:
        if disk_full(exc):
            print(DISK_FULL, file=sys.stderr)
            return EXIT_TEMPFAIL
        raise InspectError(f"cannot write {output}: {exc.strerror}") from None
    print(output)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=program(),
        description="Inspect experiments (read-only; safe while one is running).",
        epilog=STATUS_HELP,
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--result-dir",
        help="folder holding the experiments (default: $EVOPROMPT_RESULT_DIR or 'result')",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    lister = sub.add_parser(
        "list",
        parents=[common],
        help="every experiment with its status",
        description="Every experiment: id, algorithm, status, last completed generation / "
        "max, best fitness, time of the last checkpoint.",
        epilog=STATUS_HELP,
    )
    lister.set_defaults(func=cmd_list)
    for name, func, text in (
        ("status", cmd_status, "one experiment: cursor, best prompt, API stats, files, resume"),
        ("verify", cmd_verify, "check every checkpoint file; exit 1 if any is bad"),
        ("report", cmd_report, "HTML (or Markdown) report with a fitness plot"),
    ):
        child = sub.add_parser(name, parents=[common], help=text, description=text + ".")
        child.add_argument("experiment_id", metavar="ID", help="experiment id (folder name)")
        child.set_defaults(func=func)
        if name == "report":
            child.add_argument("--format", choices=("html", "md"), default="html")
            child.add_argument(
                "--output", metavar="PATH", help="default: <result-dir>/<ID>/report.html (or .md)"
            )
    return parser


def main(argv: list[str]) -> int:
    """Run one inspection subcommand; ``argv[0]`` is its name."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or bad usage (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return int(args.func(args))
    except (InspectError, PathRefused) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
