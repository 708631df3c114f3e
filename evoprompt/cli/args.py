"""The ``run`` argument parser, generated from the config table so every key has a flag."""

from __future__ import annotations

import argparse
import json
from dataclasses import fields
from typing import Any

from evoprompt.config import CHOICES, HELP, Config

RUN_ONLY = {"config", "experiment_id", "yes", "fresh"}


def _json_table(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python main.py",
        description="Evolve instruction prompts with EvoPrompt GA/DE; stop at any moment and "
        "resume with nothing lost. Subcommands: list, status ID, verify ID, report ID, test ID "
        "(see 'python main.py list --help').",
        argument_default=argparse.SUPPRESS,
    )
    parser.add_argument("--config", help="TOML config file (see configs/)")
    parser.add_argument(
        "--experiment-id", help="resume this experiment (or start it under this id)"
    )
    parser.add_argument(
        "--yes", action="store_true", help="resume an unfinished experiment without asking"
    )
    parser.add_argument("--fresh", action="store_true", help="never resume; start a new experiment")
    defaults = Config()
    for f in fields(Config):
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        help_text = HELP[f.name]
        if f.name == "checkpoint":
            parser.add_argument(
                "--no-checkpoint",
                dest="checkpoint",
                action="store_false",
                help="write no checkpoint files and no journal",
            )
        elif isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, help=help_text)
        elif isinstance(default, list):
            parser.add_argument(flag, nargs="+", metavar="TEXT", help=help_text)
        elif isinstance(default, dict):
            parser.add_argument(flag, type=_json_table, metavar="JSON", help=help_text)
        else:
            shown = f" (default: {default})" if default not in ("", None) else ""
            parser.add_argument(
                flag, type=type(default), choices=CHOICES.get(f.name), help=help_text + shown
            )
    return parser


def split(namespace: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config flags given on the command line, run-only options)."""
    given = vars(namespace)
    return (
        {k: v for k, v in given.items() if k not in RUN_ONLY},
        {k: v for k, v in given.items() if k in RUN_ONLY},
    )
