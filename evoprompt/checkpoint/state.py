"""The experiment's full state: what ``state.pkl`` holds and what a resume restores.

The numpy generator's bit-generator state lives here (a plain dict), so a resumed run draws
exactly the parents and donors an uninterrupted run would; the row tally lives here too, so it
asks children their rows in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evoprompt.checkpoint.schema import GenerationRow, PopulationRow, RowTally, TestReport
from evoprompt.checkpoint.schema.tally import is_sound as sound_tally


@dataclass(frozen=True)
class Individual:
    """One scored prompt and where it came from."""

    text: str
    fitness: float
    generation: int
    parents: tuple[str, ...] = ()
    operator: str = "seed"
    analysis: dict[str, Any] = field(default_factory=dict)  # the metric's figures for it
    pruned: bool = False  # scoring stopped early: ``fitness`` is an upper bound, below its bar

    def row(self) -> PopulationRow:
        """How population.jsonl (and the reports) record this prompt."""
        return PopulationRow(
            self.text,
            self.fitness,
            self.generation,
            self.parents,
            self.operator,
            dict(self.analysis),
            self.pruned,
        )


@dataclass
class ExperimentState:
    experiment_id: str
    rng_state: dict[str, Any]
    population: list[Individual] = field(default_factory=list)
    scored: dict[str, Individual] = field(default_factory=dict)
    generations: list[GenerationRow] = field(default_factory=list)
    generation: int = -1  # last completed generation; -1 before the initial population
    tests: list[TestReport] = field(default_factory=list)  # held-out test phases, in order
    # per dev row, what prompts lost on it so far (None: pruning is off or has not started):
    # the order children are asked rows in against their bars
    row_tally: RowTally | None = None

    def __setstate__(self, saved: dict[str, Any]) -> None:
        """A state.pkl written before held-out tests or the row tally existed loads with none."""
        self.__dict__.update({"tests": [], "row_tally": None, **saved})

    @classmethod
    def new(cls, experiment_id: str, seed: int) -> ExperimentState:
        return cls(experiment_id, dict(np.random.default_rng(seed).bit_generator.state))

    def rng(self) -> np.random.Generator:
        """A generator positioned exactly where the last completed generation left it."""
        generator = np.random.default_rng()
        generator.bit_generator.state = self.rng_state
        return generator

    def is_sound(self) -> bool:
        """The shape a loaded state.pkl must have (the allow-listed unpickler checks only
        which types it holds, not where)."""
        return (
            isinstance(self.experiment_id, str)
            and isinstance(self.rng_state, dict)
            and isinstance(self.generation, int)
            and isinstance(self.population, list)
            and all(isinstance(ind, Individual) for ind in self.population)
            and isinstance(self.scored, dict)
            and all(isinstance(ind, Individual) for ind in self.scored.values())
            and isinstance(self.generations, list)
            and all(isinstance(row, GenerationRow) for row in self.generations)
            and (self.generation < 0 or bool(self.population))
            and (self.row_tally is None or sound_tally(self.row_tally))
        )

    def best(self) -> Individual | None:
        return max(self.population, key=lambda ind: ind.fitness, default=None)
