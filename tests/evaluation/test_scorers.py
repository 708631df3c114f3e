"""The log-likelihood scorer: calibration arithmetic, and one baseline call per prompt."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from evoprompt.checkpoint.journal import Journal
from evoprompt.data.loader import load_dataset
from evoprompt.evaluation.scorers import (
    CONTENT_FREE,
    GenerateScorer,
    LoglikScorer,
    calibrated_choice,
    query_text,
)
from evoprompt.llm.client import LLMClient
from evoprompt.llm.limiter import AdaptiveLimiter
from evoprompt.llm.openai_http import OpenAIBackend
from evoprompt.llm.retry import RetryPolicy
from evoprompt.testing.server import FakeLLMServer, Faults

LABELS = ("negative", "positive")
GOOD = "Read carefully like an expert: weigh the evidence and context precisely and thorough."
PLAIN = "Label it."


def test_calibration_picks_the_largest_lift_not_the_raw_argmax() -> None:
    # Raw argmax: positive (-1.0). Lift over the baseline: negative +1.5, positive +0.2.
    assert calibrated_choice([-2.0, -1.0], [-3.5, -1.2], LABELS) == "negative"
    # Same scores, a baseline that favours negative: the raw winner also wins calibrated.
    assert calibrated_choice([-2.0, -1.0], [-1.0, -3.0], LABELS) == "positive"


def test_calibration_arithmetic_with_three_labels() -> None:
    labels = ("a", "b", "c")
    scores = [-0.1, -0.5, -4.0]  # raw argmax: a
    baseline = [-0.05, -0.6, -9.0]  # lifts: -0.05, 0.1, 5.0
    assert calibrated_choice(scores, baseline, labels) == "c"
    assert calibrated_choice(scores, [0.0, 0.0, 0.0], labels) == "a"  # flat baseline = raw
    assert calibrated_choice([-1.0, -1.0, -2.0], [0.0, 0.0, 0.0], labels) == "a"  # tie: first


def test_requests_carry_the_query_and_label_continuations() -> None:
    request = LoglikScorer("m", LABELS).request("Decide.", "great film")
    assert request.kind == "loglik" and request.model == "m"
    assert (
        request.prompt
        == query_text("Decide.", "great film")
        == ("Decide.\n\nInput: great film\nAnswer:")
    )
    assert request.continuations == (" negative", " positive")
    chat = GenerateScorer("m", "Possible answers: negative, positive.").request("Decide.", "x")
    assert chat.messages[0][1] == query_text("Decide.\nPossible answers: negative, positive.", "x")
    assert chat.temperature == 0.0
    assert GenerateScorer("m").request("Decide.", "x").messages[0][1] == query_text("Decide.", "x")


def expected(server: FakeLLMServer, instruction: str, text: str) -> str:
    """What calibration must pick given the test server's deterministic rule.

    The server gives the label its classifier would answer a log-probability of -0.5, other
    labels -3.0, and every label -2.0 after the content-free input; a non-answer ("I cannot
    tell") leaves all lifts equal, so the first label wins.
    """
    answer = server.answers.classify(instruction, text, list(LABELS)).rstrip(".").lower()
    return next((label for label in LABELS if answer.endswith(label)), LABELS[0])


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(faults=Faults(latency=0.02)) as running:
        yield running


async def score_all(
    url: str, scorer: LoglikScorer, jobs: list[tuple[str, str]]
) -> tuple[list[str], int]:
    journal = Journal(None)
    client = LLMClient(
        OpenAIBackend(url, "", timeout=10.0, concurrency=16),
        journal,
        policy=RetryPolicy(max_attempts=3, delay=0.01),
        limiter=AdaptiveLimiter(16),
    )
    try:
        predictions = await asyncio.gather(
            *(scorer.answer(client, instruction, text) for instruction, text in jobs)
        )
        return list(predictions), journal.stats()["calls"]
    finally:
        await client.aclose()
        journal.close()


def test_one_content_free_call_per_prompt_under_concurrency(server: FakeLLMServer) -> None:
    data = load_dataset("sentiment", "text", "label")
    assert tuple(sorted(set(data.gold))) == LABELS
    texts, gold = data.texts[:24], data.gold[:24]
    jobs = [(instruction, text) for instruction in (GOOD, PLAIN) for text in texts]
    scorer = LoglikScorer("fake-model", LABELS)

    predictions, journaled = asyncio.run(score_all(server.url, scorer, jobs))

    stats = server.stats()
    # every sample + one baseline per prompt, + the endpoint's one capability probe
    assert stats["answered_loglik"] == len(jobs) + 2 + 1
    assert stats["requests"] == len(jobs) + 2 + 1 == journaled + 1
    assert stats["peak_inflight"] > 1  # the predictions really ran concurrently
    assert predictions == [expected(server, instruction, text) for instruction, text in jobs]
    good = sum(p == g for p, g in zip(predictions[: len(texts)], gold)) / len(texts)
    plain = sum(p == g for p, g in zip(predictions[len(texts) :], gold)) / len(texts)
    assert good >= 0.75 and good > plain + 0.2


def test_forget_drops_the_baseline_and_the_journal_answers_again(server: FakeLLMServer) -> None:
    scorer = LoglikScorer("fake-model", LABELS)

    async def run() -> None:
        journal = Journal(None)
        client = LLMClient(
            OpenAIBackend(server.url, "", timeout=10.0, concurrency=4),
            journal,
            policy=RetryPolicy(max_attempts=2, delay=0.01),
            limiter=AdaptiveLimiter(4),
        )
        try:
            await scorer.answer(client, PLAIN, "a text")
            scorer.forget(PLAIN)
            scorer.forget("never scored")  # harmless
            await scorer.answer(client, PLAIN, "another text")
            assert journal.stats()["cache_hits"] == 1  # the second baseline came from the journal
        finally:
            await client.aclose()
            journal.close()

    asyncio.run(run())
    assert server.stats()["answered_loglik"] == 3 + 1  # + the capability probe
    assert CONTENT_FREE == "N/A"
