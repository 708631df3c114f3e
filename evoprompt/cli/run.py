"""``python main.py [flags]``: start or resume an experiment, and exit with the spec's codes.

Argv, printing, the terminal question, signals and exit codes live here; which experiment runs,
the resume rules and how a stop is saved live in :mod:`evoprompt.core.session`.

Exit codes: 0 finished; 130 Ctrl+C (143 SIGTERM), progress saved; 75 stopped by an endpoint
failure, an exhausted quota or a budget, progress saved; 2 bad usage or input. Every exit after
a save prints the command that resumes the experiment.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from evoprompt.checkpoint.journal import JournalUnusable
from evoprompt.checkpoint.layout import Layout
from evoprompt.checkpoint.lock import ExperimentLocked
from evoprompt.checkpoint.safe_pickle import UnsafePickle
from evoprompt.checkpoint.schema import Summary
from evoprompt.cli.args import build_parser, split
from evoprompt.cli.hints import resume_command
from evoprompt.config import ConfigError, env_values, read_toml
from evoprompt.core.experiment import load_task
from evoprompt.core.launch import Layers, Prepared, SessionError, prepare
from evoprompt.core.session import Outcome, Session
from evoprompt.core.state import ExperimentState
from evoprompt.data.loader import DatasetError
from evoprompt.display import Console
from evoprompt.llm.errors import FatalError
from evoprompt.report.verdict import detail_lines, verdict_line

EXIT_OK, EXIT_USAGE, EXIT_TEMPFAIL, EXIT_INTERRUPTED = 0, 2, 75, 130
EXIT_CODES = {
    "finished": EXIT_OK,
    "budget": EXIT_TEMPFAIL,
    "endpoint": EXIT_TEMPFAIL,
    "quota": EXIT_TEMPFAIL,
    "disk_full": EXIT_TEMPFAIL,
    "fatal": EXIT_USAGE,
    "population": EXIT_USAGE,
}
GRACE_ENV = "EVOPROMPT_STOP_GRACE_S"  # seconds calls on the wire get after Ctrl+C (default 2)


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _ask(question: str) -> bool:
    while True:
        answer = input(question).strip().lower()
        if answer in ("y", "yes"):
            return True
        if answer in ("n", "no"):
            return False


def _prepare(argv: list[str]) -> tuple[Prepared, str]:
    flags, options = split(build_parser().parse_args(argv))
    toml = read_toml(Path(options["config"])) if "config" in options else None
    api_key = os.environ.get("OPENAI_API_KEY", "")
    auto = options.get("yes") or os.environ.get("EVOPROMPT_AUTO_RESUME", "") not in ("", "0")
    prepared = prepare(
        Layers(toml, env_values(), flags),
        api_key,
        experiment_id=options.get("experiment_id"),
        fresh=bool(options.get("fresh")),
        auto_resume=bool(auto),
        ask=_ask if sys.stdin.isatty() else None,
        say=say,
    )
    if prepared.notice:
        say(prepared.notice)
    return prepared, api_key


def main(argv: list[str]) -> int:
    try:
        prepared, api_key = _prepare(argv)
        config = prepared.config
        task = load_task(config)  # bad data is reported before anything is created
        grace = float(os.environ.get(GRACE_ENV) or 2.0)
    except (SessionError, ConfigError, DatasetError) as exc:
        say(f"error: {exc}")
        return EXIT_USAGE
    except ValueError:
        say(f"error: {GRACE_ENV} must be a number of seconds")
        return EXIT_USAGE
    except (EOFError, KeyboardInterrupt):
        say("\naborted")
        return EXIT_INTERRUPTED
    exp_dir = Path(config.result_dir) / prepared.exp_id
    session = Session(
        config,
        exp_dir,
        api_key,
        resuming=prepared.resuming,
        display=Console(),
        task=task,
        grace_s=grace,
    )
    try:
        session.__enter__()
    except OSError as exc:
        say(f"error: cannot create {exp_dir}: {exc.strerror}; check --result-dir")
        return EXIT_USAGE
    except ExperimentLocked as exc:
        say(f"error: {exc}")
        return EXIT_USAGE
    try:
        return _run_locked(session)
    finally:
        session.__exit__(None, None, None)


def _run_locked(session: Session) -> int:
    config, exp_dir = session.config, session.exp_dir
    try:
        state = session.open()
    except (ConfigError, JournalUnusable, FatalError) as exc:
        say(f"error: {exc}" + (f"; {exc.hint}" if isinstance(exc, FatalError) else ""))
        return EXIT_USAGE
    except UnsafePickle as exc:
        state_pkl = Layout(exp_dir).state
        say(
            f"error: {exc}: refusing to load it (it may have been tampered with; nothing was "
            f"executed). To rebuild the state from the journal instead, move it aside: "
            f"mv {state_pkl} {state_pkl}.rejected"
        )
        return EXIT_USAGE
    resume = session.resume
    if resume is not None:
        for note in resume.notes:
            say(f"recovery: {note}")
        used = resume.source or "no checkpoint (starting from the seed)"
        say(
            f"Resuming {exp_dir.name} from {used}: generation {resume.generation}, "
            f"batch {resume.batch_idx}."
        )
        if session.is_finished(state):
            say(f"Experiment {exp_dir.name} is already finished.")
            _print_summary(exp_dir)
            return EXIT_OK
    else:
        say(
            f"Experiment {exp_dir.name}: {config.algorithm.upper()} on {config.dataset} with "
            f"{config.model} ({config.backend}); results in {exp_dir}"
        )
    outcome = asyncio.run(drive(session, state))
    code = exit_code(outcome, session)
    if code == EXIT_OK:
        _print_summary(exp_dir)
    elif config.checkpoint:
        say(f"Resume with: {resume_command(exp_dir.name, config)}")
    else:
        say("Nothing was saved (--no-checkpoint): the experiment cannot be resumed.")
    return code


def exit_code(outcome: Outcome, session: Session) -> int:
    if outcome.kind == "interrupted":
        signum = session.stop_reason or signal.SIGINT
        return EXIT_INTERRUPTED if signum == signal.SIGINT else 128 + signum
    return EXIT_CODES[outcome.kind]


async def drive(
    session: Session, state: ExperimentState, retest: list[str] | None = None
) -> Outcome:
    """Run the session with Ctrl+C and SIGTERM turned into stop requests; say how it ended.
    ``retest``: run only a test phase (see :meth:`Session.run`)."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, session.request_stop, signum)
    try:
        outcome = await session.run(state, retest=retest)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    if outcome.kind == "interrupted":
        name = "Ctrl+C" if session.stop_reason == signal.SIGINT else "SIGTERM"
        line = f"\nInterrupted by {name}"
    else:
        line = outcome.line
    if outcome.kind == "disk_full":
        say(line)
    elif outcome.kind != "finished":
        say(
            f"{line}. Progress saved (generation {outcome.cursor.generation}, "
            f"batch {outcome.cursor.batches_done})."
        )
    return outcome


def _print_summary(exp_dir: Path) -> None:
    doc = Summary.from_json(json.loads(Layout(exp_dir).summary.read_text(encoding="utf-8")))
    stats = doc.api_stats
    rate = stats["retry_success_rate"]
    print(f"\nExperiment {doc.experiment_id}: {doc.status}")
    print(f"Best fitness {doc.best_fitness:.4f}: {doc.best_prompt}")
    for gen in doc.generations:
        print(
            f"  gen {gen.generation:>3}  best {gen.best_fitness:.4f}  "
            f"mean {gen.mean_fitness:.4f}  scored {gen.evaluated}"
        )
    print(
        f"API calls {stats['calls']} (succeeded {stats['succeeded']}, failed {stats['failed']}, "
        f"retries {stats['retried']}, retry success "
        f"{'n/a' if rate is None else f'{rate:.0%}'}), cache hits {stats['cache_hits']}, "
        f"tokens {stats['prompt_tokens']} in / {stats['completion_tokens']} out, "
        f"cost ${stats['cost_usd']:.4f}"
    )
    if doc.test is not None:
        print(verdict_line(doc.test))
        print("\n".join(detail_lines(doc.test)))
    print(f"Results: {exp_dir}/summary.json")
