"""What every inspection command shares: finding the experiment folder, one-line errors, and
plain-text tables."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from evoprompt.checkpoint.nofollow import refuse_links
from evoprompt.cli.hints import program
from evoprompt.config import result_root
from evoprompt.report.experiment import is_experiment


class InspectError(Exception):
    """One line for the user, exit 2."""


def result_dir_of(args: argparse.Namespace) -> Path:
    return result_root(args.result_dir)


def experiment_dir(args: argparse.Namespace) -> Path:
    exp_id: str = args.experiment_id
    result_dir = result_dir_of(args)
    if not exp_id or "/" in exp_id or exp_id.startswith("."):
        raise InspectError(f"invalid experiment id {exp_id!r}")
    exp_dir = result_dir / exp_id
    refuse_links(exp_dir, action="read through")
    if not exp_dir.is_dir():
        raise InspectError(
            f"no experiment {exp_id!r} in {result_dir}/ "
            f"(see: {program()} list --result-dir {result_dir})"
        )
    if not is_experiment(exp_dir):
        raise InspectError(
            f"{exp_dir} is not an experiment folder (no config, summary or checkpoints)"
        )
    return exp_dir


def num(value: object) -> str:
    return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def table_text(rows: list[dict[str, object]], left: tuple[str, ...]) -> str:
    """A pandas table with the ``left`` text columns left-aligned (easier to read)."""
    frame = pd.DataFrame(rows)
    formatters: dict[str | int, Callable[..., str]] = {}
    for column in left:
        width = max(len(str(v)) for v in [column, *frame[column]])
        formatters[column] = lambda v, w=width: str(v).ljust(w)
    return frame.to_string(index=False, formatters=formatters, justify="left")
