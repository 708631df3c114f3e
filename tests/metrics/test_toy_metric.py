"""A metric defined here, with one registration, runs a whole experiment end to end."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from pathlib import Path

import pytest

from evoprompt.checkpoint.state import ExperimentState
from evoprompt.config import Config
from evoprompt.llm.backends import settle
from evoprompt.metrics import Example, Judged, MeanMetric, base, register_metric
from evoprompt.runner.experiment import Experiment
from evoprompt.testing.server import FakeLLMServer

WORDS = 3


def test_a_toy_metric_runs_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))  # keep the toy out of others

    @register_metric("terse")
    class Terse(MeanMetric):
        """1 for an answer of fewer than WORDS words: rewards brevity, knows nothing of labels."""

        binary = True

        def judge(self, output: str, example: Example) -> Judged:
            return Judged(output, output, float(len(output.split()) < WORDS))

    with FakeLLMServer() as server:
        config = Config(
            population_size=4,
            max_generations=2,
            dev_size=24,
            batch_size=10,
            prune=False,  # every prompt scored on every row: the test counts each one's scores
            retry_delay=0.01,
            backend="openai",
            base_url=server.url,
            result_dir=str(tmp_path),
        )
        config = settle(config, "sk-test").config

        async def scenario() -> ExperimentState:
            experiment = Experiment(config, tmp_path / "toy", "sk-test", metric="terse")
            experiment.write_config()
            engine = experiment.build_engine(ExperimentState.new("toy", config.seed))
            try:
                return await engine.run()
            finally:
                await experiment.aclose()

        state = asyncio.run(scenario())

    scores: dict[tuple[int, str], list[float]] = defaultdict(list)
    for path in sorted((tmp_path / "toy/checkpoints/batches").glob("gen*_batch*.json")):
        doc = json.loads(path.read_text())
        generation = int(path.name[3:].split("_")[0])
        for entry in doc["prompts"]:
            assert entry["scores"] == [float(len(o.split()) < WORDS) for o in entry["outputs"]]
            assert entry["predictions"] == entry["outputs"] and entry["analysis"] == {}
            scores[generation, entry["text"]] += entry["scores"]
    assert len(state.scored) == len(scores) > config.population_size
    for ind in state.scored.values():
        found = scores[ind.generation, ind.text]
        assert len(found) == config.dev_size
        assert ind.fitness == sum(found) / len(found)
    best = state.best()
    assert best is not None and 0 < min(i.fitness for i in state.scored.values()) < best.fitness
    summary = json.loads((tmp_path / "toy/summary.json").read_text())
    assert summary["status"] == "finished" and summary["best_fitness"] == best.fitness
