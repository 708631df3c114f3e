"""Hardest rows first: the tally of what prompts lost on each dev row, and the order children
are asked rows in against their bars."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from evoprompt.checkpoint.journal import Journal
from evoprompt.checkpoint.schema import RowTally
from evoprompt.data.loader import Dataset
from evoprompt.evaluation.evaluator import Evaluator, Score
from evoprompt.evaluation.scorers import GenerateScorer
from evoprompt.llm.client import LLMClient
from evoprompt.llm.limiter import AdaptiveLimiter
from evoprompt.llm.openai_http import OpenAIBackend
from evoprompt.llm.retry import RetryPolicy
from evoprompt.metrics.accuracy import Accuracy
from evoprompt.pruning.bars import Bar
from evoprompt.pruning.order import hardest_first
from evoprompt.testing.answers import builtin_truth
from evoprompt.testing.faults import Faults
from evoprompt.testing.server import FakeLLMServer

PROMPTS = ["Classify the review.", "Read it carefully.", "Decide like an expert, precisely."]
CHILD = "Classify the review, then say nothing else."


def dev(rows: int) -> Dataset:
    truth = builtin_truth()
    texts = [t for t, label in truth.items() if label in ("positive", "negative")][:rows]
    return Dataset(tuple(texts), tuple(truth[t] for t in texts), "dev")


def test_order_is_by_miss_rate_and_a_row_few_were_asked_starts_near_the_mean() -> None:
    tally = RowTally.empty(["a", "b", "c", "d"])
    tally.add((i, 1.0 if i == 0 else 0.0) for i in range(4))  # one prompt missed rows 1-3
    for _ in range(9):
        tally.add([(0, 1.0), (1, 1.0), (2, 1.0)])  # nine more got rows 0-2 right
    # row 1 and row 2: one miss in ten; row 3: one miss in one ask, pulled towards the mean;
    # row 0: never missed
    assert tally.asked == [10, 10, 10, 1]
    assert hardest_first(tally) == [3, 1, 2, 0]
    tally.add([(2, 0.0), (2, 0.0)])  # row 2 now missed three times in twelve
    assert hardest_first(tally) == [3, 2, 1, 0]
    assert hardest_first(RowTally.empty(["a", "b", "c"])) == [
        0,
        1,
        2,
    ]  # nothing known: ties by index


def test_every_judged_row_is_tallied_and_children_are_asked_the_hardest_first(
    tmp_path: Path,
) -> None:
    data = dev(40)

    async def nothing(*_: object) -> None:
        pass

    async def scenario(url: str) -> tuple[dict[str, Score], RowTally, list[int], RowTally]:
        journal = Journal(tmp_path / "journal.sqlite")
        backend = OpenAIBackend(url, "k", timeout=5.0, concurrency=1)
        client = LLMClient(
            backend, journal, policy=RetryPolicy(1, 0.01), limiter=AdaptiveLimiter(1)
        )
        metric = Accuracy(("positive", "negative"))
        evaluator = Evaluator(
            client, GenerateScorer("m"), metric, data, batch_size=8, concurrency=1
        )
        try:
            tally = RowTally.empty(data.texts)
            scores = await evaluator.evaluate(PROMPTS, {}, nothing, tally=tally)
            before = RowTally(tally.rows, list(tally.lost), list(tally.asked))
            order = hardest_first(tally)
            # A child that must be perfect to survive: pruned at its first miss.
            bars = {CHILD: Bar(1.0, ties=True)}
            await evaluator.evaluate([CHILD], {}, nothing, bars, tally=tally)
            return scores, before, order, tally
        finally:
            await client.aclose()

    with FakeLLMServer(faults=Faults(hard_rows=0.7)) as server:
        scores, before, order, after = asyncio.run(scenario(server.url))
        asked = server.counts["answered"]
    rows = len(data.texts)
    lost = [sum(1.0 - scores[p].judged[i].score for p in PROMPTS) for i in range(rows)]
    assert before.lost == pytest.approx(lost) and before.asked == [len(PROMPTS)] * rows
    assert order == sorted(range(rows), key=lambda i: (-lost[i], i))  # equal asks: by loss
    assert lost[order[0]] > lost[order[-1]]  # the order means something
    # The child went hardest first, one row at a time, until its first miss, and only the
    # rows it was asked were counted.
    child = [i for i in range(rows) if after.asked[i] > before.asked[i]]
    assert asked - len(PROMPTS) * rows == len(child) < rows
    assert sorted(child) == sorted(order[: len(child)])
    missed = [i for i in child if after.lost[i] > before.lost[i]]
    assert missed == [order[len(child) - 1]]
