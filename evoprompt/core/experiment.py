"""Assemble one experiment from its config: data, backend, journal, client, engine.

Kept apart from the CLI so tests and benchmarks can run an experiment in-process, and apart
from the engine so the loop never knows which backend or display it is talking to.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from evoprompt.checkpoint.atomic import atomic_write_text
from evoprompt.checkpoint.journal import JOURNAL_NAME, Journal
from evoprompt.checkpoint.store import CheckpointStore
from evoprompt.config import Config
from evoprompt.core.engine import Engine
from evoprompt.core.state import ExperimentState
from evoprompt.data.loader import Dataset, dev_split, load_dataset
from evoprompt.display import Display, Silent
from evoprompt.evaluation.evaluator import Evaluator
from evoprompt.evaluation.scorers import GenerateScorer, LoglikScorer
from evoprompt.evolution.operators import Breeder
from evoprompt.evolution.strategies import STRATEGIES
from evoprompt.evolution.templates import load_templates
from evoprompt.llm.client import Budget, LLMClient, Prices
from evoprompt.llm.factory import make_backend
from evoprompt.llm.limiter import AdaptiveLimiter
from evoprompt.llm.retry import RetryPolicy
from evoprompt.metrics import DEFAULT_METRIC, Metric, make_metric

CONFIG_NAME = "config.json"
RECOVERY_LOG = "recovery.log"


@dataclass
class Resume:
    """How a resumed experiment got its state back (for recovery.log and the user)."""

    source: str | None
    generation: int
    batch_idx: int
    notes: list[str] = field(default_factory=list)
    rebuilt: bool = False
    stage: str | None = None  # the stop recorded by the last save (``finished``, ...)


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
    """Owns the resources of one run; use as ``async with Experiment(...) as exp``.

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
        self.journal = Journal(exp_dir / JOURNAL_NAME if config.checkpoint else None)
        completion = config.backend == "local"
        self.client = LLMClient(
            make_backend(config, api_key),
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
            load_templates(config.templates, completion=completion),
            model=config.model,
            temperature=1.0 if completion else config.evolve_temperature,
        )
        self.engine: Engine | None = None

    def write_config(self) -> None:
        atomic_write_text(
            self.exp_dir / CONFIG_NAME,
            json.dumps(self.config.to_dict(), indent=2, ensure_ascii=False) + "\n",
        )

    def restore(self) -> tuple[ExperimentState, Resume]:
        """The saved state, or a fresh one replayed from the journal when state.pkl is lost."""
        found = self.store.recover()
        cursor = found.cursor or {}
        resume = Resume(
            found.source,
            int(cursor.get("generation", 0)),
            int(cursor.get("batch_idx", 0)),
            list(found.notes),
            stage=cursor.get("metadata", {}).get("stage"),
        )
        state = found.state
        if state is None:
            state = ExperimentState.new(self.exp_dir.name, self.config.seed)
            lost = cursor.get("metadata", {}).get("completed_generation", -1)
            if lost >= 0:
                resume.rebuilt = True
                answers = int(self.journal.totals()["calls"])
                resume.notes.append(
                    f"rebuilding generations 0-{lost} by replaying the experiment from its seed "
                    f"with the {answers} answers in the journal: no answered call is sent again"
                    if answers
                    else f"the journal is empty too: generations 0-{lost} are lost and will be "
                    "re-run, re-sending their calls"
                )
        return state, resume

    def log_recovery(self, resume: Resume, state: ExperimentState) -> None:
        entry = {
            "timestamp": time.time(),
            "restored_from": resume.source,
            "state": "replayed from journal" if resume.rebuilt else "state.pkl",
            "completed_generation": state.generation,
            "cursor": {"generation": resume.generation, "batch_idx": resume.batch_idx},
            "notes": resume.notes,
        }
        with (self.exp_dir / RECOVERY_LOG).open("a", encoding="utf-8") as log:
            log.write(json.dumps(entry) + "\n")

    def build_engine(self, state: ExperimentState) -> Engine:
        self.engine = Engine(
            config=self.config,
            state=state,
            evaluator=self.evaluator,
            breeder=self.breeder,
            strategy=STRATEGIES[self.config.algorithm](),
            store=self.store,
            exp_dir=self.exp_dir,
            display=self.display,
            stats=self.journal.stats,
        )
        return self.engine

    async def aclose(self) -> None:
        await self.client.aclose()
        self.journal.close()
        self.display.close()
