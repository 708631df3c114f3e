"""The engine's one handle on exact pruning: whether a run prunes, each generation's bars, and
the row tally that orders children's rows.

The engine asks :class:`Pruning` for a :class:`Brood` per generation (None: score in full),
tells the brood each time more children are bred, and hands it to the evaluator together with
:meth:`Pruning.tally`; everything else (the bound, the order rows are asked in) happens inside
the evaluation, behind :class:`~evoprompt.pruning.bound.Pruner` and
:class:`~evoprompt.pruning.order.BestFirst`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from evoprompt.checkpoint.schema.tally import RowTally, rows_key
from evoprompt.metrics.base import Metric
from evoprompt.pruning.bars import AnyOf, Hurdle
from evoprompt.pruning.bound import prunable

if TYPE_CHECKING:
    from evoprompt.checkpoint.state import Individual
    from evoprompt.strategies.base import Offspring


class Threshold(Protocol):
    """A strategy's bars (``Strategy.threshold``): per plan, the bar its child must clear."""

    def __call__(
        self,
        population: Sequence[Individual],
        plans: Sequence[Offspring],
        children: Sequence[str | None],
        size: int,
    ) -> Sequence[Hurdle | None]: ...


class Pruning:
    """Exact pruning for one run: on only where asked (``prune``) and where the metric's
    fitness is a plain mean (see :func:`~evoprompt.pruning.bound.prunable`); bars only where
    the strategy declares them (``threshold``; a strategy without one is scored in full)."""

    def __init__(
        self, *, prune: bool, metric: Metric, threshold: Threshold | None, size: int
    ) -> None:
        self.on = prune and prunable(metric)
        self._threshold = threshold
        self._size = size

    def brood(self, population: Sequence[Individual], plans: Sequence[Offspring]) -> Brood | None:
        """The bars of a generation's children, none bred yet (None: every child in full)."""
        if not self.on or self._threshold is None:
            return None
        return Brood(self._threshold, population, plans, self._size)

    def tally(self, kept: RowTally | None, rows: Sequence[str]) -> RowTally | None:
        """The tally to count this phase's rows into (None: pruning is off): ``kept`` (the
        state's), or a new one where it counts other rows (a fork on another dev set).
        Against bars the rows missed most go first, so a child that will miss its bar is
        pruned after fewer calls (the scores are the same in any order)."""
        if not self.on:
            return None
        if kept is not None and kept.rows == rows_key(rows):
            return kept
        return RowTally.empty(rows)


class Brood(Mapping[str, Hurdle]):
    """Per child bred so far, the bar it must clear to survive, as a live mapping the
    evaluator reads. Until the brood is in, :meth:`bred` replaces the bars: a bar rises as
    siblings bred by earlier plans come in (GA's ties), and falls where another plan breeds
    the same child (it survives by clearing any one of their bars); the evaluator then goes on
    scoring a child it had pruned. A child with no bar from one of its plans is scored in
    full."""

    def __init__(
        self,
        threshold: Threshold,
        population: Sequence[Individual],
        plans: Sequence[Offspring],
        size: int,
    ) -> None:
        self._threshold = threshold
        self._population = population
        self._plans = plans
        self._size = size
        self._bars: dict[str, Hurdle] = {}

    def bred(self, children: Sequence[str | None]) -> None:
        """The children bred so far, in plan order (None: not yet, or nothing usable)."""
        declared = self._threshold(self._population, self._plans, children, self._size)
        found: dict[str, list[Hurdle | None]] = {}
        for child, bar in zip(children, declared):
            if child is not None:
                found.setdefault(child, []).append(bar)
        bars: dict[str, Hurdle] = {}
        for text, given in found.items():
            real = [bar for bar in given if bar is not None]
            if len(real) == len(given):
                bars[text] = real[0] if len(real) == 1 else AnyOf(tuple(real))
        self._bars = bars

    def __getitem__(self, child: str) -> Hurdle:
        return self._bars[child]

    def __contains__(self, child: object) -> bool:
        return child in self._bars

    def __iter__(self) -> Iterator[str]:
        return iter(self._bars)

    def __len__(self) -> int:
        return len(self._bars)
