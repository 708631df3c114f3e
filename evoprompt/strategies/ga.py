"""EvoPrompt's genetic algorithm: roulette-wheel parents, one crossover+mutation call per
child, elitist survival of the best distinct prompts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from evoprompt.pruning.bars import Seats
from evoprompt.strategies.base import Offspring, Operator, ranked
from evoprompt.strategies.registry import register_strategy
from evoprompt.strategies.selection import roulette

if TYPE_CHECKING:
    import numpy as np

    from evoprompt.checkpoint.state import Individual

_CHAT = """\
Please follow the instruction step-by-step to generate a better prompt.
1. Cross over the following prompts and generate a new prompt:
Prompt 1: Rewrite the input text into simpler text.
Prompt 2: Rewrite my complex sentence in simpler terms, but keep the meaning.
2. Mutate the prompt generated in Step 1 and generate a final prompt bracketed with <prompt> and </prompt>.

1. Crossover prompt: Rewrite the complex text into simpler text while keeping its meaning.
2. <prompt>Transform the provided text into simpler language, keeping its essential meaning.</prompt>

Please follow the instruction step-by-step to generate a better prompt.
1. Cross over the following prompts and generate a new prompt:
Prompt 1: {prompt1}
Prompt 2: {prompt2}
2. Mutate the prompt generated in Step 1 and generate a final prompt bracketed with <prompt> and </prompt>.
"""

_COMPLETION = """\
Two instructions are combined into one better instruction.

Instruction A: Summarize the article in one sentence.
Instruction B: Write a short headline that captures the main point of the story.
Combined: <prompt>Write one short sentence that captures the main point of the article.</prompt>

Instruction A: Translate the sentence into French.
Instruction B: Give the French version of the text and keep its tone.
Combined: <prompt>Translate the text into French, keeping its original tone.</prompt>

Instruction A: {prompt1}
Instruction B: {prompt2}
Combined: <prompt>"""

CROSSOVER = Operator("ga", frozenset({"prompt1", "prompt2"}), _CHAT, _COMPLETION)


@register_strategy("ga")
class GeneticAlgorithm:
    operators: ClassVar[tuple[Operator, ...]] = (CROSSOVER,)
    min_population: ClassVar[int] = 2  # a pair to cross over

    def plan(
        self, population: Sequence[Individual], rng: np.random.Generator, generation: int
    ) -> list[Offspring]:
        fitness = [ind.fitness for ind in population]
        plans = []
        for i in range(len(population)):
            a, b = roulette(rng, fitness)
            p1, p2 = population[a].text, population[b].text
            plans.append(
                Offspring(
                    CROSSOVER.name,
                    {"prompt1": p1, "prompt2": p2},
                    (p1, p2),
                    f"gen{generation}/child{i}",
                )
            )
        return plans

    def select(
        self,
        population: Sequence[Individual],
        plans: Sequence[Offspring],
        children: Sequence[Individual | None],
        size: int,
    ) -> list[Individual]:
        pool: dict[str, Individual] = {}
        for ind in [*population, *children]:
            if ind is not None and ind.text not in pool:
                pool[ind.text] = ind
        return ranked(list(pool.values()))[:size]

    def threshold(
        self,
        population: Sequence[Individual],
        plans: Sequence[Offspring],
        children: Sequence[str | None],
        size: int,
    ) -> list[Seats]:
        """A child survives only among the ``size`` best distinct prompts: the parents rank
        ahead of it on ties, and so does a sibling bred by an earlier plan (``select`` keeps
        the first of equal fitness), so each sibling, as it is answered, can raise its bar."""
        fixed = tuple(ind.fitness for ind in population)
        return [
            Seats(size, fixed, frozenset(t for t in children[:i] if t is not None and t != text))
            for i, text in enumerate(children)
        ]
