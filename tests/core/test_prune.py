"""Exact pruning: the same selection, best prompt and generation figures as full scoring, for
fewer calls; pruned prompts are marked, and batch files hold only fully scored prompts."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from evoprompt.checkpoint.layout import Layout
from evoprompt.config import Config
from evoprompt.llm.backends import settle
from evoprompt.runner.session import Session
from evoprompt.testing.server import FakeLLMServer, Faults
from tests.conftest import outcome


def config_for(url: str, tmp: Path, **settings: Any) -> Config:
    """A small, fast run's config against the test endpoint at ``url``."""
    config = Config(
        base_url=url,
        result_dir=str(tmp),
        dev_size=48,
        batch_size=8,
        concurrency=8,
        retry_delay=0.01,
        **settings,
    )
    config = settle(config, "sk-test").config
    return config


def run(
    tmp: Path, name: str, *, prune: bool, faults: Faults | None = None, **settings: Any
) -> tuple[dict[str, Any], int]:
    """(summary.json, requests the endpoint answered) of one whole in-process run."""
    with FakeLLMServer(faults=faults or Faults()) as server:
        config = config_for(server.url, tmp, prune=prune, **settings)
        with Session(config, tmp / name, "sk-test", resuming=False) as session:
            result = asyncio.run(session.run(session.open()))
        answered = server.counts["answered"]
    assert result.kind == "finished"
    return json.loads(Layout(tmp / name).summary.read_text()), answered


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["ga", "de"])
def test_pruning_changes_nothing_but_the_calls(tmp_path: Path, algorithm: str) -> None:
    saved = []
    for seed in (1, 7, 11):
        settings = dict(algorithm=algorithm, seed=seed, population_size=6, max_generations=3)
        full, full_calls = run(tmp_path, f"{algorithm}{seed}full", prune=False, **settings)
        pruned, pruned_calls = run(tmp_path, f"{algorithm}{seed}pruned", prune=True, **settings)
        assert outcome(pruned) == outcome(full)
        assert pruned_calls <= full_calls
        saved.append(full_calls - pruned_calls)
        rows = Layout(tmp_path / f"{algorithm}{seed}pruned").population.read_text().splitlines()
        marked = [json.loads(r) for r in rows if '"pruned"' in r]
        assert all(r["pruned"] and r["bound"] == r["fitness"] for r in marked)
    assert sum(saved) > 0, "the test endpoint's weaker children are pruned"
    print(f"{algorithm}: calls saved per seed {saved}")


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["ga", "de"])
@pytest.mark.parametrize(
    "faults",
    [Faults(worse_children=0.5), Faults(worse_children=0.5, skill=0.3, hard_rows=0.6)],
    ids=["worse", "worse-hard-rows"],
)
def test_pruning_is_exact_when_children_are_worse(
    tmp_path: Path, algorithm: str, faults: Faults
) -> None:
    """On an endpoint whose children sometimes lose a parent's magic word (as a real model's
    are sometimes worse), and whose prompts miss the same hard rows (so children are scored
    hardest rows first, and pruned on fewer rows), the summary is still that of full scoring,
    for fewer calls."""
    saved = []
    for seed in (3, 5):
        settings = dict(algorithm=algorithm, seed=seed, population_size=6, max_generations=3)
        full, full_calls = run(tmp_path, f"w{seed}full", prune=False, faults=faults, **settings)
        pruned, pruned_calls = run(
            tmp_path, f"w{seed}pruned", prune=True, faults=faults, **settings
        )
        assert outcome(pruned) == outcome(full)
        saved.append(full_calls - pruned_calls)
    assert min(saved) >= 0 and sum(saved) > 0
    print(f"{algorithm} (worse children): calls saved per seed {saved}")


def test_the_row_tally_is_kept_in_the_state_and_an_extended_run_goes_on_from_it(
    tmp_path: Path,
) -> None:
    """The order children are asked rows in comes from every row judged so far; it is saved
    with each generation, so a resumed (here: extended) run adds to it instead of starting
    over."""
    exp = tmp_path / "exp"
    with FakeLLMServer(faults=Faults(worse_children=0.5, hard_rows=0.5)) as server:
        settings: dict[str, Any] = dict(test_size=0, population_size=6)
        first = config_for(server.url, tmp_path, max_generations=1, **settings)
        with Session(first, exp, "sk-test", resuming=False) as session:
            assert asyncio.run(session.run(session.open())).kind == "finished"
        judged = server.counts["answered_classify"]
        more = config_for(server.url, tmp_path, max_generations=2, **settings)
        with Session(more, exp, "sk-test", resuming=True) as session:
            state = session.open()
            saved = state.row_tally
            assert saved is not None and sum(saved.asked) == judged  # every row judged so far
            before = list(saved.asked)
            assert asyncio.run(session.run(state)).kind == "finished"
        judged_now = server.counts["answered_classify"] - judged
    after = state.row_tally
    assert after is not None and judged_now > 0
    assert sum(after.asked) - sum(before) == judged_now  # gone on from the saved tally
    assert all(a >= b for a, b in zip(after.asked, before))
