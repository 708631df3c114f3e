"""The ``run`` argument parser, generated from the config table so every key has a flag.

Flags are grouped by purpose in ``--help``; every config key belongs to exactly one group (a
test checks), so a new key cannot silently drop out of the help.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import fields
from typing import Any

from evoprompt.cli.hints import program
from evoprompt.config import CHOICES, HELP, Config
from evoprompt.llm.backends import backend_choices

RUN_ONLY = {"config", "experiment_id", "yes", "fresh", "dry_run", "json", "trust_folder", "pilot"}

# (title, config keys) in the order --help shows them; run-only flags are added by hand.
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "experiment",
        (
            "name",
            "dataset",
            "text_column",
            "label_column",
            "labels",
            "dev_size",
            "seed_prompts",
            "seed_prompts_from",
            "algorithm",
            "population_size",
            "max_generations",
            "seed",
            "templates",
            "evolve_temperature",
            "metric",
            "answer_pattern",
            "test_size",
            "test_dataset",
            "test_top_k",
            "test_seeds",
            "task_description",
            "shots",
            "train_size",
            "length_penalty",
            "worked_column",
        ),
    ),
    (
        "endpoint",
        (
            "backend",
            "scorer",
            "model",
            "base_url",
            "fallback_model",
            "timeout",
            "http_client",
            "max_tokens",
        ),
    ),
    (
        "retries and limits",
        (
            "concurrency",
            "rpm",
            "tpm",
            "max_retries",
            "retry_delay",
            "retry_strategy",
            "max_retry_wait",
            "max_outage",
        ),
    ),
    (
        "budgets (a run stops, saved and resumable, when one is reached)",
        ("max_calls", "max_tokens_total", "max_cost", "prices", "prune"),
    ),
    (
        "operator: the model that writes prompts (each unset one is the task's; an [operator] "
        "table in a config file)",
        (
            "operator_backend",
            "operator_model",
            "operator_base_url",
            "operator_fallback_model",
            "operator_timeout",
            "operator_concurrency",
            "operator_rpm",
            "operator_tpm",
            "operator_max_retries",
            "operator_prices",
            "operator_max_calls",
            "operator_max_tokens_total",
            "operator_max_cost",
        ),
    ),
    ("checkpoints and resume", ("checkpoint", "batch_size", "cleanup_every", "keep_last_n")),
    ("output", ("result_dir", "track", "track_uri")),
)

EPILOG = """\
subcommands (each has --help):
  list | status ID | verify ID | report ID      read-only, safe while a run is going
  test ID [--test-dataset PATH] [--prompt TEXT ...]   held-out test of finalists or prompts
  fork ID --at-generation N | rollback ID --to-generation N   branch or rewind an experiment
  sweep FILE.toml | sweep-report SWEEP_ID       many seeds and configs in one command
  track ID                                      log an experiment (or sweep) to MLflow, again

environment variables:
  OPENAI_API_KEY                 the endpoint's key; only ever held in memory
  OPENAI_BASE_URL                endpoint base URL (same as --base-url)
  EVOPROMPT_OPERATOR_API_KEY     the operator's key (default: OPENAI_API_KEY); only in memory
  EVOPROMPT_OPERATOR_BASE_URL    the operator's base URL (same as --operator-base-url)
  EVOPROMPT_RESULT_DIR           result folder (same as --result-dir)
  EVOPROMPT_AUTO_RESUME=1        resume the newest matching unfinished experiment without asking
  EVOPROMPT_DISABLE_CHECKPOINT=1 same as --no-checkpoint
  EVOPROMPT_CACHE_DIR            where the local model file is kept (~/.cache/evoprompt/models)
  EVOPROMPT_STOP_GRACE_S         seconds calls on the wire get after Ctrl+C (default 2)
  EVOPROMPT_PROGRESS_S           off a terminal, seconds between progress lines (default 10)
  EVOPROMPT_KEY_FILE             the key that signs result folders
                                 (~/.local/state/evoprompt/folder.key)
  MLFLOW_TRACKING_URI            tracking server of --track mlflow (same as --track-uri)

