"""``python main.py [flags]``: start or resume an experiment, and exit with the spec's codes.

Exit codes: 0 finished; 130 Ctrl+C (143 SIGTERM), progress saved; 75 stopped by an endpoint
failure, an exhausted quota or a budget, progress saved; 2 bad usage or input. Every exit after
a save prints the command that resumes the experiment.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from evoprompt.checkpoint.journal import JournalUnusable
from evoprompt.checkpoint.lock import ExperimentLock, ExperimentLocked
from evoprompt.checkpoint.safe_pickle import UnsafePickle
from evoprompt.checkpoint.store import CheckpointStore
from evoprompt.cli.args import build_parser, split
from evoprompt.config import GUARDED, Config, ConfigError, env_values, read_toml, resolve
from evoprompt.core.engine import PopulationError
from evoprompt.core.experiment import CONFIG_NAME, Experiment, load_dev_set
from evoprompt.data.loader import Dataset, DatasetError
from evoprompt.display import Console
from evoprompt.llm.errors import (
    BudgetExceeded,
    FatalError,
    QuotaExhausted,
    RetriesExhausted,
    StopRequested,
)
from evoprompt.llm.factory import settle_backend

EXIT_OK, EXIT_USAGE, EXIT_TEMPFAIL, EXIT_INTERRUPTED = 0, 2, 75, 130


class UsageError(Exception):
    """Bad input detected before anything was started: one line, exit 2."""


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def resume_command(exp_id: str, config: Config) -> str:
    extra = f" --result-dir {config.result_dir}" if config.result_dir != "result" else ""
    return f"python main.py --experiment-id {exp_id}{extra}"


def _stage(exp_dir: Path) -> tuple[str | None, dict[str, Any]]:
    """The recorded stage and cursor (JSON only: never unpickles a state.pkl)."""
    cursor = CheckpointStore(exp_dir).read_cursor()[0] or {}
    return cursor.get("metadata", {}).get("stage"), cursor


def newest_unfinished(result_dir: Path, name: str) -> tuple[str, dict[str, Any]] | None:
    """The most recently saved unfinished experiment of this config name (by checkpoint time)."""
    best: tuple[float, str, dict[str, Any]] | None = None
    for exp_dir in result_dir.glob("*/"):
        try:
            stored = json.loads((exp_dir / CONFIG_NAME).read_text())
        except (OSError, ValueError):
            continue
        if stored.get("name") != name:
            continue
        stage, cursor = _stage(exp_dir)
        if stage is None or stage == "finished":
            continue
        when = float(cursor.get("timestamp", 0))
        if best is None or when > best[0]:
            best = (when, exp_dir.name, cursor)
    return None if best is None else (best[1], best[2])


def _ask(question: str) -> bool:
    while True:
        answer = input(question).strip().lower()
        if answer in ("y", "yes"):
            return True
        if answer in ("n", "no"):
            return False


def choose_experiment(options: dict[str, Any], config: Config) -> tuple[str, bool]:
    """(experiment id, whether to resume it), following spec section 2's resume rules."""
    result_dir = Path(config.result_dir)
    if "experiment_id" in options:
        exp_id = options["experiment_id"]
        if not exp_id or "/" in exp_id or exp_id.startswith("."):
            raise UsageError(f"invalid experiment id {exp_id!r}")
        exists = (result_dir / exp_id / CONFIG_NAME).is_file()
        if exists and options.get("fresh"):
            raise UsageError(
                f"experiment {exp_id} already exists and --fresh never resumes: drop --fresh "
                "to resume it, or drop --experiment-id to start a new one"
            )
        return exp_id, exists
    if not options.get("fresh"):
        found = newest_unfinished(result_dir, config.name)
        if found is not None:
            exp_id, cursor = found
            where = f"generation {cursor.get('generation', 0)}, batch {cursor.get('batch_idx', 0)}"
            auto = options.get("yes") or os.environ.get("EVOPROMPT_AUTO_RESUME", "") not in (
                "",
                "0",
            )
            if auto:
                say(f"Resuming unfinished experiment {exp_id} ({where}).")
                return exp_id, True
            if sys.stdin.isatty():
                if _ask(
                    f"Unfinished experiment {exp_id} found ({where}). "
                    "Resume from checkpoint? [y/n] "
                ):
                    return exp_id, True
            else:
                say(
                    f"Unfinished experiment {exp_id} found ({where}); starting a new one "
                    "(pass --yes or set EVOPROMPT_AUTO_RESUME=1 to resume it)."
                )
    stamp = time.strftime("%Y%m%d_%H%M%S")
    exp_id = f"{config.name}_{stamp}"
    n = 2
    while (result_dir / exp_id).exists():
        exp_id, n = f"{config.name}_{stamp}_{n}", n + 1
    return exp_id, False


