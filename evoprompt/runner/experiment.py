"""Assemble one experiment from its config: data, backend, journal, client, engine, recorder.

Kept apart from the session (which decides what runs and how it stops) and from the engine, so
the loop never knows which backend, display or file layout it is talking to.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evoprompt.checkpoint.journal import Journal
from evoprompt.checkpoint.journal_rows import BY_ROLE, PROBED
from evoprompt.checkpoint.layout import Layout
from evoprompt.checkpoint.nofollow import PathRefused, make_dirs, read_text
from evoprompt.checkpoint.schema import SchemaError, Summary
from evoprompt.checkpoint.state import ExperimentState
from evoprompt.checkpoint.store import CheckpointStore
from evoprompt.config import Config, ConfigError
from evoprompt.config.roles import Role, for_role
from evoprompt.core.engine import Engine
from evoprompt.core.finalists import TestSet
from evoprompt.core.heldout import Tester
from evoprompt.core.recorder import Recorder
from evoprompt.core.result import Pricing
from evoprompt.data.loader import (
    Dataset,
    DatasetError,
    column_of,
    dev_split,
    held_out_split,
    load_dataset,
)
from evoprompt.data.train import train_split
from evoprompt.display import Display, Silent
from evoprompt.evaluation.evaluator import Evaluator
from evoprompt.evaluation.scorers import make_scorer
from evoprompt.evolution.operators import Breeder
from evoprompt.evolution.templates import load_templates, task_line
from evoprompt.fewshot.evolve import Shots
from evoprompt.fewshot.prompt import exemplars
from evoprompt.llm.backends import backend_spec
from evoprompt.llm.backends import operator_key as operator_api_key
from evoprompt.llm.probe import HOW, EndpointMemory, Probing
from evoprompt.metrics import Metric, MetricError, make_metric
from evoprompt.metrics.custom import Custom
from evoprompt.runner.clients import build_clients, build_transports
from evoprompt.runner.shared import Shared
from evoprompt.runner.stored import write_config
from evoprompt.strategies.registry import make_strategy
from evoprompt.tracking.worker import open_tracker


@dataclass(frozen=True)
class Task:
    """What prompts are scored on: the dev split, the metric fitted to the whole dataset, and
    the held-out test set (None when ``test_size`` is 0) and the train pool exemplars come
    from (None without ``--shots``)."""

    dev: Dataset
    metric: Metric
    test: TestSet | None = None
    train: Dataset | None = None
    worked: Mapping[str, str] = field(default_factory=dict)  # train text -> worked answer


def _test_set(
    config: Config, data: Dataset, fitted: Metric, train: Dataset | None
) -> TestSet | None:
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
    held = held_out_split(data, config.dev_size, config.test_size, config.seed, other, train)
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
    train, worked = None, {}
    if config.shots:
        train = train_split(data, config.dev_size, config.train_size, config.seed)
        if config.worked_column:
            worked = column_of(config.dataset, config.text_column, config.worked_column)
    return Task(dev, fitted, _test_set(config, data, fitted, train), train, worked)


def describe_task(config: Config, metric: Metric) -> str:
    """The line operator templates get as ``{task}``."""
    return task_line(config.task_description, config.metric, metric.choices())


def check_input(config: Config, metric: str | None = None) -> Task:
    """The task, once everything a run reads from its input is known to be usable: the
    backend's packages, the templates file, the dataset. Called before any resume offer and
    before anything is created, so bad input costs one line and leaves nothing on disk
    (raises ConfigError or DatasetError)."""
    writer = backend_spec(for_role(config, "operator").backend)
    for spec in dict.fromkeys((backend_spec(config.backend), writer)):
        missing = spec.missing()
        if missing is not None:
            raise ConfigError(missing)
    if config.track == "mlflow" and importlib.util.find_spec("mlflow") is None:
        raise ConfigError("--track mlflow needs MLflow: pip install 'evoprompt[mlflow]'")
    load_templates(config.templates, completion=writer.completion_mode)
    return load_task(config, metric)


def learned_window(summary: Path, role: Role = "task") -> int:
    """The concurrency ``role``'s limiter had reached when the experiment last saved (0: none
    known). A resume opens that window after its first success instead of ramping up from one.
    """
    try:
        stats = Summary.from_json(json.loads(read_text(summary))).api_stats
        if role != "task":
            stats = stats.get(BY_ROLE, {}).get(role, {})
        learned = stats.get("concurrency", {}).get("limit", 0)
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
    ``operator_key``: the operator's API key (default: ``$EVOPROMPT_OPERATOR_API_KEY``, else
    ``api_key``), held in memory only.
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
        operator_key: str | None = None,
    ):
        self.config = config
        self.exp_dir = exp_dir
        self.display = display or Silent()
        self.task = task or load_task(config, metric)
        # The transports first: settings they refuse (a key, a proxy, a CA bundle) stop the
        # run before the journal is opened, so nothing in the folder changes.
        operator_key = operator_api_key(api_key) if operator_key is None else operator_key
        transports = build_transports(config, api_key, operator_key, shared)
        self.store = CheckpointStore(exp_dir, enabled=config.checkpoint)
        make_dirs(exp_dir)
        self.journal = Journal(
            Layout(exp_dir).journal if config.checkpoint else None, trust_unchecked=trust
        )
        transport = transports.task
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
        summary = Layout(exp_dir).summary
        self.clients = build_clients(
            config,
            transports,
            self.journal,
            display=self.display,
            shared=shared,
            learned=lambda role: learned_window(summary, role),
        )
        self.client = self.clients.task
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
        writer = for_role(config, "operator")
        operator = backend_spec(writer.backend)
        self.breeder = Breeder(
            self.clients.operator,
            load_templates(
                config.templates,
                completion=operator.completion_mode,
                task=describe_task(config, fitted),
            ),
            model=writer.model,
            temperature=operator.evolve_temperature_for(config),
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
            pricing=self.pricing(),
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
            shots=Shots(self.config.shots, exemplars(self.task.train, self.task.worked))
            if self.config.shots and self.task.train is not None
            else None,
        )
        return self.engine

    def pricing(self) -> Pricing | None:
        """Whether summary.json prices its finalists (few-shot or length-penalised runs), and
        at what price per million prompt tokens of the task model."""
        config = self.config
        if not (config.shots or config.length_penalty):
            return None
        return Pricing(config.prices.get(config.model, {}).get("prompt"))

    def api_stats(self) -> dict[str, Any]:
        """The journal's counts and the concurrency the limiter learned (for status); per
        role, the operator's own when it has a limiter of its own."""
        stats = {**self.journal.stats(), "concurrency": self.client.limiter.learned()}
        if self.clients.separate_limits:
            roles = stats.setdefault(BY_ROLE, {})
            operator = roles.setdefault("operator", {})
            operator["concurrency"] = self.clients.operator.limiter.learned()
        return stats

    def stop(self) -> None:
        """Start no new call in either role; calls on the wire land in the journal."""
        for client in self.clients.both:
            client.stop()

    async def aclose(self) -> None:
        self.display.close()  # first: whatever happens next, no bar is left open to print into
        await self.client.aclose()
        self.journal.close()
        if self.tracker is not None:  # the final sync, after the stop is saved
            await asyncio.to_thread(self.tracker.close)
