"""``--dry-run``: the plan and bill of a command that can spend (a run, a fork, a sweep, a
test), with no call made and nothing written (see :mod:`evoprompt.billing.bill` for how the
figures are estimated). The dispatcher (:mod:`evoprompt.cli.main`) forbids building any
backend while a dry run is on, so a command that mishandled one still could not pay; only
``--pilot N`` lifts that, for its own N calls (:mod:`evoprompt.billing.pilot`)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from evoprompt.billing.afford import against_budget
from evoprompt.billing.bill import estimate, loglik_per_label
from evoprompt.billing.phases import Bill, Phase
from evoprompt.billing.pilot import Pilot
from evoprompt.config import Config
from evoprompt.config.roles import ROLES, for_role
from evoprompt.runner.task import Task

HEADER = f"{'phase':<22}{'calls':>8}{'prompt tok':>12}{'compl. tok':>12}{'cost USD':>11}"

PER_LABEL = (
    "loglik on an endpoint: one request per label, as llama.cpp's server (echo_single) takes; "
    "a server that takes a list of prompts (echo_batch) or chat_top asks one per row"
)


def _row(phase: Phase) -> str:
    return (
        f"{phase.name:<22}{phase.calls:>8}{phase.prompt_tokens:>12}"
        f"{phase.completion_tokens:>12}{phase.cost_usd:>11.4f}"
    )


def table(bill: Bill, config: Config) -> list[str]:
    """One line per phase, then the totals, pruning's range and the budget's verdict."""
    by_role = [bill.total(role=role) for role in ROLES]
    lines = [HEADER, *(_row(phase) for phase in [*bill.phases, *by_role, bill.total()])]
    if bill.basis:
        lines.append(f"completion tokens of scoring answers: {bill.basis}")
    if bill.upper:
        lines.append(
            "an upper bound: every scoring answer priced at max_tokens; add --pilot N to "
            "measure N real answers (N paid calls) for an estimate"
        )
    low, high = bill.pruned_calls()
    if low != high:
        lines.append(f"with pruning: about {low}-{high} calls (scoring of generations 1+ shrinks)")
    if loglik_per_label(config):
        lines.append(PER_LABEL)
    lines += unpriced(config)
    if bill.initial:
        refusal, warning = against_budget(bill, config)
        if refusal or warning:
            lines.append(f"this run would be refused: {refusal}" if refusal else str(warning))
    return lines


def unpriced(config: Config) -> list[str]:
    """A line for each role's model with no price (its cost is shown as 0)."""
    models = {
        settings.model: settings.prices for settings in (for_role(config, role) for role in ROLES)
    }
    return [
        f"no price for {model} in prices: cost shown as 0"
        for model, prices in models.items()
        if not prices.get(model)
    ]


def render(bill: Bill, config: Config, pilot: Pilot | None) -> str:
    """A fresh run's plan: what runs, then the table."""
    calls = f"{pilot.spent.calls} paid pilot calls made, no other" if pilot else "No call is made"
    first = (
        f"Dry run: {config.algorithm.upper()} on {config.dataset} with {config.model} "
        f"({config.backend}){_writer(config)}, population {config.population_size}, "
        f"dev {config.dev_size}, {config.max_generations} generations. {calls}."
    )
    return "\n".join([first, *table(bill, config)])


def _writer(config: Config) -> str:
    """ ", prompts by MODEL (BACKEND)" when the operator is not the task model."""
    writer = for_role(config, "operator")
    if (writer.model, writer.backend, writer.base_url) == (
        config.model,
        config.backend,
        config.base_url,
    ):
        return ""
    return f", prompts by {writer.model} ({writer.backend})"


def as_json(bill: Bill, config: Config) -> dict[str, object]:
    refusal, warning = against_budget(bill, config) if bill.initial else (None, None)
    doc = {**bill.to_json(), "loglik_per_label": loglik_per_label(config)}
    return {**doc, "refused": refusal, "warning": warning}


def dry_run(config: Config, task: Task, json_out: bool, pilot: Pilot | None = None) -> str:
    """A fresh run's bill, its answers as long as ``pilot`` measured them (if one ran)."""
    bill = estimate(config, task, pilot.replies if pilot else None)
    if not json_out:
        return render(bill, config, pilot)
    doc = as_json(bill, config)
    return json.dumps({**doc, "pilot": pilot.spent.to_json()} if pilot else doc)


def branch_bill(
    first: str, bill: Bill, config: Config, notes: Sequence[str], json_out: bool
) -> str:
    """The bill of work on an existing experiment (a fork, a test phase): ``first`` says what
    would run, ``notes`` what the journal makes free."""
    if json_out:
        return json.dumps({**as_json(bill, config), "notes": list(notes)})
    return "\n".join([first, *table(bill, config), *notes])


def sweep_bill(
    sweep_id: str, cells: dict[str, tuple[Bill, str]], config: Config, json_out: bool
) -> str:
    """A sweep's bill: each cell's total (``note``: finished, resumed...) and the sum."""
    totals = {cell_id: bill.total() for cell_id, (bill, _) in cells.items()}
    whole = Bill(list(totals.values()), 0, False).total()
    if json_out:
        doc = {cell_id: {**bill.to_json(), "note": note} for cell_id, (bill, note) in cells.items()}
        return json.dumps({"sweep_id": sweep_id, "cells": doc, "total": whole.to_json()})
    width = max([22, *(len(cell_id) + 2 for cell_id in cells)])
    lines = [
        f"Dry run: sweep {sweep_id}, {len(cells)} cells. No call is made and nothing is created.",
        f"{'cell':<{width}}" + HEADER[22:],
    ]
    for cell_id, phase in totals.items():
        bill, note = cells[cell_id]
        note = "; ".join(filter(None, [note, bill.basis]))
        lines.append(f"{cell_id:<{width}}" + _row(phase)[22:] + (f"  {note}" if note else ""))
    lines.append(f"{'total':<{width}}" + _row(whole)[22:])
    lines += unpriced(config)
    return "\n".join(lines)
