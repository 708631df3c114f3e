"""The child quality gate: refused children are re-asked like replies without tags."""

from __future__ import annotations

import asyncio

import pytest

from evoprompt.checkpoint.journal import Journal
from evoprompt.evolution.gate import gate
from evoprompt.evolution.operators import Breeder
from evoprompt.evolution.templates import Templates
from evoprompt.llm.client import LLMClient
from evoprompt.llm.limiter import AdaptiveLimiter
from evoprompt.llm.retry import RetryPolicy
from evoprompt.llm.types import LLMRequest, LLMResponse
from evoprompt.strategies.base import Offspring

TEMPLATE = "Cross over the following prompts.\nPrompt 1: {prompt1}\nPrompt 2: {prompt2}\n<prompt>"
PARENTS = {"prompt1": "Classify the review's sentiment.", "prompt2": "Is the review positive?"}


@pytest.mark.parametrize(
    ("child", "why"),
    [
        ("and", "fewer than 3 words"),
        ("Positive review", "fewer than 3 words"),
        ("classify the review's sentiment", "a parent unchanged"),
        ("Cross over the following prompts", "an echo of the operator template"),
        ("Prompt 1: Cross over the following prompts", "an echo of the operator template"),
        ("Decide whether the review is positive or negative.", None),
        ("Prompt 1 asks about sentiment; say positive or negative.", None),  # short fragment
    ],
)
def test_gate(child: str, why: str | None) -> None:
    assert gate(child, PARENTS.values(), TEMPLATE) == why


class Scripted:
    """A backend replying with the given operator outputs in turn."""

    name = "scripted"

    def __init__(self, *replies: str) -> None:
        self.replies = list(replies)

    async def complete(self, request: LLMRequest) -> LLMResponse:
        return LLMResponse(text=self.replies.pop(0))

    async def aclose(self) -> None:
        pass


def test_a_refused_child_is_asked_again_and_counted_once() -> None:
    journal = Journal(None)
    backend = Scripted("<prompt>and</prompt>", "<prompt>Judge the review's sentiment.</prompt>")
    client = LLMClient(backend, journal, policy=RetryPolicy(1), limiter=AdaptiveLimiter(1))
    breeder = Breeder(client, Templates({"cross": TEMPLATE}), model="m", temperature=1.0)
    plan = Offspring("cross", PARENTS, tuple(PARENTS.values()), "gen1/child0")
    assert asyncio.run(breeder.breed(plan)) == "Judge the review's sentiment."
    assert journal.stats()["children_rejected"] == 1
    assert asyncio.run(breeder.breed(plan)) == "Judge the review's sentiment."  # replayed
    assert journal.stats()["children_rejected"] == 1  # a replay is not a new rejection
