"""``python main.py fork ID --at-generation N [run flags]`` and
``python main.py rollback ID --to-generation N``.

``fork`` builds a new experiment from ID's state at the end of generation N (any run flag
changes the settings for the generations after N), then runs it like a resume. ``rollback``
makes ID go on from the end of generation N at its next resume, keeping what came after in
``checkpoints/rolled_back/``. Exit codes: 0 done; 2 refused (one line says why); a forked run
exits with the run's codes.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from pathlib import Path

from evoprompt.branching.fork import ForkPlan, changed_keys, default_id, fork
from evoprompt.branching.rollback import rollback
from evoprompt.branching.snapshot import BranchError
from evoprompt.checkpoint.layout import Layout
from evoprompt.checkpoint.lock import ExperimentLock, ExperimentLocked
from evoprompt.checkpoint.nofollow import PathRefused
from evoprompt.checkpoint.schema import Lineage
from evoprompt.cli.args import build_parser, split
from evoprompt.cli.ending import EXIT_OK, EXIT_USAGE, say
from evoprompt.cli.hints import program, resume_command
from evoprompt.config import ConfigError, env_values, read_toml, result_root
from evoprompt.data.loader import DatasetError
from evoprompt.runner.launch import SessionError, check_id
from evoprompt.runner.stored import Stored, StoredError, read_stored


def _source(result_dir: Path, exp_id: str) -> tuple[Path, Stored]:
    check_id(exp_id)
    exp_dir = result_dir / exp_id
    try:
        return exp_dir, read_stored(exp_dir)
    except StoredError as exc:
        raise BranchError(
            f"no experiment {exp_id!r} with a readable config.json in {result_dir}/ ({exc}; "
            f"see: {program()} list --result-dir {result_dir})"
        ) from None


def _fork_parser() -> argparse.ArgumentParser:
    parser = build_parser(pilot=False)
    parser.prog = f"{program()} fork"
    parser.description = (
        "Start a new experiment from ID's state at the end of generation N, reusing every "
        "answer ID paid for. Any run flag changes that setting for the generations after N."
    )
    parser.add_argument("source", metavar="ID", help="experiment to fork")
    parser.add_argument(
        "--at-generation", type=int, required=True, metavar="N", help="a finished generation"
    )
    return parser


def cmd_fork(argv: list[str]) -> int:
    namespace = _fork_parser().parse_args(argv)
    source_id = namespace.__dict__.pop("source")
    generation = namespace.__dict__.pop("at_generation")
    flags, options = split(namespace)
    if options.get("fresh") or options.get("yes"):
        raise BranchError("fork always starts a new experiment: drop --fresh/--yes")
    toml = read_toml(Path(options["config"])) if "config" in options else None
    result_dir = result_root(flags.get("result_dir") or env_values().get("result_dir"))
    source_dir, stored = _source(result_dir, source_id)
    api_key = os.environ.get("OPENAI_API_KEY", "")
    flags["result_dir"] = str(result_dir)
    trust = bool(options.get("trust_folder"))
    config = stored.resolve(toml, env_values(), flags, api_key, trust=trust).config
    if not config.checkpoint:
        raise BranchError("a fork lives on its checkpoints and journal: drop --no-checkpoint")
    parent = stored.as_found()
    new_id = options.get("experiment_id") or default_id(result_dir, source_id, generation)
    check_id(new_id)
    changed = changed_keys(parent.to_dict(), config)
    changed.pop("result_dir", None)
    plan = ForkPlan(
        source_dir, generation, result_dir / new_id, config, Lineage(source_id, generation, changed)
    )
    if options.get("dry_run"):
        return _fork_dry_run(plan, bool(options.get("json")))
    fork(plan)
    say(f"Forked {source_id} at generation {generation} into {new_id}: {plan.lineage.describe()}")
    from evoprompt.cli.run import main as run_main

    again = ["--experiment-id", new_id, "--result-dir", str(result_dir)]
    return run_main(again + (["--trust-folder"] if trust else []))


def _fork_dry_run(plan: ForkPlan, json_out: bool) -> int:
    """The fork's bill: nothing is created, nothing called (BranchError as the fork would)."""
    from evoprompt.billing.branch_bill import fork_bill
    from evoprompt.cli.dry_run import branch_bill
    from evoprompt.runner.task import load_task

    config, lineage = plan.config, plan.lineage
    if plan.target.exists():
        raise BranchError(f"experiment {plan.target.name} already exists; pick another id")
    bill, notes = fork_bill(
        plan.source, plan.generation, config, load_task(config), lineage.changed
    )
    first = (
        f"Dry run: fork into {plan.target.name} ({lineage.describe()}), up to generation "
        f"{config.max_generations}. "
        "No call is made and nothing is created."
    )
    print(branch_bill(first, bill, config, notes, json_out))
    return EXIT_OK


def cmd_rollback(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog=f"{program()} rollback",
        description="Make experiment ID go on from the end of generation N at its next "
        "resume; what came after is moved to checkpoints/rolled_back/ (never deleted).",
    )
    parser.add_argument("experiment_id", metavar="ID")
    parser.add_argument("--to-generation", type=int, required=True, metavar="N")
    parser.add_argument("--result-dir", help="default: $EVOPROMPT_RESULT_DIR or 'result'")
    parser.add_argument(
        "--keep-answers",
        action="store_true",
        help="keep the answers journaled after generation N (a resume then replays them at "
        "no cost) instead of setting them aside to be asked again",
    )
    args = parser.parse_args(argv)
    result_dir = result_root(args.result_dir)
    exp_dir, stored = _source(result_dir, args.experiment_id)
    try:
        with ExperimentLock(exp_dir):
            record = rollback(exp_dir, args.to_generation, keep_answers=args.keep_answers)
    except ExperimentLocked as exc:
        raise BranchError(f"{exc}; cannot roll back a running experiment") from None
    layout = Layout(exp_dir)
    say(
        f"Rolled {exp_dir.name} back from generation {record.from_generation} to "
        f"{record.to_generation}: {len(record.files)} files and {record.answers} later answers "
        f"set aside in {layout.relative(layout.rolled_back)}/."
    )
    config = replace(stored.as_found(), result_dir=str(result_dir))
    say(f"Resume with: {resume_command(exp_dir.name, config)}")
    return EXIT_OK


def main(argv: list[str]) -> int:
    """``argv[0]`` is ``fork`` or ``rollback``."""
    command = cmd_fork if argv[0] == "fork" else cmd_rollback
    try:
        return command(argv[1:])
    except (BranchError, ConfigError, SessionError, DatasetError, PathRefused) as exc:
        say(f"error: {exc}")
        return EXIT_USAGE
    except SystemExit as exc:  # argparse: --help (0) or bad usage (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
