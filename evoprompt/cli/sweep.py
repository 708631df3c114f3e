"""``python main.py sweep SWEEP.toml [flags]``: run every cell of a sweep, resumably.

Locking, printing, signals and exit codes live here; the invocation (flags, the record, the
cells' plans) in :mod:`evoprompt.cli.sweep_driver`; the sweep file, sweep.json, the engines
and the aggregate in :mod:`evoprompt.sweep`. Rerunning the same
command resumes the newest unfinished sweep of the same file (``--sweep-id`` names one,
``--fresh`` starts a new one): finished cells are kept, the others resume from their
checkpoints. Exit codes as for a single run: 0 every cell finished; 130 Ctrl+C (143
SIGTERM); 75 a budget or an endpoint stopped it; 2 bad input; 1 a bug in a cell.
"""

from __future__ import annotations

import asyncio
import os
import signal

from evoprompt.checkpoint.lock import ExperimentLock, ExperimentLocked
from evoprompt.checkpoint.nofollow import PathRefused, make_dirs
from evoprompt.cli.ending import EXIT_CODES, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, say
from evoprompt.cli.hints import sweep_next_steps
from evoprompt.cli.run import GRACE_ENV
from evoprompt.cli.signals import SAFE, StopSignals
from evoprompt.cli.sweep_driver import FLUSH_S, Driver
from evoprompt.config import ConfigError
from evoprompt.runner.launch import SessionError as LaunchError
from evoprompt.runner.shared import Shared
from evoprompt.sweep.aggregate import write_aggregate
from evoprompt.sweep.local import CellEnd, LocalEngine
from evoprompt.sweep.state import (
    SweepError,
    save_record,
)
from evoprompt.tracking.worker import open_tracker

EXIT_BUG = 1


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
    from evoprompt.billing.bill import estimate
    from evoprompt.billing.branch_bill import resume_bill
    from evoprompt.billing.phases import Bill
    from evoprompt.cli.dry_run import sweep_bill
    from evoprompt.runner.task import load_task

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
