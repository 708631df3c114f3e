"""The bill before paying it: calls, tokens and cost of a run, estimated without any call.

Prompt tokens come from the requests the run would actually send, rendered here and never
sent: the scorer's request for every dev row, the operator templates filled with the seed
prompts (later generations' prompts are assumed as long as the seeds). Tokens are counted as
``LLMRequest.estimated_tokens`` counts them (4 characters a token, plus a chat request's
format overhead). Replies are priced as
:mod:`evoprompt.billing.replies` says (a label, the journal's or a pilot's mean, or for open
answers ``max_tokens`` as an upper bound) and an operator call's, unless measured, at about
two prompts' worth (capped by ``max_tokens``). Each child is assumed new and usable on its
first try, so the call count is what an unpruned run makes when no reply is dropped;
pruning's saving is given as a range.
The held-out test phase is counted for the seeds (the best one only under ``test_seeds =
"best"``) plus ``test_top_k`` prompts (fewer when the
best prompts are seeds). A log-likelihood call to an endpoint is billed as one request per
label, what an ``echo_single`` server (llama.cpp) takes and the most any mode takes; the
content-free calibration row is one more call per prompt.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from evoprompt.billing.phases import Bill, Phase
from evoprompt.billing.replies import Replies, floor, from_task, rows
from evoprompt.checkpoint.state import Individual
from evoprompt.config import Config
from evoprompt.config.roles import Role, for_role
from evoprompt.evaluation.scorers import make_scorer
from evoprompt.evolution.operators import operator_request
from evoprompt.evolution.templates import load_templates
from evoprompt.fewshot.prompt import compose, exemplars
from evoprompt.llm.backends import backend_spec
from evoprompt.llm.budget import Prices
from evoprompt.llm.types import LLMRequest, LLMResponse, Usage
from evoprompt.runner.task import Task, describe_task
from evoprompt.strategies.paraphrase import paraphrase
from evoprompt.strategies.registry import make_strategy


def _never(key: str) -> bool:
    return False


def _tokens(request: LLMRequest) -> int:
    return request.estimated_tokens() - request.max_tokens


def loglik_per_label(config: Config) -> bool:
    """Whether the bill counts a log-likelihood call as a request per label: on an endpoint,
    whose mode only the first call probes (the embedded model scores all labels at once)."""
    return config.scorer == "loglik" and config.backend == "openai"


def per_label(request: LLMRequest) -> list[LLMRequest]:
    """The requests a call is sent as by an ``echo_single`` endpoint (one label each)."""
    if request.kind != "loglik":
        return [request]
    return [replace(request, continuations=(c,)) for c in request.continuations]


class _Pricer:
    """Prices one role's requests at its model's prices."""

    def __init__(self, config: Config, role: Role = "task"):
        settings = for_role(config, role)
        self.prices = Prices(settings.prices)
        self.model = settings.model
        self.per_label = role == "task" and loglik_per_label(config)
        self.role = role

    def phase(self, name: str, requests: list[LLMRequest], reply_tokens: float) -> Phase:
        if self.per_label:
            requests = [r for whole in requests for r in per_label(whole)]
        prompt = sum(_tokens(r) for r in requests)
        completion = round(
            sum(min(reply_tokens, r.max_tokens) for r in requests if r.kind != "loglik")
        )
        cost = self.prices.cost(LLMResponse(usage=Usage(prompt, completion)), self.model)
        return Phase(name, len(requests), prompt, completion, cost, role=self.role)


class _Scoring:
    """The scoring requests of a phase, priced; those ``free`` says the journal holds cost
    nothing and are not counted."""

    def __init__(
        self, config: Config, task: Task, replies: Replies, free: Callable[[str], bool] = _never
    ):
        self.reply_tokens = replies.scoring
        self.scorer = make_scorer(config, task.metric)  # the run's requests, so the run's keys
        self.loglik = config.scorer == "loglik"
        self.pricer = _Pricer(config)
        self.free = free

    def rows(self, data: Sequence[str]) -> list[str]:
        """Duplicate rows share one call; loglik adds its calibration baseline per prompt."""
        return rows(data, self.loglik)

    def phase(self, name: str, prompts: Sequence[str], texts: list[str]) -> Phase:
        requests = [self.scorer.request(prompt, text) for prompt in prompts for text in texts]
        paid = [r for r in requests if not self.free(r.key())]
        return self.pricer.phase(name, paid, self.reply_tokens)


def exemplar_stand_in(config: Config, task: Task) -> Callable[[str, int], str]:
    """A prompt's stand-in with K/2 train rows as exemplars (the mean of generation 0's draw
    of 0 to K, which evolution keeps about level), the ``i``-th taking the pool's rows from
    ``i`` on: longer prompts cost more. Without --shots, the prompt as it is."""
    pool = exemplars(task.train, task.worked)
    count = min((config.shots + 1) // 2, len(pool))
    if not count:
        return lambda text, i: text
    return lambda text, i: compose(text, [pool[(i + j) % len(pool)] for j in range(count)])


def heldout_bill(
    config: Config,
    task: Task,
    prompts: Sequence[str],
    free: Callable[[str], bool],
    replies: Replies | None = None,
) -> Bill:
    """The bill of a test phase of ``prompts`` on ``task``'s test rows (``main.py test``):
    the requests the journal does not answer (``free(key)``)."""
    assert task.test is not None
    replies = replies or from_task(config, task)
    scoring = _Scoring(config, task, replies, free)
    phase = scoring.phase("test phase", prompts, scoring.rows(task.test.data.texts))
    return Bill([phase], 0, False, replies.basis, replies.upper)


def estimate(
    config: Config,
    task: Task,
    replies: Replies | None = None,
    free: Callable[[str], bool] = _never,
) -> Bill:
    """The plan of a run of ``config`` on ``task``, phase by phase, its answers as long as
    ``replies`` says (default: what the task asks for), less the scoring requests ``free``
    says a journal answers (the seeds' test rows, on a fork or a resume)."""
    replies = replies or from_task(config, task)
    pricer = _Pricer(config, "operator")
    seeds = list(dict.fromkeys(" ".join(p.split()) for p in config.seed_prompts))
    size = config.population_size
    seeds = seeds[:size]
    prompt_chars = sum(len(s) for s in seeds) // max(1, len(seeds))
    writer = for_role(config, "operator")
    backend = backend_spec(writer.backend)
    templates = load_templates(
        config.templates,
        completion=backend.completion_mode,
        task=describe_task(config, task.metric),
    )
    temperature = backend.evolve_temperature_for(config)

    def operator_phase(name: str, plans: list[Any], generation: int) -> Phase:
        requests = [operator_request(templates, p, 0, writer.model, temperature) for p in plans]
        phase = pricer.phase(name, requests, replies.operator or 2 * (prompt_chars // 4) + 24)
        return replace(phase, generation=generation)

    scoring = _Scoring(config, task, replies, free)
    dev_rows = scoring.rows(task.dev.texts)

    def scoring_phase(name: str, prompts: list[str], generation: int) -> Phase:
        return replace(scoring.phase(name, prompts, dev_rows), generation=generation)

    dressed = exemplar_stand_in(config, task)

    # Stand-ins for prompts not known yet: as long as the seeds, distinct from one another,
    # with as many exemplars as a prompt carries on average (--shots).
    def stand_in(i: int) -> str:
        return dressed(f"{seeds[i % len(seeds)]} ({i})", i)

    missing = range(size - len(seeds))
    paraphrases = [paraphrase(seeds[i % len(seeds)], f"init/para{i}") for i in missing]
    seeded = [dressed(seed, i) for i, seed in enumerate(seeds)]
    population = seeded + [stand_in(i) for i in missing]
    phases = []
    if paraphrases:
        phases.append(operator_phase("gen 0 paraphrase", paraphrases, 0))
    phases.append(scoring_phase("gen 0 scoring", population, 0))
    initial = len(phases)
    individuals = [Individual(text, 0.5, 0) for text in population]
    strategy = make_strategy(config.algorithm)
    rng = np.random.default_rng(config.seed)
    for generation in range(1, config.max_generations + 1):
        plans = strategy.plan(individuals, rng, generation)
        phases.append(operator_phase(f"gen {generation} breeding", plans, generation))
        children = [stand_in(generation * size + i) for i in range(len(plans))]
        phases.append(scoring_phase(f"gen {generation} scoring", children, generation))
    if task.test is not None and len(task.test.data):
        # the finalists: the seeds (the baseline), the best prompt and the top K (the seeds
        # assumed replaced by then, unless no generation runs); never pruned, so not named
        # "scoring"
        k = min(config.test_top_k, size)
        tested = len(seeds) if config.test_seeds == "all" else 1
        if config.max_generations:
            n = tested + k
        elif len(seeds) >= size:  # only seeds: the best one is the best prompt, in the top K
            n = min(size, max(tested, k))
        else:
            n = min(size, tested + k)
        finalists = seeded[: min(n, tested)] + [stand_in(-1 - i) for i in range(n - tested)]
        phases.append(scoring.phase("test phase", finalists, scoring.rows(task.test.data.texts)))
    lower = estimate(config, task, floor(task), free) if replies.upper else None
    return Bill(phases, initial, config.prune, replies.basis, replies.upper, lower)
