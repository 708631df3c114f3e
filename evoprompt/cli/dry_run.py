"""``python main.py --dry-run [--json] [flags]``: the plan and bill of a run, with no call made
and nothing written (see :mod:`evoprompt.core.bill` for how the figures are estimated)."""

from __future__ import annotations

import json

from evoprompt.config import Config
from evoprompt.core.bill import Bill, estimate, judge_budget, loglik_per_label
from evoprompt.core.experiment import Task

PER_LABEL = (
    "loglik on an endpoint: one request per label, as llama.cpp's server (echo_single) takes; "
    "a server that takes a list of prompts (echo_batch) or chat_top asks one per row"
)


def render(bill: Bill, config: Config) -> str:
    """The plan as a table, one line per phase, then the totals and the budget's verdict."""
    lines = [
        f"Dry run: {config.algorithm.upper()} on {config.dataset} with {config.model} "
        f"({config.backend}), population {config.population_size}, dev {config.dev_size}, "
        f"{config.max_generations} generations. No call is made.",
        f"{'phase':<22}{'calls':>8}{'prompt tok':>12}{'compl. tok':>12}{'cost USD':>11}",
    ]
    for phase in [*bill.phases, bill.total()]:
        lines.append(
            f"{phase.name:<22}{phase.calls:>8}{phase.prompt_tokens:>12}"
            f"{phase.completion_tokens:>12}{phase.cost_usd:>11.4f}"
        )
    low, high = bill.pruned_calls()
    if config.prune:
        lines.append(f"with pruning: about {low}-{high} calls (scoring of generations 1+ shrinks)")
    if loglik_per_label(config):
        lines.append(PER_LABEL)
    if not config.prices.get(config.model):
        lines.append(f"no price for {config.model} in prices: cost shown as 0")
    refusal, warning = judge_budget(bill, config)
    if refusal or warning:
        lines.append(f"this run would be refused: {refusal}" if refusal else str(warning))
    return "\n".join(lines)


def dry_run(config: Config, task: Task, as_json: bool) -> str:
    bill = estimate(config, task)
    if as_json:
        refusal, warning = judge_budget(bill, config)
        per_label = loglik_per_label(config)
        return json.dumps(
            {
                **bill.to_json(),
                "loglik_per_label": per_label,
                "refused": refusal,
                "warning": warning,
            }
        )
    return render(bill, config)
