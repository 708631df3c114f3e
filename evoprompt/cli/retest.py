"""``python main.py test ID``: score an experiment's finalists (or given prompts) on a held-out
set, journaled in the experiment under its lock, and record the verdict in summary.json.

The finalists are those of the finished run (the best prompt, the seed prompts, or only the best
of them under ``test_seeds = "best"``, and the top ``test_top_k``; ``--prompt`` asks for any
other, such as a seed left out); the test set is the experiment's own held-out split unless
``--test-dataset`` names another file. A test already recorded for the same prompts and rows
is printed again and makes no call; any other is answered by the journal wherever the
experiment already asked.

Exit codes as for a run: 0 done; 2 bad usage or input; 75 endpoint or budget; 130/143 stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
from pathlib import Path

from evoprompt.checkpoint.journal_schema import JournalUnusable
from evoprompt.checkpoint.layout import Layout
from evoprompt.checkpoint.lock import ExperimentLocked
from evoprompt.checkpoint.nofollow import PathRefused
from evoprompt.checkpoint.safe_pickle import UnsafePickle
from evoprompt.cli.ending import EXIT_OK, EXIT_USAGE, drive, exit_code, say
from evoprompt.cli.hints import program, retest_next_steps
from evoprompt.cli.run import PROGRESS_ENV
from evoprompt.config import Config, ConfigError, env_seconds, env_values, result_root
from evoprompt.data.loader import DatasetError
from evoprompt.display import Console
from evoprompt.llm.errors import FatalError
from evoprompt.report.verdict import detail_lines, verdict_line
from evoprompt.runner.launch import SessionError, check_id
from evoprompt.runner.session import Session
from evoprompt.runner.stored import read_stored
from evoprompt.runner.task import Task, load_task


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python main.py test",
        description="Score an experiment's finalists (or --prompt TEXT ...) on a held-out set "
        "and record the verdict in its summary.json. Journaled: a repeat makes no call.",
    )
    parser.add_argument("experiment_id", metavar="ID", help="experiment id (folder name)")
    parser.add_argument(
        "--test-dataset",
        metavar="PATH",
        help="test set file with the dataset's columns (default: the experiment's own split)",
    )
    parser.add_argument(
        "--test-size",
        type=int,
        metavar="N",
        help="at most N test rows (default: the experiment's test_size, or "
        f"{Config().test_size} when it had none)",
    )
    parser.add_argument(
        "--prompt", nargs="+", metavar="TEXT", default=[], help="score these prompts instead"
    )
    parser.add_argument(
        "--result-dir",
        help="folder holding the experiments (default: $EVOPROMPT_RESULT_DIR or 'result')",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the test phase's bill (the calls the journal does not answer); call "
        "nothing, change nothing",
    )
    parser.add_argument("--json", action="store_true", help="with --dry-run: one JSON object")
    parser.add_argument(
        "--trust-folder",
        action="store_true",
        help="use an unsigned folder's settings that run code, send the key or spend more",
    )
    return parser


def _config(args: argparse.Namespace, exp_dir: Path, api_key: str) -> Config:
    """The experiment's stored config with the test options of this command (an unsigned
    folder's risky settings confirmed first)."""
    stored = read_stored(exp_dir)
    flags: dict[str, object] = {"result_dir": str(exp_dir.parent)}
    if args.test_dataset:
        flags["test_dataset"] = args.test_dataset
    if args.test_size is not None:
        flags["test_size"] = args.test_size
    elif not stored.doc.get("test_size", 1):
        flags["test_size"] = Config().test_size
    config, notice = stored.resolve(None, env_values(), flags, api_key, trust=args.trust_folder)
    if config.test_size == 0:
        raise SessionError("--test-size 0 leaves nothing to test")
    if notice:
        say(notice)
    return config


def main(argv: list[str]) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or bad usage (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    api_key = os.environ.get("OPENAI_API_KEY", "")
    result_dir = result_root(args.result_dir)
    exp_dir = result_dir / args.experiment_id
    try:
        check_id(args.experiment_id)
        if not Layout(exp_dir).config.is_file():
            raise SessionError(f"no experiment {args.experiment_id!r} in {result_dir}/")
        config = _config(args, exp_dir, api_key)
        task = load_task(config, run_code=not args.dry_run)
        display = Console(every_s=env_seconds(PROGRESS_ENV, 10.0))
    except (SessionError, ConfigError, DatasetError, PathRefused) as exc:
        say(f"error: {exc}")
        return EXIT_USAGE
    if task.test is None or not len(task.test.data):
        say(
            f"error: no test rows: {task.test.source if task.test else config.dataset} has none "
            "left after the dev rows; pass --test-dataset PATH"
        )
        return EXIT_USAGE
    if args.dry_run:
        return _dry_run(exp_dir, config, task, args)
    session = Session(
        config,
        exp_dir,
        api_key,
        resuming=True,
        display=display,
        task=task,
        trust=args.trust_folder,
    )
    try:
        session.__enter__()
    except (ExperimentLocked, PathRefused) as exc:
        say(f"error: {exc}")
        return EXIT_USAGE
    try:
        return _test_locked(
            session, args.prompt, f"Resume with: {program()} test {shlex.join(argv)}"
        )
    finally:
        session.__exit__(None, None, None)


def _dry_run(exp_dir: Path, config: Config, task: Task, args: argparse.Namespace) -> int:
    """The bill of this test phase, from the snapshot and the journal, read only."""
    from evoprompt.billing.branch_bill import retest_bill
    from evoprompt.branching.snapshot import BranchError
    from evoprompt.cli.dry_run import branch_bill

    try:
        bill = retest_bill(exp_dir, config, task, args.prompt)
    except BranchError as exc:
        say(f"error: {exc}")
        return EXIT_USAGE
    assert task.test is not None
    first = (
        f"Dry run: test of {exp_dir.name} on {len(task.test.data)} rows of {task.test.source}. "
        "No call is made and nothing is changed."
    )
    notes = ["calls the journal already answers are free and not counted"]
    print(branch_bill(first, bill, config, notes, bool(args.json)))
    return EXIT_OK


def _test_locked(session: Session, prompts: list[str], next_step: str) -> int:
    try:
        state = session.open()
    except (ConfigError, JournalUnusable, FatalError, UnsafePickle, PathRefused) as exc:
        say(f"error: {exc}")
        return EXIT_USAGE
    resume = session.resume
    if resume is None or not resume.finished or state.generation < 0:
        say(
            f"error: experiment {session.exp_dir.name} has not finished; resume it first "
            f"(python main.py --experiment-id {session.exp_dir.name}): its run ends with a "
            "test phase"
        )
        return EXIT_USAGE
    for note in resume.notes:  # e.g. answers the journal lost: asked (and paid) again
        say(f"recovery: {note}")
    before = len(state.tests)
    outcome = asyncio.run(drive(session, state, next_step, retest=prompts))
    if outcome.report is not None:
        print(verdict_line(outcome.report))
        print("\n".join(detail_lines(outcome.report)))
        fresh = len(state.tests) > before
        print(
            f"Recorded in {Layout(session.exp_dir).summary}"
            if fresh
            else "Already tested (recorded earlier): no call was made."
        )
        print("\n".join(retest_next_steps(session.exp_dir.name, session.config)))
    code = exit_code(outcome, session)
    if code != EXIT_OK:
        say(next_step)
    return code
