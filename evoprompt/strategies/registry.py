"""Strategies by name: ``@register_strategy("ga")`` on a class is all it takes to add one.

The registry's keys are the valid values of the ``algorithm`` config key, and the operators of
the registered strategies (plus the initial population's paraphrases) are the built-in
templates a user templates file may override.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from evoprompt.strategies.base import Operator, Strategy
from evoprompt.strategies.paraphrase import PARAPHRASE, PARAPHRASE_AGAIN

StrategyClass = TypeVar("StrategyClass", bound=type[Strategy])

STRATEGIES: dict[str, type[Strategy]] = {}


class UnknownStrategyError(LookupError):
    """A strategy name nobody registered; the message names the known ones."""


def register_strategy(name: str) -> Callable[[StrategyClass], StrategyClass]:
    """Class decorator: make the strategy available as ``algorithm = name``."""

    def register(cls: StrategyClass) -> StrategyClass:
        if name in STRATEGIES:
            raise ValueError(f"strategy '{name}' is already registered")
        known = operators()
        for op in cls.operators:
            if op.name in known:
                raise ValueError(f"strategy '{name}': operator '{op.name}' already exists")
        STRATEGIES[name] = cls
        return cls

    return register


def make_strategy(name: str) -> Strategy:
    """A fresh instance of the strategy registered under ``name``."""
    try:
        return STRATEGIES[name]()
    except KeyError:
        raise UnknownStrategyError(
            f"unknown strategy '{name}'; known strategies: {', '.join(STRATEGIES)}"
        ) from None


def operators() -> dict[str, Operator]:
    """Every operator with built-in templates: the strategies' (in registration order), then
    the paraphrases that fill the initial population."""
    found = {op.name: op for cls in STRATEGIES.values() for op in cls.operators}
    for op in (PARAPHRASE, PARAPHRASE_AGAIN):
        found[op.name] = op
    return found
