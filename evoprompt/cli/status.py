"""``python main.py status ID``: one experiment's cursor, best prompt, analysis, held-out verdict,
API statistics, files and the command that resumes it (read-only, lock-free)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from evoprompt.cli.folders import experiment_dir, named_sweep, num, result_dir_of, table_text
from evoprompt.cli.hints import resume_command
from evoprompt.config import Config
from evoprompt.metrics import DEFAULT_METRIC, analysis_table
from evoprompt.report.details import api_stats, details
from evoprompt.report.experiment import Snapshot, loglik_mode, snapshot, when
from evoprompt.report.lineage import describe_rollback, forks_of, lineage_of, rollbacks
from evoprompt.report.sweeps import SweepView
from evoprompt.report.verdict import detail_lines, verdict_line
from evoprompt.report.verify import FileCheck, check_files

STATUS_ROWS, CELL = 10, 60  # analysis rows shown by status, characters per cell
EXIT_OK = 0


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
    return table_text(rows, left=("file", "verified"))


def _sweep_status(view: SweepView, sweep_dir: Path) -> int:
    """A sweep's cells, how far each got (from its own folder) and how to resume it."""
    record = view.record
    print(
        f"Sweep {record.sweep_id}: {view.status}, {view.finished}/{len(view.cells)} cells finished"
    )
    print(f"  folder:      {sweep_dir}")
    print(f"  file:        {record.file} (engine {record.engine})")
    grid = " x ".join(f"{key} {values}" for key, values in record.grid.items())
    print(f"  grid:        {grid}")
    rows: list[dict[str, object]] = []
    for cell_id, snap in view.cells:
        test = snap.summary.test if snap is not None and snap.summary else None
        best = test.results[0].test_fitness if test is not None and test.results else None
        rows.append(
            {
                "cell": cell_id,
                "status": snap.status if snap else "pending",
                "generation": f"{snap.completed_generation}" if snap else "-",
                "dev_best": num(snap.best_fitness) if snap else "-",
                "test_best": num(best),
                "last_update": when(snap.updated) if snap else "-",
            }
        )
    print(table_text(rows, left=("cell", "status", "last_update")))
    if view.status == "running":
        print(f"Resume: not needed, it is running (pid {view.holder})")
    elif view.status == "finished":
        print("Resume: nothing to resume, every cell is finished")
    else:
        print(f"Resume with: {record.resume}")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    view = named_sweep(args)
    if view is not None:
        return _sweep_status(view, result_dir_of(args) / args.experiment_id)
    exp_dir = experiment_dir(args)
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
    print(f"  best:        {num(det.best_fitness)}  {det.best_prompt or '(no prompt scored yet)'}")
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
    print(_resume_line(snap, result_dir_of(args)))
    return EXIT_OK


def _print_branching(snap: Snapshot) -> None:
    if (parent := lineage_of(snap)) is not None:
        print(f"  lineage:     {parent.describe()}")
    forks = forks_of(snap.exp_dir)
    if forks:
        print("  forks:       " + ", ".join(f"{i} (at generation {g})" for i, g in forks))
    for name, record in rollbacks(snap.exp_dir):
        print(f"  rolled back: {describe_rollback(name, record)}")
