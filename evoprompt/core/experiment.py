"""Assemble one experiment from its config: data, backend, journal, client, engine, recorder.

Kept apart from the session (which decides what runs and how it stops) and from the engine, so
the loop never knows which backend, display or file layout it is talking to.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evoprompt.checkpoint.atomic import atomic_write_text
from evoprompt.checkpoint.journal import Journal
from evoprompt.checkpoint.layout import Layout
from evoprompt.checkpoint.store import CheckpointStore
from evoprompt.config import Config
from evoprompt.core.engine import Engine
from evoprompt.core.recorder import Recorder
from evoprompt.core.state import ExperimentState
from evoprompt.data.loader import Dataset, dev_split, load_dataset
from evoprompt.display import Display, Silent
from evoprompt.evaluation.evaluator import Evaluator
from evoprompt.evaluation.scorers import GenerateScorer, LoglikScorer
from evoprompt.evolution.operators import Breeder
from evoprompt.evolution.templates import load_templates
from evoprompt.llm.backends import backend_spec
from evoprompt.llm.client import Budget, LLMClient, Prices
from evoprompt.llm.limiter import AdaptiveLimiter
from evoprompt.llm.probe import EndpointMemory, Probing
from evoprompt.llm.retry import RetryPolicy
from evoprompt.metrics import DEFAULT_METRIC, Metric, make_metric
from evoprompt.strategies.registry import make_strategy


@dataclass(frozen=True)
class Task:
    """What prompts are scored on: the dev split, and the metric fitted to the whole dataset."""

    dev: Dataset
    metric: Metric


def load_task(config: Config, metric: str = DEFAULT_METRIC) -> Task:
    """The experiment's task (raises DatasetError with a one-line reason)."""
    data = load_dataset(config.dataset, config.text_column, config.label_column)
    fitted = make_metric(metric).prepare(data, config)
    return Task(dev_split(data, config.dev_size, config.seed), fitted)


class Experiment:
    """Owns the resources of one run (closed by ``aclose``).

    ``task`` is the one ``load_task`` gave (the CLI loads it early to report bad data before
    anything is created); without it the data is loaded here and scored with ``metric``, a
    registered metric's name.
    """

    def __init__(
        self,
        config: Config,
        exp_dir: Path,
        api_key: str,
        *,
        display: Display | None = None,
        task: Task | None = None,
        metric: str = DEFAULT_METRIC,
    ):
        self.config = config
        self.exp_dir = exp_dir
        self.display = display or Silent()
        self.task = task or load_task(config, metric)
        self.store = CheckpointStore(exp_dir, enabled=config.checkpoint)
        exp_dir.mkdir(parents=True, exist_ok=True)
        self.journal = Journal(Layout(exp_dir).journal if config.checkpoint else None)
        backend = backend_spec(config.backend)
        transport = backend.build(config, api_key)
        if isinstance(transport, Probing):
            where = Layout(exp_dir).endpoint if config.checkpoint else None
            transport.use_endpoint(EndpointMemory(where, config.base_url, config.model))
        self.client = LLMClient(
            transport,
            self.journal,
            policy=RetryPolicy(
                config.max_retries, config.retry_delay, config.retry_strategy, config.max_retry_wait
            ),
            limiter=AdaptiveLimiter(config.concurrency, rpm=config.rpm, tpm=config.tpm),
            budget=Budget(config.max_calls, config.max_tokens_total, config.max_cost),
            prices=Prices(config.prices),
            fallback_model=config.fallback_model,
            on_retry=self.display.retry,
        )
        fitted = self.task.metric
        scorer = (
            LoglikScorer(config.model, fitted.choices())
            if config.scorer == "loglik"
            else GenerateScorer(config.model, fitted.hint())
        )
        self.evaluator = Evaluator(
            self.client,
            scorer,
            fitted,
            self.task.dev,
            batch_size=config.batch_size,
            concurrency=config.concurrency,
            progress=self.display.advance,
        )
        self.breeder = Breeder(
            self.client,
            load_templates(config.templates, completion=backend.completion_mode),
            model=config.model,
            temperature=backend.evolve_temperature_for(config),
        )
        self.engine: Engine | None = None

    def write_config(self) -> None:
        atomic_write_text(
            Layout(self.exp_dir).config,
            json.dumps(self.config.to_dict(), indent=2, ensure_ascii=False) + "\n",
        )

    def build_engine(self, state: ExperimentState) -> Engine:
        recorder = Recorder(
            self.store,
            state,
            self.exp_dir,
            stats=self.api_stats,
            cleanup_every=self.config.cleanup_every,
            keep_last_n=self.config.keep_last_n,
        )
        self.engine = Engine(
            config=self.config,
            state=state,
            evaluator=self.evaluator,
            breeder=self.breeder,
            strategy=make_strategy(self.config.algorithm),
            store=self.store,
            recorder=recorder,
            display=self.display,
        )
        return self.engine

    def api_stats(self) -> dict[str, Any]:
        """The journal's counts and the concurrency the limiter learned (for status)."""
        return {**self.journal.stats(), "concurrency": self.client.limiter.learned()}

    async def aclose(self) -> None:
        await self.client.aclose()
        self.journal.close()
        self.display.close()
