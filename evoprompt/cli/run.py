"""``python main.py [flags]``: start or resume an experiment, and exit with the spec's codes.

Argv, the run's header, the terminal question and signals live here; how a run ends (exit
codes, the stop line, the summary) in :mod:`evoprompt.cli.ending`; which experiment runs, the
resume rules and how a stop is saved in :mod:`evoprompt.runner.session`.

Exit codes: 0 finished; 130 Ctrl+C (143 SIGTERM), progress saved; 75 stopped by an endpoint
failure, an exhausted quota or a budget, progress saved; 2 bad usage or input. Every exit after
a save prints the command that resumes the experiment, unless resuming cannot help (too few
distinct initial prompts: the journal would give the same answers).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path
from typing import Any

from evoprompt.checkpoint.atomic import DISK_FULL, disk_full
from evoprompt.checkpoint.journal import JournalUnwritable
from evoprompt.checkpoint.journal_schema import JournalUnusable
from evoprompt.checkpoint.layout import Layout
from evoprompt.checkpoint.lock import ExperimentLocked
from evoprompt.checkpoint.nofollow import PathRefused
from evoprompt.checkpoint.safe_pickle import UnsafePickle
from evoprompt.cli.args import build_parser, split
from evoprompt.cli.ending import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TEMPFAIL,
    EXIT_USAGE,
    drive,
    exit_code,
    print_summary,
    say,
)
from evoprompt.cli.hints import resume_command
from evoprompt.config import Config, ConfigError, env_seconds, env_values, read_toml
from evoprompt.data.loader import DatasetError
from evoprompt.display import Console
from evoprompt.llm.errors import FatalError, LLMError, RetriesExhausted
from evoprompt.report.experiment import loglik_mode
from evoprompt.runner.launch import Layers, Prepared, SessionError, prepare
from evoprompt.runner.session import Session
from evoprompt.runner.task import Task, load_task

GRACE_ENV = "EVOPROMPT_STOP_GRACE_S"  # seconds calls on the wire get after Ctrl+C (default 2)
# Off a terminal, seconds between plain progress lines (default 10).
PROGRESS_ENV = "EVOPROMPT_PROGRESS_S"


def _ask(question: str) -> bool:
    while True:
        answer = input(question).strip().lower()
        if answer in ("y", "yes"):
            return True
        if answer in ("n", "no"):
            return False


def _layers(argv: list[str]) -> tuple[Layers, dict[str, Any]]:
    flags, options = split(build_parser().parse_args(argv))
    toml = read_toml(Path(options["config"])) if "config" in options else None
    return Layers(toml, env_values(), flags), options


def _dry_run(layers: Layers, as_json: bool, pilot: int | None) -> int:
    """The bill of a fresh run of these settings: no file, no experiment chosen, and no call
    but the ``pilot``'s, when one is asked for."""
    from evoprompt.cli.dry_run import dry_run

    api_key = os.environ.get("OPENAI_API_KEY", "")
    config = layers.settle(api_key).config
    task = load_task(config, run_code=False)  # a dry run never imports a python: metric
    if pilot is None:
        print(dry_run(config, task, as_json))
        return EXIT_OK
    if pilot < 1:
        raise ConfigError(f"--pilot takes a number of calls of at least 1, got {pilot}")
    if config.scorer == "loglik":
        raise ConfigError("--pilot measures generated answers; the loglik scorer has none")
    from evoprompt.billing.pilot import run_pilot

    try:
        measured = run_pilot(config, task, pilot, api_key)
    except (LLMError, RetriesExhausted) as exc:
        say(f"error: the pilot's calls failed ({exc}); no bill. Retry, or drop --pilot")
        return EXIT_TEMPFAIL
    spent = measured.spent
    say(
        f"pilot: {spent.calls} paid scoring calls made ({spent.prompt_tokens} prompt + "
        f"{spent.completion_tokens} completion tokens, ${spent.cost_usd:.4f}), "
        f"{measured.replies.scoring:.1f} completion tokens an answer; nothing is kept, so "
        "the run pays for them again"
    )
    print(dry_run(config, task, as_json, measured))
    return EXIT_OK


def _prepare(layers: Layers, options: dict[str, Any]) -> tuple[Prepared, str]:
    api_key = os.environ.get("OPENAI_API_KEY", "")
    auto = options.get("yes") or os.environ.get("EVOPROMPT_AUTO_RESUME", "") not in ("", "0")
    prepared = prepare(
        layers,
        api_key,
        experiment_id=options.get("experiment_id"),
        fresh=bool(options.get("fresh")),
        auto_resume=bool(auto),
        ask=_ask if sys.stdin.isatty() else None,
        say=say,
        admit=_check_budget,
        trust=bool(options.get("trust_folder")),
    )
    if prepared.notice:
        say(prepared.notice)
    return prepared, api_key


def _release(reserved: Path | None) -> None:
    """Remove a new experiment's reserved folder while it is still empty (nothing ran)."""
    if reserved is not None:
        with contextlib.suppress(OSError):
            reserved.rmdir()


