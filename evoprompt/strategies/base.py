"""What every evolution strategy provides, and the plan type the breeder turns into a child.

A strategy *plans* a generation (drawing every random choice up front, from the experiment's
generator, before any LLM call) and then *selects* survivors once children are scored. Keeping
the draws out of the asynchronous part makes the choices independent of answer timing, which is
what lets a resumed run repeat an uninterrupted one exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol

if TYPE_CHECKING:  # keeps `import evoprompt.config` (which reads the registry) cheap
    import numpy as np

    from evoprompt.checkpoint.state import Individual
    from evoprompt.pruning.bars import Hurdle


@dataclass(frozen=True)
class Operator:
    """One operator's built-in templates and the placeholders every template for it must use.

    ``chat`` follows EvoPrompt's step-by-step instructions with one worked example from a
    *different* task (so the model learns the format, not the answer); ``completion`` is a
    few-shot pattern a base model continues, ending with an open ``<prompt>`` tag.
    """

    name: str
    placeholders: frozenset[str]
    chat: str
    completion: str


@dataclass(frozen=True)
class Offspring:
    """One child to breed: which operator's template, filled how, and the prompts it descends from.

    ``site`` (``gen3/child2``) becomes part of the journal key of the call that breeds it.
    """

    operator: str
    values: dict[str, str]
    parents: tuple[str, ...]
    site: str


class Strategy(Protocol):
    """An evolution algorithm: its operators, how it plans children, how survivors are chosen.

    Its name is the one it is registered under (``evoprompt.strategies.registry``).

        ``select`` receives ``plans`` and ``children`` in the order ``plan`` returned them, a child
        being None when its operator replies held no usable prompt.

    Optional: ``min_population`` (a ClassVar, default 2), the fewest individuals it can work
    with; a population the paraphrases cannot fill goes on smaller, down to that. Every method
    must cope with a population smaller than ``size``.
    """

    operators: ClassVar[tuple[Operator, ...]]

    def plan(
        self, population: Sequence[Individual], rng: np.random.Generator, generation: int
    ) -> list[Offspring]: ...

    def select(
        self,
        population: Sequence[Individual],
        plans: Sequence[Offspring],
        children: Sequence[Individual | None],
        size: int,
    ) -> list[Individual]: ...

    def threshold(
        self,
        population: Sequence[Individual],
        plans: Sequence[Offspring],
        children: Sequence[str | None],
        size: int,
    ) -> Sequence[Hurdle | None]:
        """Per plan, the bar (``evoprompt.pruning.bars``) its child must clear to survive
        (None: no bar, score in full); ``children`` are the bred texts in plan order.

        Optional: a strategy without it has every child scored in full."""
        ...


def ranked(candidates: Sequence[Individual]) -> list[Individual]:
    """Best first; ties keep their order (parents before children), so ranking is stable."""
    return sorted(candidates, key=lambda ind: -ind.fitness)
