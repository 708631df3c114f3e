"""Exact pruning: stop scoring a prompt once even perfect answers on its remaining rows could
not lift it over the bar it must clear to survive selection.

The bound is the metric's fitness with every row not yet answered counted as a perfect 1.0.
It is exact, not a guess, for metrics whose fitness is the mean of per-example scores in
[0, 1] (``MeanMetric``'s): a pruned prompt's true fitness is at most its bound, so it would
have missed the bar too and selection is unchanged. Other metrics are never pruned. Each
prompt that finishes is handed to the others' bars (``evoprompt.strategies.bars``), which can
only rise with it.
"""

from __future__ import annotations

from collections.abc import Mapping

from evoprompt.metrics.base import Judged, MeanMetric, Metric
from evoprompt.strategies.bars import Hurdle

_SLACK = 1e-9  # the running mean is a filter only; the decision uses the metric's own figure


def prunable(metric: Metric) -> bool:
    """Whether the metric's fitness is the plain mean of its per-example scores."""
    return isinstance(metric, MeanMetric) and type(metric).fitness is MeanMetric.fitness


class Pruner:
    """Watches each prompt's answers and says when it can no longer clear its bar.

    ``judged`` holds every prompt's rows, ``pending`` (by identity) where none is answered
    yet; rows on the wire count as perfect until they land, so the bound only ever falls.
    ``finished`` holds the exact fitness of every prompt answered on all its rows.
    """

    def __init__(
        self,
        metric: Metric,
        bars: Mapping[str, Hurdle],
        judged: Mapping[str, list[Judged]],
        pending: Judged,
    ):
        self.metric = metric
        self.bars = bars if prunable(metric) else {}
        self.judged = judged
        self.pending = pending
        self.pruned: set[str] = set()
        self.finished: dict[str, float] = {}
        self._lost = {
            p: sum(1.0 - j.score for j in rows if j is not pending) for p, rows in judged.items()
        }
        self._left = {p: sum(j is pending for j in rows) for p, rows in judged.items()}
        for prompt, left in self._left.items():
            if left == 0 and self.bars:  # no bars, no use for a rival's fitness
                self.finished[prompt] = metric.fitness([j.score for j in judged[prompt]])
        self._floors: dict[str, float] = {}
        self._raise_floors()

    def answered(self, prompt: str, score: float) -> None:
        """Account one answered row; prune the prompt once its bound misses its bar."""
        if not self.bars or prompt in self.pruned:
            return
        self._left[prompt] -= 1
        self._lost[prompt] += 1.0 - score
        if self._left[prompt] == 0:
            self.finished[prompt] = self.metric.fitness([j.score for j in self.judged[prompt]])
            self._raise_floors()
            return
        bar = self.bars.get(prompt)
        if bar is None:
            return
        rough = 1.0 - self._lost[prompt] / len(self.judged[prompt])
        if rough > self._floors[prompt] + _SLACK or bar.clears(self.bound(prompt), self.finished):
            return
        self.pruned.add(prompt)

    def lost(self, prompt: str) -> float:
        """Score lost on the prompt's rows answered so far, recovered ones included (kept up
        to date only where there are bars to prune against)."""
        return self._lost[prompt]

    def waiting(self, prompt: str) -> int:
        """The prompt's rows not answered yet, those on the wire included (kept up to date
        only where there are bars to prune against)."""
        return self._left[prompt]

    def bound(self, prompt: str) -> float:
        """The best fitness the prompt can still reach."""
        rows = self.judged[prompt]
        return self.metric.fitness([1.0 if j is self.pending else j.score for j in rows])

    def _raise_floors(self) -> None:
        """Recompute each open prompt's floor: a sibling finishing can raise it."""
        for prompt, bar in self.bars.items():
            if prompt not in self.finished and prompt not in self.pruned:
                self._floors[prompt] = bar.floor(self.finished)
