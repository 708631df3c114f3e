"""Whether the budget can pay a bill: the check ``run`` makes before any call, and the
verdict ``--dry-run`` prints.

Kept apart from the bill's assembly (:mod:`evoprompt.billing.bill`): the bill says what a run
costs, this what the user's budgets (the run's and the operator's own) make of it.
"""

from __future__ import annotations

from evoprompt.billing.phases import Bill, Phase
from evoprompt.config import Config
from evoprompt.config.roles import for_role


def _over(phase: Phase, config: Config, flags: str = "--") -> str | None:
    """The first budget ``phase`` overruns, as the flag and the estimate, or None."""
    if config.max_calls and phase.calls > config.max_calls:
        return f"{flags}max-calls {config.max_calls}: about {phase.calls} calls"
    tokens = phase.prompt_tokens + phase.completion_tokens
    if config.max_tokens_total and tokens > config.max_tokens_total:
        return f"{flags}max-tokens-total {config.max_tokens_total}: about {tokens} tokens"
    if config.max_cost and phase.cost_usd > config.max_cost:
        return f"{flags}max-cost {config.max_cost}: about ${phase.cost_usd:.4f}"
    return None


def _over_any(bill: Bill, phases: list[Phase], config: Config) -> str | None:
    """The first budget ``phases`` overrun: the run's total, or the operator's own."""
    operator = bill.total(phases, role="operator")
    return _over(bill.total(phases), config) or _over(
        operator, for_role(config, "operator"), "--operator-"
    )


def against_budget(bill: Bill, config: Config) -> tuple[str | None, str | None]:
    """(why the run is refused, a warning): refused when the budget (the run's, or the
    operator's own) cannot pay even for the initial population, warned when it may not pay for
    the whole run. An upper-bound bill refuses only on its lower estimate: answers need not
    run to ``max_tokens``."""
    least = bill.lower or bill
    initial = _over_any(least, least.phases[: least.initial], config)
    if initial:
        return (
            f"the budget cannot cover even the initial population ({initial}); raise it",
            None,
        )
    whole = _over_any(bill, bill.phases, config)
    if whole:
        bound = " if every answer runs to max_tokens (an upper bound)" if bill.upper else ""
        return None, (
            f"warning: the budget may not cover the whole run{bound} ({whole}); it would stop "
            "and save, resumable with a larger budget"
        )
    return None, None