def check_guard(stored: dict[str, Any], config: Config, exp_id: str) -> None:
    differing = [
        f"{key} (experiment: {stored.get(key)!r}, now: {getattr(config, key)!r})"
        for key in GUARDED
        if stored.get(key) != getattr(config, key)
    ]
    if differing:
        raise UsageError(
            f"cannot resume {exp_id} with a different "
            + "; ".join(differing)
            + ". Drop those options to resume, or pass --fresh to start a new experiment."
        )


def prepare(argv: list[str]) -> tuple[Config, str, bool, str]:
    """Resolve config, experiment id and resume decision; raise UsageError/ConfigError."""
    flags, options = split(build_parser().parse_args(argv))
    toml = read_toml(Path(options["config"])) if "config" in options else None
    env = env_values()
    api_key = os.environ.get("OPENAI_API_KEY", "")
    config = resolve(toml=toml, env=env, flags=flags)
    exp_id, resuming = choose_experiment(options, config)
    if resuming:
        path = Path(config.result_dir) / exp_id / CONFIG_NAME
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"{path} is unreadable ({exc}); cannot resume {exp_id}") from None
        config = resolve(base=stored, toml=toml, env=env, flags=flags)
        notice = settle_backend(config, api_key)
        check_guard(stored, config, exp_id)
    else:
        notice = settle_backend(config, api_key)
    if notice:
        say(notice)
    return config, exp_id, resuming, api_key


def main(argv: list[str]) -> int:
    try:
        config, exp_id, resuming, api_key = prepare(argv)
        dev = load_dev_set(config)  # bad data is reported before anything is created
    except (UsageError, ConfigError, DatasetError) as exc:
        say(f"error: {exc}")
        return EXIT_USAGE
    except (EOFError, KeyboardInterrupt):
        say("\naborted")
        return EXIT_INTERRUPTED
    exp_dir = Path(config.result_dir) / exp_id
    try:
        exp_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        say(f"error: cannot create {exp_dir}: {exc.strerror}; check --result-dir")
        return EXIT_USAGE
    lock = ExperimentLock(exp_dir)
    try:
        lock.acquire()
    except ExperimentLocked as exc:
        say(f"error: {exc}")
        return EXIT_USAGE
    try:
        return _run_locked(config, exp_dir, api_key, resuming, dev)
    finally:
        lock.release()


def _run_locked(config: Config, exp_dir: Path, api_key: str, resuming: bool, dev: Dataset) -> int:
    display = Console()
    try:
        experiment = Experiment(config, exp_dir, api_key, display=display, dev=dev)
    except (ConfigError, JournalUnusable, FatalError) as exc:
        say(f"error: {exc}" + (f"; {exc.hint}" if isinstance(exc, FatalError) else ""))
        return EXIT_USAGE
    if resuming:
        try:
            state, resume = experiment.restore()
        except UnsafePickle as exc:
            state_pkl = experiment.store.folder / "state.pkl"
            say(
                f"error: {exc}: refusing to load it (it may have been tampered with; nothing was "
                f"executed). To rebuild the state from the journal instead, move it aside: "
                f"mv {state_pkl} {state_pkl}.rejected"
            )
            return EXIT_USAGE
        for note in resume.notes:
            say(f"recovery: {note}")
        used = resume.source or "no checkpoint (starting from the seed)"
        say(
            f"Resuming {exp_dir.name} from {used}: generation {resume.generation}, "
            f"batch {resume.batch_idx}."
        )
        if config.checkpoint:
            experiment.log_recovery(resume, state)
        if state.generation >= config.max_generations and resume.stage == "finished":
            say(f"Experiment {exp_dir.name} is already finished.")
            _print_summary(exp_dir)
            return EXIT_OK
    else:
        from evoprompt.core.state import ExperimentState

        state = ExperimentState.new(exp_dir.name, config.seed)
        experiment.write_config()
        say(
            f"Experiment {exp_dir.name}: {config.algorithm.upper()} on {config.dataset} with "
            f"{config.model} ({config.backend}); results in {exp_dir}"
        )
    experiment.build_engine(state)
    code = asyncio.run(_drive(experiment))
    if code == EXIT_OK:
        _print_summary(exp_dir)
    elif config.checkpoint:
        say(f"Resume with: {resume_command(exp_dir.name, config)}")
    else:
        say("Nothing was saved (--no-checkpoint): the experiment cannot be resumed.")
    return code


