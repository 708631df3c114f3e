"""The engine's handle on pruning: when a run prunes, each generation's bars as its children
are bred, and the row tally it keeps."""

from __future__ import annotations

from collections.abc import Sequence

from evoprompt.checkpoint.schema.tally import RowTally
from evoprompt.checkpoint.state import Individual
from evoprompt.metrics.accuracy import Accuracy
from evoprompt.metrics.base import Example, Judged, MeanMetric
from evoprompt.pruning.bars import AnyOf, Bar, Hurdle
from evoprompt.pruning.control import Pruning
from evoprompt.strategies.base import Offspring

PARENTS = [Individual("p", 0.5, 0)]


def threshold(
    population: Sequence[Individual],
    plans: Sequence[Offspring],
    children: Sequence[str | None],
    size: int,
) -> list[Hurdle | None]:
    """Plan k's child must reach k / 10; plan 3 declares no bar."""
    return [None if k == 3 else Bar(k / 10, ties=True) for k in range(len(children))]


def pruning(prune: bool = True, metric: MeanMetric | None = None) -> Pruning:
    return Pruning(prune=prune, metric=metric or Accuracy(("a", "b")), threshold=threshold, size=4)


class Median(MeanMetric):
    """Not a plain mean: the bound says nothing about it."""

    def judge(self, output: str, example: Example) -> Judged:
        return Judged(output, output, 1.0)

    def fitness(self, scores: Sequence[float]) -> float:
        return sorted(scores)[len(scores) // 2]


def test_bars_follow_the_children_bred_and_a_child_bred_twice_clears_either_bar() -> None:
    plans: list[Offspring] = []
    brood = pruning().brood(PARENTS, plans)
    assert brood is not None and dict(brood) == {}
    brood.bred(["x", None, None, None])
    assert dict(brood) == {"x": Bar(0.0, ties=True)}
    brood.bred(["x", "y", "x", None])  # another plan bred x too: either bar will do
    assert dict(brood) == {
        "x": AnyOf((Bar(0.0, ties=True), Bar(0.2, ties=True))),
        "y": Bar(0.1, ties=True),
    }
    brood.bred(["x", "y", "x", "y"])  # plan 3 has no bar: y is scored in full
    assert "y" not in brood and "x" in brood and len(brood) == 1


def test_no_bars_without_prune_a_plain_mean_or_a_strategy_that_declares_them() -> None:
    assert pruning(prune=False).brood(PARENTS, []) is None
    assert pruning(metric=Median()).brood(PARENTS, []) is None
    bare = Pruning(prune=True, metric=Accuracy(("a", "b")), threshold=None, size=4)
    assert bare.brood(PARENTS, []) is None
    assert bare.tally(None, ["r"]) is not None  # rows are still tallied for later children


def test_the_tally_goes_on_for_the_same_rows_and_starts_over_for_others() -> None:
    kept = RowTally.empty(["a", "b"])
    kept.add([(0, 0.0)])
    assert pruning().tally(kept, ["a", "b"]) is kept
    fresh = pruning().tally(kept, ["a", "c"])  # a fork on another dev set
    assert fresh is not None and fresh.asked == [0, 0] and kept.asked == [1, 0]
    assert pruning(prune=False).tally(kept, ["a", "b"]) is None
