"""``python main.py sweep SWEEP.toml [flags]``: run every cell of a sweep, resumably.

Argv, printing, signals and exit codes live here; the sweep file, sweep.json, the cells'
plans, the engines and the aggregate live in :mod:`evoprompt.sweep`. Rerunning the same
command resumes the newest unfinished sweep of the same file (``--sweep-id`` names one,
``--fresh`` starts a new one): finished cells are kept, the others resume from their
checkpoints. Exit codes as for a single run: 0 every cell finished; 130 Ctrl+C (143
SIGTERM); 75 a budget or an endpoint stopped it; 2 bad input; 1 a bug in a cell.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import shlex
import signal
import time
from pathlib import Path

from evoprompt.checkpoint.layout import SweepLayout
from evoprompt.checkpoint.lock import ExperimentLock, ExperimentLocked
from evoprompt.checkpoint.nofollow import PathRefused, confine_to, make_dirs
from evoprompt.checkpoint.schema.sweep import SweepRecord
from evoprompt.cli.args import build_parser, split
from evoprompt.cli.hints import program, sweep_next_steps
from evoprompt.cli.run import EXIT_CODES, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, GRACE_ENV, say
from evoprompt.cli.signals import SAFE, StopSignals
from evoprompt.config import Config, ConfigError, env_values, resolve
from evoprompt.llm.backends import settle_backend
from evoprompt.runner.launch import SessionError as LaunchError
from evoprompt.runner.launch import check_id
from evoprompt.runner.shared import Shared
from evoprompt.sweep.aggregate import write_aggregate
from evoprompt.sweep.local import CellEnd, LocalEngine
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
from evoprompt.tracking.worker import open_tracker

EXIT_BUG = 1
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
        self.base: Config = resolve(toml=self.spec.base, env=env, flags=flags)
        if self.base.track == "mlflow" and importlib.util.find_spec("mlflow") is None:
            raise SweepError("--track mlflow needs MLflow: pip install 'evoprompt[mlflow]'")
        notice = settle_backend(self.base, self.api_key)
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


def main(argv: list[str]) -> int:
    try:
        driver = Driver(argv)
    except (SweepError, ConfigError, LaunchError, PathRefused) as exc:
        say(f"error: {exc}")
        return EXIT_USAGE
    if driver.dry_run:
        return _dry_run(driver)
    try:
        grace = float(os.environ.get(GRACE_ENV) or 2.0)
    except ValueError:
        say(f"error: {GRACE_ENV} must be a number of seconds")
        return EXIT_USAGE
    lock = ExperimentLock(driver.sweep_dir)
    try:
        make_dirs(driver.sweep_dir)
        lock.acquire()
    except PathRefused as exc:
        say(f"error: {exc}")
        return EXIT_USAGE
    except OSError as exc:
        say(f"error: cannot create {driver.sweep_dir}: {exc.strerror}; check --result-dir")
        return EXIT_USAGE
    except ExperimentLocked:
        say(f"error: sweep {driver.sweep_id} is being run by another process")
        return EXIT_USAGE
    try:
        return _run_locked(driver, grace)
    except PathRefused as exc:  # a link or odd file planted in the sweep folder
        say(f"error: {exc}")
        return EXIT_USAGE
    finally:
        lock.release()


def _dry_run(driver: Driver) -> int:
    """Each cell's bill and the total: a finished cell costs nothing, a resumed one at most
    the generations it has not completed. Nothing is created."""
    from evoprompt.billing.bill import Bill, estimate
    from evoprompt.billing.branch_bill import resume_bill
    from evoprompt.cli.dry_run import sweep_bill
    from evoprompt.runner.experiment import load_task

    bills: dict[str, tuple[Bill, str]] = {}
    for plan in driver.plans:
        task = load_task(plan.config)
        bills[plan.id] = (
            resume_bill(plan.exp_dir, plan.config, task)
            if plan.resuming
            else (estimate(plan.config, task), "")
        )
    print(sweep_bill(driver.sweep_id, bills, driver.base, driver.json))
    return EXIT_OK


def _run_locked(driver: Driver, grace: float) -> int:
    save_record(driver.sweep_dir, driver.record)
    total = len(driver.plans)
    say(
        f"Sweep {driver.sweep_id}: {total} cells ({', '.join(driver.spec.grid)}) with the "
        f"{driver.engine} engine; results in {driver.sweep_dir}"
    )
    # Said now, not only at a clean stop: a kill -9 leaves it on screen.
    say(f"If it stops, resume with: {driver.record.resume}")
    parallel = int(driver.options.get("max_parallel") or 0) or total
    base = driver.base
    tracker = open_tracker(base.track, base.track_uri, driver.sweep_dir, say, sweep=True)
    if tracker is not None:
        tracker.poke()  # the parent run, before the cells' runs name it
    if driver.engine == "ray":
        from evoprompt.sweep.ray_engine import run_ray

        ends, reason = run_ray(
            driver.plans,
            driver.base,
            driver.changed,
            parallel=parallel,
            grace_s=grace,
            address=driver.options.get("ray_address") or None,
        )
    else:
        ends, reason = asyncio.run(_drive_local(driver, parallel, grace))
    save_record(driver.sweep_dir, driver.record)  # the final statuses
    frame = write_aggregate(driver.record, driver.sweep_dir)
    unreadable = " ".join(ids for ids in frame["unreadable"] if ids)
    if unreadable:
        say(
            f"warning: the summary.json of {unreadable} cannot be read: named in the "
            "'unreadable' column of aggregate.csv and left out of its figures"
        )
    if tracker is not None:
        tracker.close()  # the aggregate as the parent run's metrics
    done = sum(c.status == "finished" for c in driver.record.cells)
    code = EXIT_OK if done == total else _exit_code(ends, reason)
    say(f"Sweep {driver.sweep_id}: {done}/{total} cells finished.")
    if reason is not None and done < total:
        name = "Ctrl+C" if reason == signal.SIGINT else "SIGTERM"
        say(f"Interrupted by {name}; every running cell saved its progress.")
    if done == total:
        print(f"Aggregate: {driver.sweep_dir / 'aggregate.csv'}")
        print("\n".join(sweep_next_steps(driver.sweep_id, driver.base)))
    else:
        say(f"Resume with: {driver.record.resume}")
    return code


async def _drive_local(
    driver: Driver, parallel: int, grace: float
) -> tuple[dict[str, CellEnd], int | None]:
    engine = LocalEngine(
        driver.plans,
        Shared(driver.base, driver.api_key),
        max_parallel=parallel,
        grace_s=grace,
        on_change=driver.changed,
    )
    flusher = asyncio.create_task(_flush_every(driver))
    try:
        with StopSignals(engine.stop, grace, f"{SAFE} Resume with: {driver.record.resume}"):
            ends = await engine.run()
    finally:
        flusher.cancel()
    return ends, engine.stop_reason


async def _flush_every(driver: Driver) -> None:
    """Changes that came within FLUSH_S of a save reach the disk a moment later."""
    while True:
        await asyncio.sleep(FLUSH_S)
        driver.flush()


def _exit_code(ends: dict[str, CellEnd], reason: int | None) -> int:
    if reason is not None:
        return EXIT_INTERRUPTED if reason == signal.SIGINT else 128 + reason
    kinds = {end.kind for end in ends.values()}
    if "bug" in kinds:
        return EXIT_BUG
    codes = {EXIT_CODES.get(kind, EXIT_USAGE) for kind in kinds if kind != "interrupted"}
    for code in (EXIT_USAGE, EXIT_CODES["budget"]):
        if code in codes:
            return code
    return EXIT_OK
