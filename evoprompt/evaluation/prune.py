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
        self._lost: dict[str, float] = {}
        self._left: dict[str, int] = {}
        self._floors: dict[str, float] = {}
        for prompt in judged:
            self.add(prompt)

    def add(self, prompt: str) -> None:
        """Watch a prompt that joined (its rows in ``judged``, recovered ones filled in)."""
        rows = self.judged[prompt]
        self._lost[prompt] = sum(1.0 - j.score for j in rows if j is not self.pending)
        self._left[prompt] = sum(j is self.pending for j in rows)
        if self._left[prompt] == 0:
            self._finish(prompt)
        elif prompt in self.bars:
            self._floors[prompt] = self.bars[prompt].floor(self.finished)

    def rebar(self) -> list[str]:
        """The bars changed (more of the brood is known): prune whatever they now rule out,
        and revive each pruned prompt they no longer do (returned: its rows not asked must be
        asked after all). Rows answered after it was pruned are in ``judged`` already."""
        revived = []
        for prompt in list(self.pruned):
            bar = self.bars.get(prompt)
            if bar is None or bar.clears(self.bound(prompt), self.finished):
                self.pruned.discard(prompt)
                self._floors.pop(prompt, None)
                rows = self.judged[prompt]
                self._lost[prompt] = sum(1.0 - j.score for j in rows if j is not self.pending)
                self._left[prompt] = sum(j is self.pending for j in rows)
                if self._left[prompt] == 0:
                    self._finish(prompt)
                revived.append(prompt)
        self._update_floors()
        for prompt in list(self._floors):
            if prompt not in self.pruned and prompt not in self.finished:
                self._check(prompt)
        return revived

    def answered(self, prompt: str, score: float) -> None:
        """Account one answered row; prune the prompt once its bound misses its bar."""
        if prompt in self.pruned:
            return
        self._left[prompt] -= 1
        self._lost[prompt] += 1.0 - score
        if self._left[prompt] == 0:
            self._finish(prompt)
        elif self.bars:
            self._check(prompt)

    def _finish(self, prompt: str) -> None:
        self.finished[prompt] = self.metric.fitness([j.score for j in self.judged[prompt]])
        if self.bars:
            self._update_floors()

    def _check(self, prompt: str) -> None:
        bar = self.bars.get(prompt)
        if bar is None:
            return
        rough = 1.0 - self._lost[prompt] / len(self.judged[prompt])
        floor = self._floors.get(prompt, float("inf"))  # a bar that just came: check it
        if rough > floor + _SLACK or bar.clears(self.bound(prompt), self.finished):
            return
        self.pruned.add(prompt)

    def lost(self, prompt: str) -> float:
        """Score lost on the prompt's rows answered so far, recovered ones included."""
        return self._lost[prompt]

    def waiting(self, prompt: str) -> int:
        """The prompt's rows not answered yet, those on the wire included."""
        return self._left[prompt]

    def leeway(self, prompt: str) -> float:
        """Score the prompt can still lose before its bound could fall below its bar's floor
        (infinite without a bar): more of its rows than this on the wire at once, and some
        may be answered after it is pruned, paid for nothing."""
        floor = self._floors.get(prompt)
        if floor is None or prompt not in self.bars:
            return float("inf")
        return len(self.judged[prompt]) * (1.0 - floor) - self._lost[prompt]

    def bound(self, prompt: str) -> float:
        """The best fitness the prompt can still reach."""
        rows = self.judged[prompt]
        return self.metric.fitness([1.0 if j is self.pending else j.score for j in rows])

    def _update_floors(self) -> None:
        """Recompute each open prompt's floor: a sibling finishing raises it, a bar replaced
        while the brood is bred may move it either way."""
        for prompt, bar in self.bars.items():
            if prompt in self._left and prompt not in self.finished and prompt not in self.pruned:
                self._floors[prompt] = bar.floor(self.finished)
