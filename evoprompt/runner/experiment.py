"""Assemble one experiment from its config: data, backend, journal, client, engine, recorder.

Kept apart from the session (which decides what runs and how it stops) and from the engine, so
the loop never knows which backend, display or file layout it is talking to.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from evoprompt.checkpoint.journal import Journal
from evoprompt.checkpoint.journal_rows import BY_ROLE, PROBED
from evoprompt.checkpoint.layout import Layout
from evoprompt.checkpoint.nofollow import PathRefused, make_dirs, read_text
from evoprompt.checkpoint.schema import SchemaError, Summary
from evoprompt.checkpoint.state import ExperimentState
from evoprompt.checkpoint.store import CheckpointStore
from evoprompt.config import Config
from evoprompt.config.roles import Role, for_role
from evoprompt.core.engine import Engine
from evoprompt.core.heldout import Tester
from evoprompt.core.recorder import Recorder
from evoprompt.core.result import Pricing
from evoprompt.display import Display, Silent
from evoprompt.evaluation.evaluator import Evaluator
from evoprompt.evaluation.scorers import make_scorer
from evoprompt.evolution.operators import Breeder
from evoprompt.evolution.templates import load_templates
from evoprompt.fewshot.evolve import Shots
from evoprompt.fewshot.prompt import exemplars
from evoprompt.llm.backends import backend_spec
from evoprompt.llm.backends import operator_key as operator_api_key
from evoprompt.llm.probe import HOW, EndpointMemory, Probing
from evoprompt.runner.clients import build_clients, build_transports
from evoprompt.runner.shared import Shared
from evoprompt.runner.stored import write_config
from evoprompt.runner.task import Task, describe_task, load_task
from evoprompt.strategies.registry import make_strategy
from evoprompt.tracking.worker import open_tracker


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
                every_seed=self.config.test_seeds == "all",
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
