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
import dataclasses
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from evoprompt.checkpoint.atomic import DISK_FULL, disk_full
from evoprompt.checkpoint.nofollow import LinkRefused, write_file
from evoprompt.cli.hints import program, resume_command
from evoprompt.config import Config
from evoprompt.metrics import DEFAULT_METRIC, analysis_table
from evoprompt.report.experiment import (
    Snapshot,
    api_stats,
    describe_rollback,
    details,
    forks_of,
    is_experiment,
    lineage_of,
    loglik_mode,
    rollbacks,
    snapshot,
    when,
)
from evoprompt.report.sweeps import list_rows, sweep_view
from evoprompt.report.verdict import detail_lines, verdict_line
from evoprompt.report.verify import FileCheck, check_files

EXIT_OK, EXIT_BAD, EXIT_USAGE, EXIT_TEMPFAIL = 0, 1, 2, 75
STATUS_ROWS, CELL = 10, 60  # analysis rows shown by status, characters per cell
STATUS_HELP = (
    "status: running (a live process holds the lock), finished, interrupted, error, or crashed "
    "(left in progress by a killed process; resumable like an interrupted one)"
)


class InspectError(Exception):
    """One line for the user, exit 2."""


def _result_dir(args: argparse.Namespace) -> Path:
    return Path(args.result_dir or os.environ.get("EVOPROMPT_RESULT_DIR") or "result")


def _experiment(args: argparse.Namespace) -> Path:
    exp_id: str = args.experiment_id
    result_dir = _result_dir(args)
    if not exp_id or "/" in exp_id or exp_id.startswith("."):
        raise InspectError(f"invalid experiment id {exp_id!r}")
    exp_dir = result_dir / exp_id
    if not exp_dir.is_dir():
        raise InspectError(
            f"no experiment {exp_id!r} in {result_dir}/ "
            f"(see: {program()} list --result-dir {result_dir})"
        )
    if not is_experiment(exp_dir):
        raise InspectError(
            f"{exp_dir} is not an experiment folder (no config, summary or checkpoints)"
        )
    return exp_dir


def _num(value: object) -> str:
    return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def _list_row(snap: Snapshot, indent: str = "") -> dict[str, object]:
    done, limit = snap.completed_generation, snap.config.get("max_generations", "?")
    return {
        "id": indent + snap.id,
        "algorithm": snap.config.get("algorithm", "-"),
        "status": snap.status,
        "generation": f"{done if done >= 0 else '-'}/{limit}",
        "best_fitness": _num(snap.best_fitness),
        "last_update": when(snap.updated),
    }


def cmd_list(args: argparse.Namespace) -> int:
    result_dir = _result_dir(args)
    if not result_dir.is_dir():
        raise InspectError(f"result folder {result_dir} does not exist (set --result-dir)")
    rows: list[dict[str, object]] = []
    snaps: list[Snapshot] = []
    for path in sorted(result_dir.iterdir()):
        if path.name.startswith("."):
            continue
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
    print(_frame(rows, left=left))
    return EXIT_OK


def _resume_line(snap: Snapshot, result_dir: Path) -> str:

    names = {f.name for f in dataclasses.fields(Config)}
    try:
        config = Config(**{k: v for k, v in snap.config.items() if k in names})
    except TypeError:
        config = Config()
    command = resume_command(snap.id, dataclasses.replace(config, result_dir=str(result_dir)))
    status = snap.status
    if status == "running":
        return f"Resume: not needed, it is running (pid {snap.holder})"
    if status == "finished":
        return f"Resume: nothing to resume, it is finished ({command} prints its summary)"
    if not snap.config:
        return "Resume: impossible, config.json is missing"
    return f"Resume with: {command}"


def _frame(rows: list[dict[str, object]], left: tuple[str, ...]) -> str:
    """A pandas table with the ``left`` text columns left-aligned (easier to read)."""
    frame = pd.DataFrame(rows)
    formatters: dict[str | int, Callable[..., str]] = {}
    for column in left:
        width = max(len(str(v)) for v in [column, *frame[column]])
        formatters[column] = lambda v, w=width: str(v).ljust(w)
    return frame.to_string(index=False, formatters=formatters, justify="left")


def _print_analysis(metric: str, analysis: dict[str, object]) -> None:
    """The best prompt's analysis as its metric shows it (confusion, or worst examples)."""
    table = analysis_table(metric, analysis)
    print(f"  metric:      {metric}")
    if not table.rows:
        return
    print(f"{table.title} of the best prompt:")
    print("  " + " | ".join(table.headers))
    for row in table.rows[:STATUS_ROWS]:
        print("  " + " | ".join(_cell(cell) for cell in row))