def main(argv: list[str]) -> int:
    reserved: Path | None = None  # a new experiment's folder, empty until the run starts
    try:
        layers, options = _layers(argv)
        if options.get("dry_run"):
            return _dry_run(layers, bool(options.get("json")), options.get("pilot"))
        if options.get("pilot") is not None:
            raise ConfigError("--pilot works with --dry-run only: add --dry-run")
        prepared, api_key = _prepare(layers, options)  # bad input: reported, nothing created
        config = prepared.config
        if not prepared.resuming:
            reserved = Path(config.result_dir) / prepared.exp_id
        task = prepared.task
        grace = env_seconds(GRACE_ENV, 2.0, zero=True)
        display = Console(every_s=env_seconds(PROGRESS_ENV, 10.0))
    except (SessionError, ConfigError, DatasetError, PathRefused) as exc:
        _release(reserved)
        say(f"error: {exc}")
        return EXIT_USAGE
    except (EOFError, KeyboardInterrupt):
        say("\naborted")
        return EXIT_INTERRUPTED
    except OSError as exc:
        if not disk_full(exc):
            raise
        say(DISK_FULL)
        return EXIT_TEMPFAIL
    exp_dir = Path(config.result_dir) / prepared.exp_id
    session = Session(
        config,
        exp_dir,
        api_key,
        resuming=prepared.resuming,
        display=display,
        task=task,
        grace_s=grace,
        trust=bool(options.get("trust_folder")),
    )
    try:
        session.__enter__()
    except (ExperimentLocked, PathRefused) as exc:
        say(f"error: {exc}")
        return EXIT_USAGE
    except OSError as exc:
        if disk_full(exc):
            say(DISK_FULL)
            return EXIT_TEMPFAIL
        say(f"error: cannot create {exp_dir}: {exc.strerror}; check --result-dir")
        return EXIT_USAGE
    try:
        return _run_locked(session)
    finally:
        session.__exit__(None, None, None)


def _check_budget(config: Config, task: Task) -> None:
    """Refuse a fresh run whose budget cannot pay for its initial population; warn when it
    may not pay for the whole run (estimated only when a budget is set: start-up stays fast)."""
    if not (config.max_calls or config.max_tokens_total or config.max_cost):
        return
    from evoprompt.billing.afford import against_budget
    from evoprompt.billing.bill import estimate

    refusal, warning = against_budget(estimate(config, task), config)
    if refusal:
        raise SessionError(refusal)
    if warning:
        say(warning)


def _run_locked(session: Session) -> int:
    config, exp_dir = session.config, session.exp_dir
    try:
        state = session.open()
    except (ConfigError, JournalUnusable, FatalError, PathRefused) as exc:
        session.discard()
        say(f"error: {exc}" + (f"; {exc.hint}" if isinstance(exc, FatalError) else ""))
        return EXIT_USAGE
    except JournalUnwritable as exc:
        say(f"error: {exc}")
        return EXIT_TEMPFAIL
    except OSError as exc:
        if not disk_full(exc):
            raise
        say(DISK_FULL)
        return EXIT_TEMPFAIL
    except UnsafePickle as exc:
        state_pkl = Layout(exp_dir).state
        say(
            f"error: {exc}: refusing to load it (it may have been tampered with; nothing was "
            f"executed). To rebuild the state from the journal instead, move it aside: "
            f"mv {state_pkl} {state_pkl}.rejected"
        )
        return EXIT_USAGE
    resume = session.resume
    if session.is_finished(state):
        say(f"Experiment {exp_dir.name} is already finished (--max-generations extends it).")
        print_summary(exp_dir, config)
        tracker = session.experiment.tracker if session.experiment else None
        if tracker is not None:  # a run killed in its final sync: what it missed goes now
            tracker.close()
        return EXIT_OK
    if resume is not None:
        for note in resume.notes:
            say(f"recovery: {note}")
        used = resume.source or "no checkpoint (starting from the seed)"
        say(
            f"Resuming {exp_dir.name} from {used}: generation {resume.generation}, "
            f"batch {resume.batch_idx}; {scoring(config, exp_dir)}."
        )
    else:
        say(
            f"Experiment {exp_dir.name}: {config.algorithm.upper()} on {config.dataset} with "
            f"{config.model} ({config.backend}), {scoring(config, exp_dir)}; results in {exp_dir}"
        )
    next_step = (
        f"Resume with: {resume_command(exp_dir.name, config)}"
        if config.checkpoint
        else "Nothing was saved (--no-checkpoint): the experiment cannot be resumed."
    )
    outcome = asyncio.run(drive(session, state, next_step))
    code = exit_code(outcome, session)
    if code == EXIT_OK:
        print_summary(exp_dir, config)
    elif outcome.kind != "population":  # a resume would get the same answers: the line says
        say(next_step)  # what to do instead
    return code


def scoring(config: Config, exp_dir: Path) -> str:
    """How the run scores, as its header says it: the scorer, and for log-likelihoods on an
    endpoint the way it is asked (probed at the first call, then kept in endpoint.json)."""
    if config.scorer != "loglik" or config.backend != "openai":
        return f"scored by {config.scorer}"
    mode = loglik_mode(exp_dir)
    return f"scored by loglik ({mode or 'the endpoint probed at the first call'})"
