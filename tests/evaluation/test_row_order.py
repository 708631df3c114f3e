"""Hardest rows first: the order children are scored in against their bars, and how a resumed
run rebuilds it from the journal without sending anything."""

from __future__ import annotations

import asyncio
from pathlib import Path

from evoprompt.checkpoint.journal import Journal
from evoprompt.data.loader import Dataset
from evoprompt.evaluation.evaluator import Evaluator, Score
from evoprompt.evaluation.scorers import GenerateScorer
from evoprompt.llm.client import LLMClient
from evoprompt.llm.limiter import AdaptiveLimiter
from evoprompt.llm.openai_http import OpenAIBackend
from evoprompt.llm.retry import RetryPolicy
from evoprompt.metrics.accuracy import Accuracy
from evoprompt.testing.answers import builtin_truth
from evoprompt.testing.faults import Faults
from evoprompt.testing.server import FakeLLMServer

PROMPTS = ["Classify the review.", "Read it carefully.", "Decide like an expert, precisely."]


def dev(rows: int) -> Dataset:
    truth = builtin_truth()
    texts = [t for t, label in truth.items() if label in ("positive", "negative")][:rows]
    return Dataset(tuple(texts), tuple(truth[t] for t in texts), "dev")


def test_rows_the_population_lost_most_on_come_first_and_a_resume_reads_them_back_free(
    tmp_path: Path,
) -> None:
    data = dev(40)

    def evaluator(client: LLMClient, keep_rows: bool) -> Evaluator:
        metric = Accuracy(("positive", "negative"))
        scorer = GenerateScorer("m")
        return Evaluator(
            client, scorer, metric, data, batch_size=8, concurrency=4, keep_rows=keep_rows
        )

    async def nothing(*_: object) -> None:
        pass

    async def scenario(url: str) -> tuple[dict[str, Score], list[int], list[int], int, int]:
        journal = Journal(tmp_path / "journal.sqlite")
        backend = OpenAIBackend(url, "k", timeout=5.0, concurrency=4)
        client = LLMClient(
            backend, journal, policy=RetryPolicy(1, 0.01), limiter=AdaptiveLimiter(4)
        )
        try:
            scored = evaluator(client, keep_rows=True)
            scores = await scored.evaluate(PROMPTS, {}, nothing)
            order = await scored.hardest_first(PROMPTS)
            hits = journal.stats()["cache_hits"]
            # A resumed run's evaluator has scored nothing itself: the journal answers.
            again = await evaluator(client, keep_rows=False).hardest_first(PROMPTS)
            return scores, order, again, hits, journal.stats()["cache_hits"]
        finally:
            await client.aclose()

    with FakeLLMServer(faults=Faults(hard_rows=0.7)) as server:
        scores, order, again, hits_before, hits_after = asyncio.run(scenario(server.url))
        asked = server.counts["requests"]
    assert asked == len(PROMPTS) * len(data.texts)  # the read-back sent nothing
    assert hits_after == hits_before  # nor did it count as replaying paid answers
    lost = [sum(1.0 - scores[p].judged[i].score for p in PROMPTS) for i in range(len(data.texts))]
    assert order == sorted(range(len(lost)), key=lambda i: (-lost[i], i))
    assert lost[order[0]] > lost[order[-1]]  # the order means something
    assert again == order
