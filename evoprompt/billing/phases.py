"""A bill's shape: its phases (calls, tokens, cost of one step of a run) and their sums.

Apart from :mod:`evoprompt.billing.bill`, which assembles a run's phases, because every reader
of a bill (the dry run, the affordability check, the pilot, fork and sweep bills) needs the
shape and not the assembly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from evoprompt.config.roles import ROLES, Role

# The range of generations 1+'s scoring calls pruning may save: nothing when children clear
# their bars (as on the test endpoint), up to a guessed 60% when most are far below it.
PRUNE_SAVING = (0.0, 0.6)


@dataclass(frozen=True)
class Phase:
    """One phase of the run: its calls and estimated tokens and cost."""

    name: str
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    generation: int | None = None  # the generation it belongs to (None: the test phase)
    role: Role = "task"  # who answers it: the task model (scoring) or the operator (writing)

    def to_json(self) -> dict[str, Any]:
        return {
            "phase": self.name,
            "calls": self.calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": round(self.cost_usd, 6),
        }


@dataclass(frozen=True)
class Bill:
    phases: list[Phase]
    initial: int  # how many of ``phases`` make the initial population
    prune: bool
    basis: str = ""  # what the scoring answers' lengths rest on (billing/replies.py)
    upper: bool = False  # those lengths are the cap: every completion figure is a bound
    lower: Bill | None = None  # with ``upper``: the same plan at the least plausible lengths

    def total(self, phases: list[Phase] | None = None, role: Role | None = None) -> Phase:
        """The sum of ``phases`` (default: all), of one ``role``'s only when given."""
        chosen = self.phases if phases is None else phases
        if role is not None:
            chosen = [p for p in chosen if p.role == role]
        return Phase(
            f"{role} total" if role else "total",
            sum(p.calls for p in chosen),
            sum(p.prompt_tokens for p in chosen),
            sum(p.completion_tokens for p in chosen),
            sum(p.cost_usd for p in chosen),
        )

    def pruned_calls(self) -> tuple[int, int]:
        """The range of calls the whole run makes with pruning on (unpruned when off)."""
        total = self.total().calls
        if not self.prune:
            return total, total
        later = sum(p.calls for p in self.phases[self.initial :] if p.name.endswith("scoring"))
        low, high = PRUNE_SAVING
        return total - round(later * high), total - round(later * low)

    def to_json(self) -> dict[str, Any]:
        total = self.total().to_json()
        del total["phase"]
        low, high = self.pruned_calls()
        return {
            **total,
            "initial_population": _bare(self.total(self.phases[: self.initial])),
            "calls_with_pruning": [low, high],
            "basis": self.basis,
            "upper_bound": self.upper,
            "phases": [p.to_json() for p in self.phases],
            "roles": {role: _bare(self.total(role=role)) for role in ROLES},
        }

    def after(self, keep: Callable[[Phase], bool]) -> Bill:
        """The phases ``keep`` chooses, as a bill of their own (no initial population)."""
        lower = self.lower.after(keep) if self.lower else None
        return replace(self, phases=[p for p in self.phases if keep(p)], initial=0, lower=lower)


def _bare(phase: Phase) -> dict[str, Any]:
    doc = phase.to_json()
    del doc["phase"]
    return doc


def bill_after(bill: Bill, generation: int, *, test: bool = True) -> Bill:
    """The part of ``bill`` after ``generation``: what a fork of it still asks when the
    journal answers every call through ``generation``; ``test``: with the test phase."""
    return bill.after(
        lambda p: (
            (p.generation is None and test)
            or (p.generation is not None and p.generation > generation)
        )
    )
