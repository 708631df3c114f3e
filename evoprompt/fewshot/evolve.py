"""How exemplar sets are drawn and evolved, every choice from the experiment's generator.

The strategies plan instructions as they always have; :func:`assign` then gives each plan its
child's exemplar set, drawn from the same generator right after the strategy's own draws and
before any call, so a resumed run draws exactly the sets an uninterrupted one did. GA crosses
over the parents' sets and mutates the result (add, drop or swap one exemplar, or none); DE's
trial set is the best prompt's set moved by the donors' difference, crossed over with the
individual's own. Any other operator mutates its first parent's set.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from evoprompt.fewshot.prompt import Exemplar, split

if TYPE_CHECKING:
    import numpy as np

    from evoprompt.strategies.base import Offspring

Exemplars = tuple[Exemplar, ...]
MUTATIONS = ("add", "drop", "swap", "none")


@dataclasses.dataclass(frozen=True)
class Shots:
    """At most ``k`` exemplars per prompt, drawn from ``pool`` (the train rows)."""

    k: int
    pool: tuple[Exemplar, ...]

    def draw(self, rng: np.random.Generator) -> Exemplars:
        """A generation-0 set: between 0 and K rows of the pool, in random order."""
        count = min(int(rng.integers(0, self.k + 1)), len(self.pool))
        return tuple(self.pool[int(i)] for i in rng.choice(len(self.pool), count, replace=False))

    def crossover(self, rng: np.random.Generator, a: Exemplars, b: Exemplars) -> Exemplars:
        """A set as large as one parent's, or between, taken from both (first parent first)."""
        merged = list(dict.fromkeys([*a, *b]))
        low, high = sorted((len(a), len(b)))
        size = min(int(rng.integers(low, high + 1)), len(merged), self.k)
        picked = sorted(int(i) for i in rng.choice(len(merged), size, replace=False))
        return tuple(merged[i] for i in picked)

    def mutate(self, rng: np.random.Generator, exemplars: Exemplars) -> Exemplars:
        """Add, drop or swap one exemplar, or leave the set as it is."""
        kind = MUTATIONS[int(rng.integers(len(MUTATIONS)))]
        rows = list(exemplars)
        unused = [e for e in self.pool if e not in exemplars]
        if kind == "add" and len(rows) < self.k and unused:
            rows.insert(int(rng.integers(len(rows) + 1)), unused[int(rng.integers(len(unused)))])
        elif kind == "drop" and rows:
            del rows[int(rng.integers(len(rows)))]
        elif kind == "swap" and rows and unused:
            rows[int(rng.integers(len(rows)))] = unused[int(rng.integers(len(unused)))]
        return tuple(rows)

    def difference(
        self,
        rng: np.random.Generator,
        base: Exemplars,
        d1: Exemplars,
        d2: Exemplars,
        best: Exemplars,
    ) -> Exemplars:
        """DE on sets: the best set gains what donor 1 has and donor 2 lacks and loses what
        donor 2 has and donor 1 lacks; the trial crosses that over with the individual's set."""
        gained = [e for e in d1 if e not in d2]
        lost = {e for e in d2 if e not in d1}
        moved = tuple(e for e in dict.fromkeys([*best, *gained]) if e not in lost)[: self.k]
        return self.crossover(rng, moved, base)


Step = Callable[[Shots, "np.random.Generator", Sequence[Exemplars]], Exemplars]
STEPS: dict[str, Step] = {
    "ga": lambda shots, rng, sets: shots.mutate(rng, shots.crossover(rng, sets[0], sets[1])),
    "de": lambda shots, rng, sets: shots.difference(rng, *sets[:4]),
}


def assign(plans: Sequence[Offspring], shots: Shots, rng: np.random.Generator) -> list[Offspring]:
    """Each plan with its child's exemplar set (in plan order: the draws' order is fixed)."""
    planned = []
    for plan in plans:
        sets = [split(parent)[1] for parent in plan.parents]
        step = STEPS.get(plan.operator)
        child = step(shots, rng, sets) if step else shots.mutate(rng, sets[0] if sets else ())
        planned.append(dataclasses.replace(plan, exemplars=child))
    return planned
