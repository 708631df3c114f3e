"""A third strategy, defined here, needs only its own code and one registration to run."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np

from evoprompt.checkpoint.state import ExperimentState, Individual
from evoprompt.config import Config, validate
from evoprompt.llm.backends import settle
from evoprompt.runner.experiment import Experiment
from evoprompt.strategies.base import Offspring, Operator, ranked
from evoprompt.strategies.registry import register_strategy
from evoprompt.testing.server import FakeLLMServer

MUTATE = Operator(
    "toy_mutate",
    frozenset({"prompt"}),
    chat="TOY-MUTATE: reword this prompt, bracketed with <prompt> and </prompt>.\n"
    "Prompt 1: {prompt}\n",
    completion="TOY-MUTATE\nPrompt 1: {prompt}\nReworded: <prompt>",
)


def run_toy(tmp_path: Path, config: Config) -> ExperimentState:
    async def scenario() -> ExperimentState:
        experiment = Experiment(config, tmp_path / "toy", "sk-test")
        state = ExperimentState.new("toy", config.seed)
        try:
            return await experiment.build_engine(state).run()
        finally:
            await experiment.aclose()

    return asyncio.run(scenario())


def test_a_toy_strategy_runs_end_to_end(tmp_path: Path) -> None:
    @register_strategy("toy")
    class MutateEach:
        """Mutate every individual with the toy template; keep the best ``size``."""

        operators: ClassVar[tuple[Operator, ...]] = (MUTATE,)

        def plan(
            self, population: Sequence[Individual], rng: np.random.Generator, generation: int
        ) -> list[Offspring]:
            return [
                Offspring(MUTATE.name, {"prompt": ind.text}, (ind.text,), f"gen{generation}/m{i}")
                for i, ind in enumerate(population)
            ]

        def select(
            self,
            population: Sequence[Individual],
            plans: Sequence[Offspring],
            children: Sequence[Individual | None],
            size: int,
        ) -> list[Individual]:
            pool = {ind.text: ind for ind in [*children, *population] if ind is not None}
            return ranked(list(pool.values()))[:size]

    with FakeLLMServer() as server:
        config = Config(
            algorithm="toy",
            population_size=4,
            max_generations=2,
            dev_size=16,
            base_url=server.url,
            result_dir=str(tmp_path),
        )
        config = settle(validate(config), "sk-test").config
        state = run_toy(tmp_path, config)
        bodies = server.answered_bodies

    assert state.generation == 2
    assert [g.generation for g in state.generations] == [0, 1, 2]
    summary = json.loads((tmp_path / "toy" / "summary.json").read_text())
    assert summary["status"] == "finished" and len(summary["generations"]) == 3

    evolved = [ind for ind in state.scored.values() if ind.generation > 0]
    assert evolved and {ind.operator for ind in evolved} == {"toy_mutate"}
    for child in evolved:  # the endpoint answers "Prompt 1" plus one word
        (parent,) = child.parents
        assert child.text.startswith(parent + " ")
    toy_calls = sum(n for body, n in bodies.items() if "TOY-MUTATE" in body)
    assert toy_calls == config.population_size * config.max_generations
    assert not any("Cross over" in body or "Basic Prompt" in body for body in bodies)
