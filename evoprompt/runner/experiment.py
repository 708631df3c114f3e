"""Assemble one experiment from its config: data, backend, journal, client, engine, recorder.

Kept apart from the session (which decides what runs and how it stops) and from the engine, so
the loop never knows which backend, display or file layout it is talking to.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evoprompt.checkpoint.journal import Journal
from evoprompt.checkpoint.journal_rows import PROBED
from evoprompt.checkpoint.layout import Layout
from evoprompt.checkpoint.nofollow import PathRefused, make_dirs, read_text
from evoprompt.checkpoint.schema import SchemaError, Summary
from evoprompt.checkpoint.state import ExperimentState
from evoprompt.checkpoint.store import CheckpointStore
from evoprompt.config import Config, ConfigError
from evoprompt.core.engine import Engine
from evoprompt.core.finalists import TestSet
from evoprompt.core.heldout import Tester
from evoprompt.core.recorder import Recorder
from evoprompt.data.loader import Dataset, DatasetError, dev_split, held_out_split, load_dataset
from evoprompt.display import Display, Silent
from evoprompt.evaluation.evaluator import Evaluator
from evoprompt.evaluation.scorers import make_scorer
from evoprompt.evolution.operators import Breeder
from evoprompt.evolution.templates import load_templates
from evoprompt.llm.backends import backend_spec
from evoprompt.llm.budget import Budget, Prices
from evoprompt.llm.client import LLMClient
from evoprompt.llm.limiter import AdaptiveLimiter
from evoprompt.llm.probe import HOW, EndpointMemory, Probing
from evoprompt.llm.retry import RetryPolicy
from evoprompt.metrics import Metric, MetricError, make_metric
from evoprompt.metrics.custom import Custom
from evoprompt.runner.shared import Shared
from evoprompt.runner.stored import write_config
from evoprompt.strategies.registry import make_strategy
from evoprompt.tracking.worker import open_tracker


@dataclass(frozen=True)
class Task:
    """What prompts are scored on: the dev split, the metric fitted to the whole dataset, and
    the held-out test set (None when ``test_size`` is 0)."""

    dev: Dataset
    metric: Metric
    test: TestSet | None = None


def _test_set(config: Config, data: Dataset, fitted: Metric) -> TestSet | None:
    if config.test_size == 0:
        return None
    other = None
    if config.test_dataset:
        other = load_dataset(config.test_dataset, config.text_column, config.label_column)
        unknown = sorted(set(other.gold) - set(fitted.choices())) if fitted.choices() else []
        if unknown:
            raise DatasetError(
                f"test dataset {config.test_dataset} has labels not in the label set: "
                f"{', '.join(unknown)} (allowed: {', '.join(fitted.choices())})"
            )
    held = held_out_split(data, config.dev_size, config.test_size, config.seed, other)
    folded = (other or data).folded
    return TestSet(held.test, config.test_dataset or config.dataset, held.dropped, folded)


def load_task(config: Config, metric: str | None = None, *, run_code: bool = True) -> Task:
    """The experiment's task, scored by ``metric`` (default: the config's).

    ``run_code=False`` (a dry run's plan) never imports a ``python:`` metric's module.
    Raises DatasetError or ConfigError with a one-line reason, before any call is made.
    """
    spec = metric or config.metric
    data = load_dataset(config.dataset, config.text_column, config.label_column)
    try:
        unfitted = make_metric(spec)
        if isinstance(unfitted, Custom) and not run_code:
            fitted = unfitted.inert(config)
        else:
            fitted = unfitted.prepare(data, config)
    except MetricError as exc:
        raise ConfigError(str(exc)) from None
    if config.scorer == "loglik" and not fitted.choices():
        raise ConfigError(
            f"the loglik scorer ranks a closed set of labels, so it works with --metric "
            f"accuracy only: use --scorer generate for --metric {spec}"
            + (
                f" (the {config.backend} backend cannot generate: use an endpoint)"
                if backend_spec(config.backend).completion_mode
                else ""
            )
        )
    dev = dev_split(data, config.dev_size, config.seed)
    return Task(dev, fitted, _test_set(config, data, fitted))


def check_input(config: Config, metric: str | None = None) -> Task:
    """The task, once everything a run reads from its input is known to be usable: the
    backend's packages, the templates file, the dataset. Called before any resume offer and
    before anything is created, so bad input costs one line and leaves nothing on disk
    (raises ConfigError or DatasetError)."""
    backend = backend_spec(config.backend)
    missing = backend.missing()
    if missing is not None:
        raise ConfigError(missing)
    if config.track == "mlflow" and importlib.util.find_spec("mlflow") is None:
        raise ConfigError("--track mlflow needs MLflow: pip install 'evoprompt[mlflow]'")
    load_templates(config.templates, completion=backend.completion_mode)
    return load_task(config, metric)


def learned_window(summary: Path) -> int:
    """The concurrency the limiter had reached when the experiment last saved (0: none known).

    A resume opens that window after its first success instead of ramping up from one."""
    try:
        raw = json.loads(read_text(summary))
        learned = Summary.from_json(raw).api_stats.get("concurrency", {}).get("limit", 0)
    except (OSError, ValueError, SchemaError, AttributeError, PathRefused):
        return 0
    return learned if isinstance(learned, int) and learned > 0 else 0


class Experiment:
    """Owns the resources of one run (closed by ``aclose``).

    ``task`` is the one ``load_task`` gave (the CLI loads it early to report bad data before
    anything is created); without it the data is loaded here and scored with ``metric``, a
    registered metric's name (default: the config's ``metric``). ``shared``: the limiter,
    transport and budget this experiment shares with others in the process (a sweep); without
    it, its own. ``trust`` (``--trust-folder``) keeps journal rows that carry no checksum.
    """

    def __init__(
        self,
        config: Config,
        exp_dir: Path,
        api_key: str,
        *,
        display: Display | None = None,
        task: Task | None = None,
        metric: str | None = None,
        shared: Shared | None = None,
        trust: bool = False,
    ):
        self.config = config
        self.exp_dir = exp_dir
        self.display = display or Silent()
        self.task = task or load_task(config, metric)
        # The transport first: settings it refuses (the key, a proxy, a CA bundle) stop the run
        # before the journal is opened, so nothing in the folder changes.
        backend = backend_spec(config.backend)
        transport = shared.backend(config) if shared else backend.build(config, api_key)
        self.store = CheckpointStore(exp_dir, enabled=config.checkpoint)
        make_dirs(exp_dir)
        self.journal = Journal(
            Layout(exp_dir).journal if config.checkpoint else None, trust_unchecked=trust
        )
        if isinstance(transport, Probing):
            where = Layout(exp_dir).endpoint if config.checkpoint else None
            journal, say = self.journal, self.display.line
            transport.use_endpoint(
                EndpointMemory(
                    where,
                    config.base_url,
                    config.model,
                    on_request=lambda: journal.bump(PROBED),
                    on_probed=lambda mode: say(f"scoring by loglik: {mode} ({HOW[mode]})"),
                )
            )
        self.client = LLMClient(
            transport,
            self.journal,
            policy=RetryPolicy(
                config.max_retries, config.retry_delay, config.retry_strategy, config.max_retry_wait
            ),
            limiter=shared.limiter(config)
            if shared
            else AdaptiveLimiter(
                config.concurrency,
                rpm=config.rpm,
                tpm=config.tpm,
                learned=learned_window(Layout(exp_dir).summary),
            ),
            budget=shared.budget
            if shared
            else Budget(config.max_calls, config.max_tokens_total, config.max_cost),
            prices=Prices(config.prices),
            fallback_model=config.fallback_model,
            on_retry=self.display.retry,
            max_outage=config.max_outage,
            on_probe=self.display.outage,
            on_notice=self.display.line,
        )
        if shared:
            shared.join(self.client)
        fitted = self.task.metric
        scorer = make_scorer(config, fitted)
        self.evaluator = Evaluator(
            self.client,
            scorer,
            fitted,
            self.task.dev,
            batch_size=config.batch_size,
            concurrency=config.concurrency,
            progress=self.display.advance,
        )
        test = self.task.test
        self.test_evaluator = (
            None
            if test is None or not len(test.data)
            else Evaluator(
                self.client,
                scorer,
                fitted,
                test.data,
                batch_size=config.batch_size,
                concurrency=config.concurrency,
                progress=self.display.advance,
            )
        )
        self.breeder = Breeder(
            self.client,
            load_templates(config.templates, completion=backend.completion_mode),
            model=config.model,
            temperature=backend.evolve_temperature_for(config),
        )
        self.engine: Engine | None = None
        self.tracker = open_tracker(config.track, config.track_uri, exp_dir, self.display.line)

    def write_config(self) -> None:
        write_config(self.exp_dir, self.config.to_dict())

    def build_engine(self, state: ExperimentState) -> Engine:
        recorder = Recorder(
            self.store,
            state,
            self.exp_dir,
            stats=self.api_stats,
            cleanup_every=self.config.cleanup_every,
            keep_last_n=self.config.keep_last_n,
            on_saved=self.tracker.poke if self.tracker else lambda: None,
        )
        test, evaluator = self.task.test, self.test_evaluator
        tester = (
            None
            if test is None or evaluator is None
            else Tester(
                evaluator,
                test,
                dev=self.evaluator.examples,
                seed=self.config.seed,
                seed_prompts=self.config.seed_prompts,
                top_k=self.config.test_top_k,
                store=self.store,
                recorder=recorder,
                display=self.display,
            )
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
            tester=tester,
        )
        return self.engine

    def api_stats(self) -> dict[str, Any]:
        """The journal's counts and the concurrency the limiter learned (for status)."""
        return {**self.journal.stats(), "concurrency": self.client.limiter.learned()}

    async def aclose(self) -> None:
        self.display.close()  # first: whatever happens next, no bar is left open to print into
        await self.client.aclose()
        self.journal.close()
        if self.tracker is not None:  # the final sync, after the stop is saved
            await asyncio.to_thread(self.tracker.close)
