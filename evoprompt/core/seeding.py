"""The initial population's prompts: the seed prompts, topped up with the model's paraphrases.

Kept apart from the loop because it is the one place where the model may not give what is
asked (too few distinct paraphrases), so it re-asks, differently, and decides whether the run
can go on with fewer prompts.
"""

from __future__ import annotations

from evoprompt._async import gather_or_cancel
from evoprompt.config import Config
from evoprompt.display import Display
from evoprompt.evolution.operators import Breeder
from evoprompt.strategies.base import Offspring, Strategy
from evoprompt.strategies.paraphrase import paraphrase, paraphrase_again

# Rounds of asks per missing initial prompt: the first SAME_ROUNDS as every earlier version
# asked them (their journaled answers stay valid), the rest listing the prompts already found.
PARAPHRASE_ROUNDS, SAME_ROUNDS = 4, 2


class PopulationError(RuntimeError):
    """Even after re-asking, too few distinct initial prompts for the strategy to work with."""


class Seeding:
    def __init__(self, config: Config, breeder: Breeder, strategy: Strategy, display: Display):
        self.config = config
        self.breeder = breeder
        self.strategy = strategy
        self.display = display

    async def prompts(self) -> dict[str, Offspring | None]:
        """The initial prompts, each with the plan that paraphrased it (None: a seed prompt)."""
        size = self.config.population_size
        texts = list(dict.fromkeys(" ".join(p.split()) for p in self.config.seed_prompts))[:size]
        origin: dict[str, Offspring | None] = dict.fromkeys(texts)
        slots = list(range(size - len(texts)))
        if slots:
            self.display.phase("gen 0: paraphrasing seed prompts", len(slots))
            seeds = list(texts)
            for round_ in range(SAME_ROUNDS):
                plans = [paraphrase(seeds[i % len(seeds)], f"init/para{i}") for i in slots]
                found = await gather_or_cancel(
                    [self.breeder.breed(plan, round_ * self.breeder.tries) for plan in plans]
                )
                slots = [i for i, p, c in zip(slots, plans, found) if not self._add(c, p, origin)]
            await self._reask(slots, origin)
        if len(origin) < size:
            self._shrink(len(origin), size)
        return origin

    def _add(self, child: str | None, plan: Offspring, origin: dict[str, Offspring | None]) -> bool:
        """Add a new distinct prompt to the initial population (False: none or a repeat)."""
        if child is None or child in origin:
            return False
        origin[child] = plan
        self.display.advance()
        return True

    async def _reask(self, slots: list[int], origin: dict[str, Offspring | None]) -> None:
        """Re-ask the empty slots one at a time, each request listing every prompt found so far
        and rewording a different one, so a model deaf to the sampling seed (which repeats its
        answer to the same words) is asked something new."""
        asked = 0
        for round_ in range(SAME_ROUNDS, PARAPHRASE_ROUNDS):
            left = []
            for i in slots:
                texts = list(origin)
                plan = paraphrase_again(texts[asked % len(texts)], texts, f"init/para{i}")
                asked += 1
                child = await self.breeder.breed(plan, first_try=round_ * self.breeder.tries)
                if not self._add(child, plan, origin):
                    left.append(i)
            slots = left

    def _shrink(self, found: int, size: int) -> None:
        """Go on with the distinct prompts found, or stop when the strategy cannot use so few."""
        least = getattr(self.strategy, "min_population", 2)
        algorithm = self.config.algorithm.upper()
        if found < least:
            raise PopulationError(
                f"too few distinct initial prompts: the seed prompts and the model's paraphrases "
                f"of them make {found}, and {algorithm} needs at least {least}; resuming would "
                "get the same answers: start a new experiment with more distinct seed_prompts "
                "or another model"
            )
        self.display.line(
            f"warning: the model gave too few distinct paraphrases of the seed prompts: going "
            f"on with a population of {found} instead of {size}"
        )
