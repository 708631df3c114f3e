"""Exact pruning: stop scoring a prompt once even perfect answers on its remaining rows could
not lift it over the bar it must clear to survive selection.

The bound is the metric's fitness with every row not yet answered counted as a perfect 1.0.
It is exact, not a guess, for metrics whose fitness is the mean of per-example scores in
[0, 1] (``MeanMetric``'s): a pruned prompt's true fitness is at most its bound, so it would
have missed the bar too and selection is unchanged. Other metrics are never pruned. The
others' bars (``evoprompt.pruning.bars``) are handed each prompt's least fitness: what it
has earned so far while it is scored, its exact fitness once finished; it only rises, and so
do they.
"""

from __future__ import annotations

from collections.abc import Mapping

from evoprompt.metrics.base import Judged, MeanMetric, Metric
from evoprompt.pruning.bars import Hurdle

_SLACK = 1e-9  # the running mean is a filter only; the decision uses the metric's own figure


def prunable(metric: Metric) -> bool:
    """Whether the metric's fitness is the plain mean of its per-example scores."""
    return isinstance(metric, MeanMetric) and type(metric).fitness is MeanMetric.fitness


class Pruner:
    """Watches each prompt's answers and says when it can no longer clear its bar.

    ``judged`` holds every prompt's rows, ``pending`` (by identity) where none is answered
    yet; rows on the wire count as perfect until they land, so the bound only ever falls.
    ``finished`` holds the exact fitness of every prompt answered on all its rows. Against a
    bar, a prompt still being scored is a rival with the fitness it has already earned (its
    rows not answered counted as misses), so a sibling on its way to a high score raises the
    others' bars before it finishes.
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
        self._least: dict[str, float] = {}  # the fitness each prompt is sure to reach
        self._floors: dict[str, float] = {}
        self._stale = 0  # answers since the floors were last brought up to date
        for prompt in judged:
            self.add(prompt)

    def add(self, prompt: str) -> None:
        """Watch a prompt that joined (its rows in ``judged``, recovered ones filled in)."""
        self._count(prompt)
        if self._left[prompt] == 0:
            self._finish(prompt)
        elif prompt in self.bars:
            self._floors[prompt] = self.bars[prompt].floor(self._rivals(prompt))

    def rebar(self) -> list[str]:
        """The bars changed (more of the brood is known): prune whatever they now rule out,
        and revive each pruned prompt they no longer do (returned: its rows not asked must be
        asked after all). Rows answered after it was pruned are in ``judged`` already."""
        revived = []
        for prompt in list(self.pruned):
            bar = self.bars.get(prompt)
            if bar is None or bar.clears(self.bound(prompt), self._rivals(prompt)):
                self.pruned.discard(prompt)
                self._floors.pop(prompt, None)
                self._count(prompt)
                if self._left[prompt] == 0:
                    self._finish(prompt)
                revived.append(prompt)
        self._refresh()
        return revived

    def answered(self, prompt: str, score: float) -> None:
        """Account one answered row; prune the prompt once its bound misses its bar, and
        every so often re-check the others against the fitness their rivals have earned."""
        if prompt in self.pruned:
            return
        self._left[prompt] -= 1
        self._lost[prompt] += 1.0 - score
        if self._left[prompt] == 0:
            self._finish(prompt)
        elif self.bars:
            self._least[prompt] = self._earned(prompt)
            self._stale += 1
            if self._stale >= len(self._floors):  # O(prompts) work every `prompts` answers
                self._refresh()
            else:
                self._check(prompt)

    def _count(self, prompt: str) -> None:
        rows = self.judged[prompt]
        self._lost[prompt] = sum(1.0 - j.score for j in rows if j is not self.pending)
        self._left[prompt] = sum(j is self.pending for j in rows)
        self._least[prompt] = self._earned(prompt)

    def _earned(self, prompt: str) -> float:
        """At most the fitness the prompt ends with: the running tally's error is far below
        the slack taken off (a rival must be surely fitter to rank ahead)."""
        rows = len(self.judged[prompt])
        return (rows - self._left[prompt] - self._lost[prompt]) / rows - _SLACK

    def _rivals(self, prompt: str) -> dict[str, float]:
        return {t: f for t, f in self._least.items() if t != prompt}

    def _finish(self, prompt: str) -> None:
        self.finished[prompt] = self._least[prompt] = self.metric.fitness(
            [j.score for j in self.judged[prompt]]
        )
        if self.bars:
            self._refresh()

    def _check(self, prompt: str) -> None:
        bar = self.bars.get(prompt)
        if bar is None:
            return
        rough = 1.0 - self._lost[prompt] / len(self.judged[prompt])
        floor = self._floors.get(prompt, float("inf"))  # a bar that just came: check it
        if rough > floor + _SLACK or bar.clears(self.bound(prompt), self._rivals(prompt)):
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

    def rises(self, prompt: str) -> bool:
        """Whether the prompt's bar can still rise with its rivals' scores."""
        bar = self.bars.get(prompt)
        return bar is not None and bar.rises()

    def bound(self, prompt: str) -> float:
        """The best fitness the prompt can still reach."""
        rows = self.judged[prompt]
        return self.metric.fitness([1.0 if j is self.pending else j.score for j in rows])

    def _open(self, prompt: str) -> bool:
        return prompt in self._left and prompt not in self.finished and prompt not in self.pruned

    def _refresh(self) -> None:
        """Bring every open prompt's floor up to date (its rivals have earned more, or a bar
        replaced while the brood is bred moved it either way) and check it against its bar:
        one waiting its turn is pruned before it is asked another row."""
        self._stale = 0
        for prompt, bar in self.bars.items():
            if self._open(prompt):  # a prompt pruned here leaves the others' rivals as they are
                self._floors[prompt] = bar.floor(self._rivals(prompt))
                self._check(prompt)
