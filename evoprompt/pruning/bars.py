"""The bars a child must clear to survive selection, which exact pruning scores it against.

A bar answers two questions about a child whose fitness can be at most ``fitness``, given
``rivals``, the least fitness each other prompt of its brood can still end with (exact once it
has finished, its score so far while it is being scored): ``clears`` (could it still survive?)
and ``floor`` (a fitness above which it surely clears, a cheap filter asked on every answer).
A rival's least fitness only ever rises, so a bar only ever rises: a child it rules out stays
ruled out, which is what keeps pruning exact whatever the answer timing. While the brood is
still being bred a child's bar is replaced as replies arrive (a sibling bred earlier comes
in; another plan breeds the same child: :class:`~evoprompt.pruning.control.Brood`); the
evaluator then re-checks every child, and goes on scoring one the new bar no longer rules out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


class Hurdle(Protocol):
    def clears(self, fitness: float, rivals: Mapping[str, float]) -> bool: ...

    def floor(self, rivals: Mapping[str, float]) -> float: ...

    def rises(self) -> bool:
        """Whether rivals' scores can raise it (it is worth waiting for them)."""
        ...


@dataclass(frozen=True)
class Bar:
    """A fixed bar (DE's trial against the individual it would replace): at least ``value``
    when ``ties`` survive, else more than ``value``."""

    value: float
    ties: bool

    def cleared_by(self, fitness: float) -> bool:
        return fitness >= self.value if self.ties else fitness > self.value

    def clears(self, fitness: float, rivals: Mapping[str, float]) -> bool:
        return self.cleared_by(fitness)

    def floor(self, rivals: Mapping[str, float]) -> float:
        return self.value

    def rises(self) -> bool:
        return False


@dataclass(frozen=True)
class Seats:
    """A place among the best ``seats`` (GA's elitist survival): the child is out once
    ``seats`` rivals rank ahead of it. ``fixed`` are rivals known up front (the parents, which
    rank ahead on ties); a sibling ranks ahead when surely fitter, or surely at least as fit
    and ``before`` the child in plan order (the selection's stable ranking)."""

    seats: int
    fixed: tuple[float, ...]
    before: frozenset[str]

    def clears(self, fitness: float, rivals: Mapping[str, float]) -> bool:
        ahead = sum(f >= fitness for f in self.fixed)
        ahead += sum(f > fitness or (f == fitness and t in self.before) for t, f in rivals.items())
        return ahead < self.seats

    def floor(self, rivals: Mapping[str, float]) -> float:
        """The ``seats``-th best least fitness: above it, fewer than ``seats`` rank ahead."""
        known = sorted([*self.fixed, *rivals.values()], reverse=True)
        return known[self.seats - 1] if len(known) >= self.seats else float("-inf")

    def rises(self) -> bool:
        return True


@dataclass(frozen=True)
class AnyOf:
    """A prompt bred by several plans survives if it clears any one plan's bar."""

    bars: tuple[Hurdle, ...]

    def clears(self, fitness: float, rivals: Mapping[str, float]) -> bool:
        return any(bar.clears(fitness, rivals) for bar in self.bars)

    def floor(self, rivals: Mapping[str, float]) -> float:
        return min(bar.floor(rivals) for bar in self.bars)

    def rises(self) -> bool:
        return any(bar.rises() for bar in self.bars)