GRACE_S = float(os.environ.get("EVOPROMPT_STOP_GRACE_S", "2.0"))  # Ctrl+C: time for calls to land


def _disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return True
    return isinstance(exc, sqlite3.OperationalError) and "full" in str(exc)


def _stop(exc: BaseException, received: list[int]) -> tuple[str, str, int] | None:
    """(stage saved, line for the user, exit code) for an expected way of stopping."""
    if isinstance(exc, (asyncio.CancelledError, StopRequested)) and received:
        name = "Ctrl+C" if received[0] == signal.SIGINT else "SIGTERM"
        code = EXIT_INTERRUPTED if received[0] == signal.SIGINT else 128 + received[0]
        return "interrupted", f"\nInterrupted by {name}", code
    if isinstance(exc, BudgetExceeded):
        return "budget_exhausted", f"stopped: {exc}", EXIT_TEMPFAIL
    if isinstance(exc, RetriesExhausted):
        return (
            "error",
            f"error: the LLM endpoint kept failing: {exc.last.reason} "
            f"({exc.attempts} attempts); resume once it is back",
            EXIT_TEMPFAIL,
        )
    if isinstance(exc, FatalError):
        code = EXIT_TEMPFAIL if isinstance(exc, QuotaExhausted) else EXIT_USAGE
        return "error", f"error: {exc.reason}; {exc.hint}", code
    if isinstance(exc, PopulationError):
        return "error", f"error: {exc}", EXIT_USAGE
    return None


async def _drive(experiment: Experiment) -> int:
    """Run the engine; map every way it can stop onto a saved checkpoint and an exit code.

    The first Ctrl+C (or SIGTERM) stops new calls and gives those on the wire ``GRACE_S`` to
    land in the journal (they are paid for); a second one, or the grace running out, cancels.
    """
    engine = experiment.engine
    assert engine is not None
    task = asyncio.current_task()
    received: list[int] = []
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        received.append(signum)
        experiment.client.stopping = True
        if task is not None:
            if len(received) == 1:
                loop.call_later(GRACE_S, task.cancel)
            else:
                task.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        await engine.run()
        return EXIT_OK
    except (Exception, asyncio.CancelledError) as exc:
        if _disk_full(exc):
            say(
                "error: the disk is full; the previous checkpoint is intact. "
                "Free some space and resume."
            )
            return EXIT_TEMPFAIL
        stop = _stop(exc, received)
        if stop is None and isinstance(exc, asyncio.CancelledError):
            raise
        stage, line, code = stop or ("error", "", 1)
        try:
            engine.save_stop(stage)
        except (OSError, sqlite3.Error) as save_exc:
            if not _disk_full(save_exc):
                raise
            line += " (the disk is full: progress up to the last checkpoint is kept)"
        if stop is None:
            raise  # a bug: the checkpoint is saved, show the traceback
        say(
            f"{line}. Progress saved (generation {engine.cursor.generation}, "
            f"batch {engine.cursor.batches_done})."
        )
        return code
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await experiment.aclose()


def _print_summary(exp_dir: Path) -> None:
    doc = json.loads((exp_dir / "summary.json").read_text(encoding="utf-8"))
    stats = doc["api_stats"]
    rate = stats["retry_success_rate"]
    print(f"\nExperiment {doc['experiment_id']}: {doc['status']}")
    print(f"Best fitness {doc['best_fitness']:.4f}: {doc['best_prompt']}")
    for gen in doc["generations"]:
        print(
            f"  gen {gen['generation']:>3}  best {gen['best_fitness']:.4f}  "
            f"mean {gen['mean_fitness']:.4f}  scored {gen['evaluated']}"
        )
    print(
        f"API calls {stats['calls']} (succeeded {stats['succeeded']}, failed {stats['failed']}, "
        f"retries {stats['retried']}, retry success "
        f"{'n/a' if rate is None else f'{rate:.0%}'}), cache hits {stats['cache_hits']}, "
        f"tokens {stats['prompt_tokens']} in / {stats['completion_tokens']} out, "
        f"cost ${stats['cost_usd']:.4f}"
    )
    print(f"Results: {exp_dir}/summary.json")
