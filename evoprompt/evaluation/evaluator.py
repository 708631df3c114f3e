"""Score many prompts on the dev set concurrently, one checkpointed batch at a time.

Work runs batch-major (all prompts on batch 0, then batch 1, ...) so batches complete, and are
saved, early and in order; a pool of ``concurrency`` workers keeps the endpoint busy across
batch and prompt boundaries. Batches already on disk from an interrupted run are not re-asked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass

from evoprompt._async import gather_or_cancel
from evoprompt.checkpoint.schema import BatchRecord, PromptResult
from evoprompt.data.loader import Dataset
from evoprompt.evaluation.scorers import Scorer
from evoprompt.llm.client import LLMClient

BatchSaver = Callable[[int, range, list[PromptResult]], Awaitable[None]]
"""Called as each batch completes with (batch index, its dev rows, every prompt's results)."""


@dataclass(frozen=True)
class Score:
    fitness: float
    error_patterns: dict[str, int]


def analyse(predictions: Sequence[str], truths: Sequence[str]) -> Score:
    """Accuracy and confusion counts ``"true -> predicted"`` of the mistakes."""
    correct = sum(p == t for p, t in zip(predictions, truths))
    errors = Counter(f"{t} -> {p}" for p, t in zip(predictions, truths) if p != t)
    return Score(correct / len(truths) if truths else 0.0, dict(sorted(errors.items())))


class Evaluator:
    def __init__(
        self,
        client: LLMClient,
        scorer: Scorer,
        dev: Dataset,
        *,
        batch_size: int,
        concurrency: int,
        progress: Callable[[int], None] = lambda n: None,
    ):
        self.client = client
        self.scorer = scorer
        self.dev = dev
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.progress = progress

    def batches(self) -> list[range]:
        size = len(self.dev)
        return [range(s, min(s + self.batch_size, size)) for s in range(0, size, self.batch_size)]

    def requests_needed(self, prompts: Sequence[str], done: dict[int, BatchRecord]) -> int:
        return sum(len(r) * len(prompts) for b, r in enumerate(self.batches()) if b not in done)

    async def evaluate(
        self, prompts: Sequence[str], done: dict[int, BatchRecord], save: BatchSaver
    ) -> dict[str, Score]:
        """Fitness of each prompt; ``done`` holds batch documents recovered from disk."""
        batches = self.batches()
        predictions = {p: [""] * len(self.dev) for p in prompts}
        for b, record in done.items():
            for entry in record.prompts:
                predictions[entry.text][batches[b].start : batches[b].stop] = entry.predictions
        left = {b: len(r) * len(prompts) for b, r in enumerate(batches) if b not in done}
        work = ((b, p, i) for b, r in enumerate(batches) if b in left for p in prompts for i in r)

        async def worker(items: Iterator[tuple[int, str, int]]) -> None:
            for b, prompt, i in items:
                predictions[prompt][i] = await self.scorer.predict(
                    self.client, prompt, self.dev.texts[i]
                )
                self.progress(1)
                left[b] -= 1
                if left[b] == 0:
                    await save(b, batches[b], self._results(batches[b], prompts, predictions))

        await gather_or_cancel([worker(work) for _ in range(self.concurrency)])
        for prompt in prompts:
            self.scorer.forget(prompt)
        return {p: analyse(predictions[p], self.dev.labels) for p in prompts}

    def _results(
        self, rows: range, prompts: Sequence[str], predictions: dict[str, list[str]]
    ) -> list[PromptResult]:
        truths = list(self.dev.labels[rows.start : rows.stop])
        results = []
        for prompt in prompts:
            preds = predictions[prompt][rows.start : rows.stop]
            score = analyse(preds, truths)
            results.append(
                PromptResult(
                    prompt,
                    preds,
                    truths,
                    {"accuracy": score.fitness, "error_patterns": score.error_patterns},
                )
            )
        return results