def _cell(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= CELL else flat[: CELL - 1] + "…"


def _checks_table(checks: list[FileCheck]) -> str:
    rows: list[dict[str, object]] = [
        {
            "file": c.name,
            "bytes": "-" if c.size is None else c.size,
            "verified": "ok" if c.ok else f"BAD: {c.problem}",
        }
        for c in checks
    ]
    return _frame(rows, left=("file", "verified"))


def cmd_status(args: argparse.Namespace) -> int:
    exp_dir = _experiment(args)
    snap = snapshot(exp_dir)
    det = details(snap)
    stats, source = api_stats(snap)
    done = snap.completed_generation
    print(f"Experiment {snap.id}: {snap.status}")
    print(f"  folder:      {exp_dir}")
    print(
        f"  algorithm:   {snap.config.get('algorithm', '-')}, model {snap.config.get('model', '-')}"
    )
    if snap.cursor is None:
        print("  cursor:      none saved yet")
    else:
        print(
            f"  cursor:      generation {snap.cursor.generation}, batch {snap.cursor.batch_idx}"
            f" (stage {snap.stage}; {snap.cursor_source}, saved {when(snap.updated)})"
        )
    limit = snap.config.get("max_generations", "?")
    completed = f"generation {done} of {limit}" if done >= 0 else "no generation yet"
    print(f"  completed:   {completed}")
    _print_branching(snap)
    print(f"  best:        {_num(det.best_fitness)}  {det.best_prompt or '(no prompt scored yet)'}")
    if "invalid" in det.analysis:
        flag = "  (MOSTLY INVALID: check the answer format)"
        flag = flag if det.analysis.get("mostly_invalid") else ""
        print(f"  invalid:     {det.analysis['invalid']} of the best prompt's answers{flag}")
    mode = loglik_mode(exp_dir)
    if mode is not None:
        print(f"  loglik:      {mode} (probed once, endpoint.json)")
    _print_analysis(str(snap.config.get("metric", DEFAULT_METRIC)), det.analysis)
    if stats is None:
        print("API statistics: none (no journal.sqlite and no summary.json)")
    else:
        rate = stats.get("retry_success_rate")
        print(
            f"API statistics ({source}): calls {stats.get('calls')} (succeeded "
            f"{stats.get('succeeded')}, failed {stats.get('failed')}), retries "
            f"{stats.get('retried')}, retry success {'n/a' if rate is None else f'{rate:.0%}'}, "
            f"cache hits {stats.get('cache_hits')}, tokens {stats.get('prompt_tokens')} in / "
            f"{stats.get('completion_tokens')} out, cost ${stats.get('cost_usd', 0):.4f}, "
            f"children rejected {stats.get('children_rejected', 0)}"
        )
        learned = stats.get("concurrency")
        if isinstance(learned, dict):
            print(
                f"Concurrency: learned {learned.get('limit')} (peak {learned.get('peak')} in "
                f"flight, configured maximum {learned.get('maximum')})"
            )
    test = snap.summary.test if snap.summary else None
    if test is not None:
        print(f"Held-out {verdict_line(test)}")
        print("\n".join(detail_lines(test)))
    checks = check_files(exp_dir)
    print("Checkpoint files:")
    print(_checks_table(checks) if checks else "  none (nothing saved yet, or --no-checkpoint)")
    for note in dict.fromkeys(snap.notes):
        print(f"Note: {note}")
    print(_resume_line(snap, _result_dir(args)))
    return EXIT_OK


def _print_branching(snap: Snapshot) -> None:
    if (parent := lineage_of(snap)) is not None:
        print(f"  lineage:     {parent.describe()}")
    forks = forks_of(snap.exp_dir)
    if forks:
        print("  forks:       " + ", ".join(f"{i} (at generation {g})" for i, g in forks))
    for name, record in rollbacks(snap.exp_dir):
        print(f"  rolled back: {describe_rollback(name, record)}")


def cmd_verify(args: argparse.Namespace) -> int:
    exp_dir = _experiment(args)
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
    from evoprompt.report.plot import INSTALL_HINT, fitness_png, matplotlib_available

    exp_dir = _experiment(args)
    if not matplotlib_available():
        raise InspectError(f"report needs matplotlib: {INSTALL_HINT}")
    from evoprompt.report.content import build

    snap = snapshot(exp_dir)
    det = details(snap)
    stats, source = api_stats(snap)
    data = build(snap, det, stats, source)
    rows = [g.to_json() for g in det.generations]
    png = fitness_png(rows, title=snap.id) if data.has_plot else None
    suffix = ".md" if args.format == "md" else ".html"
    output = Path(args.output) if args.output else exp_dir / f"report{suffix}"
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        if args.format == "md":
            from evoprompt.report.markdown import render_markdown

            plot_name = None
            if png is not None:
                plot_name = f"{output.stem}_fitness.png"
                write_file(output.with_name(plot_name), png)
            write_file(output, render_markdown(data, plot_name).encode("utf-8"))
        else:
            from evoprompt.report.html import render_html

            write_file(output, render_html(data, png).encode("utf-8"))
    except LinkRefused as exc:
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
    except InspectError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
