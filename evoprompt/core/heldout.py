"""The held-out test phase: score the finalists on the test set, checkpointed per batch.

It runs after the last generation (and again for the new finalists when an experiment is
extended), or on demand (``python main.py test``). Its scoring requests are the dev scoring's
requests on other rows, so the journal answers every call already made; its batches go to
``batches/test<K>_batch<B>.json`` (K counts the experiment's test phases), so a killed phase
resumes where it stopped. Each phase appends a :class:`TestReport` to the state; earlier ones
stay as the history.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from evoprompt.checkpoint.schema import BatchRecord, PromptResult, Stage, TestReport
from evoprompt.checkpoint.state import ExperimentState
from evoprompt.checkpoint.store import CheckpointStore
from evoprompt.core.finalists import Finalists, TestSet, finalists, given, heldout_report
from evoprompt.core.recorder import Recorder
from evoprompt.display import Display
from evoprompt.evaluation.evaluator import Evaluator
from evoprompt.metrics.base import Example
from evoprompt.stats import preload


def inputs_digest(examples: Sequence[Example]) -> str:
    """sha256 of a batch's input texts: test batches are reused only for the same inputs."""
    digest = hashlib.sha256()
    for example in examples:
        digest.update(example.text.encode() + b"\x00")
    return digest.hexdigest()


class Tester:
    def __init__(
        self,
        evaluator: Evaluator,
        test: TestSet,
        *,
        dev: Sequence[Example],
        seed: int,
        seed_prompts: Sequence[str],
        top_k: int,
        every_seed: bool = True,
        store: CheckpointStore,
        recorder: Recorder,
        display: Display,
    ):
        self.evaluator = evaluator  # over the test rows
        self.test = test
        self.dev = dev
        self.seed = seed
        self.seed_prompts = list(seed_prompts)
        self.top_k = top_k
        self.every_seed = every_seed
        self.store = store
        self.recorder = recorder
        self.display = display

    def recorded(self, state: ExperimentState, chosen: Finalists) -> TestReport | None:
        """The report of an earlier phase that scored exactly these prompts on this test set."""
        for report in reversed(state.tests):
            same_rows = (report.size, report.source) == (len(self.test.data), self.test.source)
            if same_rows and [r.prompt for r in report.results] == chosen.texts:
                return report
        return None

    async def final(self, state: ExperimentState) -> None:
        """The end of a run: the finalists tested, unless this generation's already were."""
        chosen = finalists(state, self.seed_prompts, self.top_k, self.every_seed)
        report = self.recorded(state, chosen)
        if report is None or report.generation != state.generation:
            await self.run(state, chosen)

    async def retest(self, state: ExperimentState, prompts: list[str], stop: Stage) -> TestReport:
        """A test phase on demand: the finalists (or ``prompts``); one already recorded is
        returned as is. ``stop`` is what every save of this phase records (see
        :attr:`Recorder.kept`), and is saved again at its end."""
        chosen = (
            given(state, prompts, self.seed_prompts)
            if prompts
            else finalists(state, self.seed_prompts, self.top_k, self.every_seed)
        )
        report = self.recorded(state, chosen)
        self.recorder.kept = stop
        if report is None:
            report = await self.run(state, chosen)
            await self.recorder.stopped(stop)
        return report

    async def run(self, state: ExperimentState, chosen: Finalists) -> TestReport:
        """Score ``chosen`` on the test rows, append the report to the state and save it."""
        preload()  # the verdict's scipy import, while the scoring below waits on the endpoint
        phase = len(state.tests) + 1
        prompts = chosen.texts
        rows = self.evaluator.batches()
        examples = self.evaluator.examples
        inputs: list[str | None] = [inputs_digest(examples[r.start : r.stop]) for r in rows]
        done = self.store.load_batches(phase, prompts, rows, inputs=inputs)
        self.recorder.test_started(len(done))
        total = self.evaluator.requests_needed(prompts, done)
        self.display.phase(
            f"test: scoring {len(prompts)} prompts on {len(examples)} held-out rows", total
        )

        async def save(batch_idx: int, batch: range, results: list[PromptResult]) -> None:
            span = (batch.start, batch.stop)
            record = BatchRecord(phase, batch_idx, span, results, inputs[batch_idx])
            await self.recorder.test_batch_done(record)

        scores = await self.evaluator.evaluate(prompts, done, save)
        report = heldout_report(
            chosen,
            scores,
            metric=self.evaluator.metric,
            test=self.test,
            dev=self.dev,
            seed=self.seed,
            generation=state.generation,
        )
        state.tests.append(report)
        await self.recorder.test_done(phase)
        self.display.close()
        return report
