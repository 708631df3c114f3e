"""What every inspection command shares: finding the experiment folder, one-line errors, and
plain-text tables."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from evoprompt.checkpoint.layout import SweepLayout
from evoprompt.checkpoint.nofollow import refuse_links
from evoprompt.cli.hints import program
from evoprompt.config import result_root
from evoprompt.report.experiment import is_experiment
from evoprompt.report.sweeps import SweepView, sweep_view


class InspectError(Exception):
    """One line for the user, exit 2."""


def result_dir_of(args: argparse.Namespace) -> Path:
    return result_root(args.result_dir)


def _named(args: argparse.Namespace) -> Path:
    """The folder ``args.experiment_id`` names in the result folder (not checked further)."""
    exp_id: str = args.experiment_id
    if not exp_id or "/" in exp_id or exp_id.startswith("."):
        raise InspectError(f"invalid experiment id {exp_id!r}")
    folder = result_dir_of(args) / exp_id
    refuse_links(folder, action="read through")
    return folder


def named_sweep(args: argparse.Namespace) -> SweepView | None:
    """The sweep ``args.experiment_id`` names, or None when it names no sweep folder."""
    folder = _named(args)
    if not SweepLayout(folder).is_sweep():
        return None
    view = sweep_view(folder)
    if view is None:
        raise InspectError(f"{SweepLayout(folder).sweep} is unreadable; the cells are untouched")
    return view


def experiment_dir(args: argparse.Namespace) -> Path:
    exp_id: str = args.experiment_id
    result_dir = result_dir_of(args)
    exp_dir = _named(args)
    if not exp_dir.is_dir():
        raise InspectError(
            f"no experiment {exp_id!r} in {result_dir}/ "
            f"(see: {program()} list --result-dir {result_dir})"
        )
    if not is_experiment(exp_dir):
        sweep = " (a sweep: `status` shows its cells)" if SweepLayout(exp_dir).is_sweep() else ""
        raise InspectError(
            f"{exp_dir} is not an experiment folder (no config, summary or checkpoints){sweep}"
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
