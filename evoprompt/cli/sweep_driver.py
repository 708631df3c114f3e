"""One ``sweep`` invocation: its flags checked, the sweep's record and its cells' plans, and
what the engine reports as cells change (saved at most once a second).

Kept apart from the command's flow (:mod:`evoprompt.cli.sweep`: locking, running, exit codes)
so that what a sweep is, and how it is resumed, reads in one place.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shlex
import time
from pathlib import Path

from evoprompt.checkpoint.layout import SweepLayout
from evoprompt.checkpoint.nofollow import confine_to
from evoprompt.checkpoint.schema.sweep import SweepRecord
from evoprompt.cli.args import build_parser, split
from evoprompt.cli.ending import say
from evoprompt.cli.hints import program
from evoprompt.config import env_values
from evoprompt.llm.backends import settle
from evoprompt.runner.launch import Layers, check_id
from evoprompt.sweep.aggregate import write_aggregate
from evoprompt.sweep.local import CellEnd
from evoprompt.sweep.plan import CellPlan, plan_cells
from evoprompt.sweep.spec import SweepSpec, read_sweep
from evoprompt.sweep.state import (
    SweepError,
    merge,
    new_record,
    newest_unfinished,
    read_record,
    save_record,
)

FLUSH_S = 1.0  # sweep.json and aggregate.csv are rewritten at most once a second while running
NOT_FOR_SWEEPS = ("config", "experiment_id", "yes")


def parser() -> argparse.ArgumentParser:
    parser = build_parser(pilot=False)
    parser.prog = f"{program()} sweep"
    parser.description = (
        "Run every cell of a sweep file (a base config and a [grid] of config keys to lists) "
        "as ordinary experiments in <result-dir>/<sweep-id>/<cell-id>; any run flag applies "
        "to every cell. Rerun the same command to resume."
    )
    parser.add_argument("sweep_file", metavar="SWEEP.toml", help="the sweep file")
    parser.add_argument("--sweep-id", help="resume this sweep (or start it under this id)")
    parser.add_argument("--engine", choices=("local", "ray"), default="local")
    parser.add_argument("--ray-address", help="Ray cluster to use (default: a local Ray)")
    parser.add_argument(
        "--max-parallel", type=int, default=0, help="cells in progress at once (default: all)"
    )
    return parser


def resume_command(spec: SweepSpec, sweep_id: str, root: Path, engine: str) -> str:
    extra = f" --result-dir {shlex.quote(str(root))}" if str(root) != "result" else ""
    extra += " --engine ray" if engine == "ray" else ""
    return f"{program()} sweep {shlex.quote(str(spec.path))} --sweep-id {sweep_id}{extra}"


def _sweep_id(spec: SweepSpec, root: Path, given: str | None, fresh: bool) -> str:
    if given is not None:
        check_id(given)
        if fresh and SweepLayout(root / given).is_sweep():
            raise SweepError(f"sweep {given} already exists and --fresh never resumes it")
        return given
    if not fresh:
        found = newest_unfinished(root, spec.path)
        if found is not None:
            say(f"Resuming unfinished sweep {found} (pass --fresh to start a new one).")
            return found
    stamp = time.strftime("%Y%m%d_%H%M%S")
    sweep_id, n = f"{spec.path.stem}_{stamp}", 2
    while (root / sweep_id).exists():
        sweep_id, n = f"{spec.path.stem}_{stamp}_{n}", n + 1
    return sweep_id


class Driver:
    """One invocation: the sweep's record, its cells' plans, and what the engine reports."""

    def __init__(self, argv: list[str]):
        args = parser().parse_args(argv)
        flags, options = split(args)
        self.options = {k: flags.pop(k) for k in list(flags) if k in _SWEEP_OPTIONS}
        for name in NOT_FOR_SWEEPS:
            if name in options:
                flag = "--" + name.replace("_", "-")
                raise SweepError(f"{flag} is not for sweeps (the sweep file says what to run)")
        self.spec = read_sweep(Path(self.options["sweep_file"]))
        given = sorted(set(flags) & set(self.spec.grid))
        if given:
            raise SweepError(f"--{given[0].replace('_', '-')} conflicts with the grid's {given[0]}")
        if self.options.get("max_parallel", 0) < 0:
            raise SweepError("--max-parallel must not be negative")
        self.engine = str(self.options.get("engine", "local"))
        if self.engine == "ray" and importlib.util.find_spec("ray") is None:
            raise SweepError("--engine ray needs Ray: pip install 'evoprompt[ray]'")
        self.api_key = os.environ.get("OPENAI_API_KEY", "")
        env = env_values()
        base = Layers(self.spec.base, env, flags).resolve()
        if base.track == "mlflow" and importlib.util.find_spec("mlflow") is None:
            raise SweepError("--track mlflow needs MLflow: pip install 'evoprompt[mlflow]'")
        self.base, notice = settle(base, self.api_key)
        self.root = confine_to(Path(self.base.result_dir))
        self.sweep_id = _sweep_id(
            self.spec, self.root, self.options.get("sweep_id"), bool(options.get("fresh"))
        )
        self.sweep_dir = self.root / self.sweep_id
        command = resume_command(self.spec, self.sweep_id, self.root, self.engine)
        record = new_record(self.spec, self.sweep_id, self.base, self.engine, command)
        if SweepLayout(self.sweep_dir).is_sweep():
            record = merge(read_record(self.sweep_dir), record)
        self.record: SweepRecord = record
        self.plans: list[CellPlan] = plan_cells(
            self.spec,
            record.cells,
            env,
            flags,
            self.api_key,
            self.sweep_dir,
            trust=bool(options.get("trust_folder")),
        )
        if notice:
            say(notice)
        self.dry_run = bool(options.get("dry_run"))
        self.json = bool(options.get("json"))
        self._dirty, self._saved, self._aggregated = False, 0.0, -1

    def changed(self, cell_id: str, status: str, end: CellEnd | None) -> None:
        self.record = self.record.with_status(cell_id, status, time.time())
        self._dirty = True
        done = sum(c.status == "finished" for c in self.record.cells)
        total = len(self.record.cells)
        if end is None:
            say(f"[{done}/{total}] {cell_id}: running")
        elif end.kind == "bug":
            say(f"[{done}/{total}] {cell_id}: internal error (please report):\n{end.line}")
        else:
            say(f"[{done}/{total}] {cell_id}: {status}" + (f": {end.line}" if end.line else ""))
        self.flush(force=False)

    def flush(self, *, force: bool = True) -> None:
        """Save sweep.json and aggregate.csv if a cell changed since the last save, at most
        once every FLUSH_S unless ``force``: a cell's own folder is the truth about its
        progress (a resume reads it), so a kill -9 that loses the last second of statuses
        loses nothing, and a 2,000-cell sweep does not rewrite its record 2,000 times."""
        if not self._dirty or (not force and time.monotonic() - self._saved < FLUSH_S):
            return
        save_record(self.sweep_dir, self.record)
        done = sum(c.status == "finished" for c in self.record.cells)
        if done != self._aggregated:  # reads every cell's summary: only when it can change
            write_aggregate(self.record, self.sweep_dir)
            self._aggregated = done
        self._dirty, self._saved = False, time.monotonic()


_SWEEP_OPTIONS = ("sweep_file", "sweep_id", "engine", "ray_address", "max_parallel")
