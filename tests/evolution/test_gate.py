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
from evoprompt.strategies.registry import operators

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


@pytest.mark.parametrize(
    "child",
    [
        # the worked examples' answers and prompts of the built-in templates, as a small
        # model copies them out
        "Transform the provided text into simpler language, keeping its essential meaning.",
        "transform the provided text into simpler language keeping its essential meaning",
        "Rewrite the input text into simpler text.",
        "Write one short sentence that captures the main point of the article.",
        "Summarize the article in one sentence.",
        "Transform the provided text into simpler language, keeping its essential meaning. "
        "Be brief.",
    ],
)
def test_the_templates_own_examples_are_refused(child: str) -> None:
    templates = [op.chat for op in operators().values()]
    templates += [op.completion for op in operators().values()]
    refused = [t for t in templates if gate(child, PARENTS.values(), t)]
    assert refused, child
    ga = operators()["ga"]
    if "simpler language" in child:
        assert gate(child, PARENTS.values(), ga.chat) == "an echo of the operator template"


def test_a_task_prompt_sharing_words_with_the_examples_passes() -> None:
    for op in operators().values():
        for template in (op.chat, op.completion):
            child = "Decide whether the review's sentiment is positive or negative."
            assert gate(child, PARENTS.values(), template) is None


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