exit codes:
  0    finished
  2    bad usage or input (one line says what to fix)
  75   stopped by a failing endpoint, an exhausted quota, a budget or a full disk; saved
  130  Ctrl+C (143: SIGTERM); saved
  Every stop that saved prints the command that resumes it."""


def _json_table(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return value


def _add_key(group: argparse._ArgumentGroup, name: str, default: Any) -> None:
    flag = "--" + name.replace("_", "-")
    help_text = HELP[name].replace("%", "%%")
    if name == "checkpoint":
        group.add_argument(
            "--no-checkpoint",
            dest="checkpoint",
            action="store_false",
            help="write no checkpoint files and no journal (the run cannot be resumed)",
        )
    elif isinstance(default, bool):
        group.add_argument(flag, action=argparse.BooleanOptionalAction, help=help_text)
    elif isinstance(default, list):
        group.add_argument(flag, nargs="+", metavar="TEXT", help=help_text)
    elif isinstance(default, dict):
        group.add_argument(flag, type=_json_table, metavar="JSON", help=help_text)
    else:
        shown = f" (default: {default})" if default not in ("", None) else ""
        # Backends register with the backend registry, which the config cannot import.
        choices = (
            backend_choices() if name in ("backend", "operator_backend") else CHOICES.get(name)
        )
        group.add_argument(flag, type=type(default), choices=choices, help=help_text + shown)


def build_parser(pilot: bool = True) -> argparse.ArgumentParser:
    """The run's parser; ``pilot``: with ``--pilot`` (a fresh run's dry run only: fork and
    sweep bill from journals and the task, so they do not take it)."""
    prog = program()
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Evolve instruction prompts with EvoPrompt GA/DE; stop at any moment and "
        "resume with nothing lost.",
        epilog=EPILOG.format(prog=prog),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS,
    )
    defaults = Config()
    known = {f.name for f in fields(Config)}
    for title, keys in GROUPS:
        group = parser.add_argument_group(title)
        if title == "experiment":
            group.add_argument("--config", metavar="PATH", help="TOML config file (see configs/)")
        for name in keys:
            assert name in known, name
            _add_key(group, name, getattr(defaults, name))
        if title.startswith("checkpoints"):
            group.add_argument(
                "--experiment-id",
                metavar="ID",
                help="resume this experiment without asking (or start a new one under this id)",
            )
            group.add_argument(
                "--yes",
                action="store_true",
                help="resume the unfinished experiment of the same settings without asking",
            )
            group.add_argument(
                "--fresh", action="store_true", help="never resume; start a new experiment"
            )
            group.add_argument(
                "--trust-folder",
                action="store_true",
                help="use the settings of an unsigned result folder (edited, copied, older) "
                "that can run code, send the key elsewhere or spend more (see docs/security.md)",
            )
        if title.startswith("budgets"):
            group.add_argument(
                "--dry-run",
                action="store_true",
                help="print the plan (calls, tokens, cost per phase) of a fresh run; call nothing",
            )
            group.add_argument(
                "--json", action="store_true", help="with --dry-run: one JSON object"
            )
        if title.startswith("budgets") and pilot:
            group.add_argument(
                "--pilot",
                type=int,
                metavar="N",
                help="with --dry-run: make N real (paid) scoring calls, the seed prompts on the "
                "first dev rows, and bill open answers at their mean length instead of at "
                "max_tokens (an upper bound); nothing is saved, so the run pays them again",
            )
    return parser


def split(namespace: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config flags given on the command line, run-only options)."""
    given = vars(namespace)
    return (
        {k: v for k, v in given.items() if k not in RUN_ONLY},
        {k: v for k, v in given.items() if k in RUN_ONLY},
    )
