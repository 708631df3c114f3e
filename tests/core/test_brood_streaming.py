"""Children are scored as their operator replies arrive, not after the slowest one, and the
result is that of a run whose replies all arrive together (pruned or not)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from evoprompt.checkpoint.layout import Layout
from evoprompt.runner.session import Session
from evoprompt.testing.server import FakeLLMServer, Faults
from tests.conftest import outcome
from tests.core.test_prune import config_for

REALISTIC = dict(worse_children=0.5, skill=0.3, hard_rows=0.6)  # children pruned often


def run(
    tmp: Path, name: str, faults: Faults, **settings: Any
) -> tuple[dict[str, Any], list[tuple[float, str]]]:
    """(summary.json, the endpoint's answers as (time, kind)) of one whole in-process run."""
    with FakeLLMServer(faults=faults) as server:
        config = config_for(server.url, tmp, **settings)
        with Session(config, tmp / name, "sk-test", resuming=False) as session:
            result = asyncio.run(session.run(session.open()))
        answered = list(server.answered_at)
    assert result.kind == "finished"
    return json.loads(Layout(tmp / name).summary.read_text()), answered


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["ga", "de"])
def test_children_are_scored_while_their_siblings_are_still_being_bred(
    tmp_path: Path, algorithm: str
) -> None:
    settings = dict(algorithm=algorithm, seed=7, population_size=6, max_generations=1)
    slow = Faults(operator_spread=1.5, **REALISTIC)
    spread, answers = run(tmp_path, "spread", slow, prune=True, **settings)
    scoring = min(t for t, kind in answers if kind == "classify")  # after the seed paraphrases
    bred = [t for t, kind in answers if kind == "evolve" and t > scoring]
    assert len(bred) == 6 and max(bred) - min(bred) > 0.5  # the brood arrived over a second
    meanwhile = [t for t, kind in answers if kind == "classify" and min(bred) < t < max(bred)]
    assert len(meanwhile) > 0, "no child was scored before the slowest operator reply"
    # the same result as replies arriving together, and as full scoring: a child's bar may
    # change while the brood arrives, and the last bars decide
    together, _ = run(tmp_path, "together", Faults(**REALISTIC), prune=True, **settings)
    full, _ = run(tmp_path, "full", slow, prune=False, **settings)
    assert outcome(spread) == outcome(together) == outcome(full)
    # Children were pruned, so the identity covers pruning. Where the brood arrives together:
    # with replies spread, a fast runner may score a GA child in full before the siblings
    # that raise its bar exist (docs/pruning.md: its price while the brood arrives).
    pruned = Layout(tmp_path / "together").population.read_text().count('"pruned": true')
    assert pruned > 0, "the realistic endpoint's weaker children are pruned"
