"""EvoPrompt's differential evolution: per individual, two random donors' differences and the
best prompt make a trial prompt, which replaces the individual if it scores at least as well.

Plan ``i`` is individual ``i``'s trial: ``select`` pairs them by position.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from evoprompt.pruning.bars import Bar
from evoprompt.strategies.base import Offspring, Operator, ranked
from evoprompt.strategies.registry import register_strategy
from evoprompt.strategies.selection import distinct_others

if TYPE_CHECKING:
    import numpy as np

    from evoprompt.checkpoint.state import Individual

_CHAT = """\
Please follow the instruction step-by-step to generate a better prompt.
1. Look at the parts in which Prompt 1 and Prompt 2 differ:
Prompt 1: Summarize the article in one sentence.
Prompt 2: Write a short headline for the news story.
Different parts: "Summarize the article in one sentence" vs "Write a short headline for the news story"
2. Randomly mutate the different parts.
3. Combine the mutated parts with Prompt 3, replacing some of its words, to make a new prompt.
Prompt 3: Give a one-sentence summary of the main event in the article.
4. Cross over the prompt from Step 3 with the basic prompt below and write the final prompt bracketed with <prompt> and </prompt>.
Basic Prompt: Summarize the text.

1. Different parts: "Summarize ... in one sentence" vs "Write a short headline".
2. Mutated parts: "Condense ... into one line", "craft a brief title".
3. New prompt: Condense the main event of the article into one brief line.
4. <prompt>Condense the text into one brief sentence that states its main event.</prompt>

Please follow the instruction step-by-step to generate a better prompt.
1. Look at the parts in which Prompt 1 and Prompt 2 differ:
Prompt 1: {donor1}
Prompt 2: {donor2}
Different parts: {differences}
2. Randomly mutate the different parts.
3. Combine the mutated parts with Prompt 3, replacing some of its words, to make a new prompt.
Prompt 3: {best}
4. Cross over the prompt from Step 3 with the basic prompt below and write the final prompt bracketed with <prompt> and </prompt>.
Basic Prompt: {base}
"""

_COMPLETION = """\
An instruction is improved by borrowing the words in which two other instructions differ.

Differences: "one sentence" vs "a short headline"
Best: Summarize the main event of the article.
Current: Summarize the text.
Improved: <prompt>Summarize the main event of the text in one short sentence.</prompt>

Differences: "formal" vs "polite and clear"
Best: Translate the email into Spanish.
Current: Translate into Spanish.
Improved: <prompt>Translate the email into clear, polite Spanish.</prompt>

Differences: {differences}
Best: {best}
Current: {base}
Improved: <prompt>"""

TRIAL = Operator(
    "de", frozenset({"donor1", "donor2", "differences", "best", "base"}), _CHAT, _COMPLETION
)


@register_strategy("de")
class DifferentialEvolution:
    operators: ClassVar[tuple[Operator, ...]] = (TRIAL,)
    min_population: ClassVar[int] = 3  # two donors besides the individual

    def plan(
        self, population: Sequence[Individual], rng: np.random.Generator, generation: int
    ) -> list[Offspring]:
        best = ranked(population)[0].text
        plans = []
        for i, ind in enumerate(population):
            b, c = distinct_others(rng, len(population), i)
            d1, d2 = population[b].text, population[c].text
            values = {
                "donor1": d1,
                "donor2": d2,
                "differences": differing_parts(d1, d2),
                "best": best,
                "base": ind.text,
            }
            plans.append(
                Offspring(TRIAL.name, values, (ind.text, d1, d2, best), f"gen{generation}/child{i}")
            )
        return plans

    def select(
        self,
        population: Sequence[Individual],
        plans: Sequence[Offspring],
        children: Sequence[Individual | None],
        size: int,
    ) -> list[Individual]:
        survivors = list(population)
        for slot, trial in enumerate(children):
            if trial is not None:
                survivors[slot] = replace_if_not_worse(survivors[slot], trial)
        return survivors

    def threshold(
        self,
        population: Sequence[Individual],
        plans: Sequence[Offspring],
        children: Sequence[str | None],
        size: int,
    ) -> list[Bar | None]:
        """Trial ``i`` survives only by scoring at least as well as individual ``i``."""
        return [Bar(population[i].fitness, ties=True) for i in range(len(plans))]


def replace_if_not_worse(current: Individual, trial: Individual) -> Individual:
    return trial if trial.fitness >= current.fitness else current


def differing_parts(a: str, b: str) -> str:
    """The word runs in which two prompts differ, shown to the DE operator."""
    left, right = a.split(), b.split()
    pairs = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=left, b=right).get_opcodes():
        if tag != "equal":
            pairs.append(f'"{" ".join(left[i1:i2])}" vs "{" ".join(right[j1:j2])}"')
    return "; ".join(pairs) if pairs else "none (the prompts are identical)"
