"""Scorers turn (prompt, input) into the model's raw output through the LLM client.

``generate`` asks a chat model and returns its reply, for the metric to judge; ``loglik`` ranks
the metric's closed set of answers by the log-probability of each as the continuation, minus
its log-probability after a content-free input ("N/A"), which removes the model's prior
preference for some answers (Zhao et al., 2021), and returns the winner.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from evoprompt.config import Config
from evoprompt.fewshot.prompt import render
from evoprompt.llm.client import LLMClient
from evoprompt.llm.types import LLMRequest, LLMResponse
from evoprompt.metrics import Metric

CONTENT_FREE = "N/A"


def query_text(instruction: str, text: str) -> str:
    """The prompt a task model sees for one sample (also parsed by the test endpoint);
    ``instruction`` is a rendered prompt, exemplars included (``fewshot.prompt.render``)."""
    return f"{instruction}\n\nInput: {text}\nAnswer:"


class Scorer(Protocol):
    async def answer(self, client: LLMClient, instruction: str, text: str) -> str:
        """The model's raw output for one sample."""
        ...

    def requests(self, instruction: str, text: str) -> tuple[LLMRequest, ...]:
        """The calls one sample's answer takes (what the journal holds for it)."""
        ...

    def forget(self, instruction: str) -> None:
        """Drop per-prompt memory once the prompt is fully scored."""


class GenerateScorer:
    def __init__(self, model: str, hint: str = "", max_tokens: int = 16):
        self.model = model
        self.hint = hint  # the metric's note to the model, after the instruction
        self.max_tokens = max_tokens  # short for a label, longer for reasoning and generation

    def request(self, instruction: str, text: str) -> LLMRequest:
        content = query_text(render(instruction, self.hint), text)
        return LLMRequest(
            kind="chat",
            model=self.model,
            messages=(("user", content),),
            temperature=0.0,
            max_tokens=self.max_tokens,
        )

    async def answer(self, client: LLMClient, instruction: str, text: str) -> str:
        return (await client.call(self.request(instruction, text))).text

    def requests(self, instruction: str, text: str) -> tuple[LLMRequest, ...]:
        return (self.request(instruction, text),)

    def forget(self, instruction: str) -> None:
        pass


def calibrated_choice(
    scores: Sequence[float], baseline: Sequence[float], labels: Sequence[str]
) -> str:
    """The label whose log-probability rose most over the content-free baseline."""
    lift = np.asarray(scores, dtype=float) - np.asarray(baseline, dtype=float)
    return labels[int(np.argmax(lift))]


class LoglikScorer:
    def __init__(self, model: str, labels: Sequence[str]):
        self.model = model
        self.labels = tuple(labels)
        self._baselines: dict[str, asyncio.Task[LLMResponse]] = {}

    def request(self, instruction: str, text: str) -> LLMRequest:
        return LLMRequest(
            kind="loglik",
            model=self.model,
            prompt=query_text(render(instruction), text),
            continuations=tuple(f" {label}" for label in self.labels),
        )

    async def answer(self, client: LLMClient, instruction: str, text: str) -> str:
        # One content-free call per prompt, shared by all its samples even while in flight.
        baseline = self._baselines.get(instruction)
        if baseline is None or (baseline.done() and baseline.exception() is not None):
            baseline = asyncio.ensure_future(client.call(self.request(instruction, CONTENT_FREE)))
            self._baselines[instruction] = baseline
        scores = await client.call(self.request(instruction, text))
        return calibrated_choice(scores.logprobs, (await baseline).logprobs, self.labels)

    def requests(self, instruction: str, text: str) -> tuple[LLMRequest, ...]:
        return (self.request(instruction, text), self.request(instruction, CONTENT_FREE))

    def forget(self, instruction: str) -> None:
        """Drop the cached baseline once a prompt is fully scored (bounds memory)."""
        self._baselines.pop(instruction, None)


def make_scorer(config: Config, metric: Metric) -> GenerateScorer | LoglikScorer:
    """The scorer a (settled) config asks for, fitted to the metric's hint or labels (the
    dry run renders its requests too, so their journal keys are the run's)."""
    if config.scorer == "loglik":
        return LoglikScorer(config.model, metric.choices())
    return GenerateScorer(config.model, metric.hint(), config.max_tokens or metric.max_tokens)
