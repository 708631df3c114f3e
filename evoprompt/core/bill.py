"""The bill before paying it: calls, tokens and cost of a run, estimated without any call.

Prompt tokens come from the requests the run would actually send, rendered here and never
sent: the scorer's request for every dev row, the operator templates filled with the seed
prompts (later generations' prompts are assumed as long as the seeds). Tokens are counted as
``LLMRequest.estimated_tokens`` counts them (4 characters a token). Replies are guessed: a
label for a scoring call, about two prompts' worth (capped by ``max_tokens``) for an
operator call. Each child is assumed new and usable on its first try, so the call count is
what an unpruned run makes when no reply is dropped; pruning's saving is given as a range.
The held-out test phase is counted for the seeds plus ``test_top_k`` prompts (fewer when the
best prompts are seeds). A log-likelihood call to an endpoint is billed as one request per
label, what an ``echo_single`` server (llama.cpp) takes and the most any mode takes; the
content-free calibration row is one more call per prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from evoprompt.config import Config
from evoprompt.core.experiment import Task
from evoprompt.core.state import Individual
from evoprompt.evaluation.scorers import CONTENT_FREE, GenerateScorer, LoglikScorer
from evoprompt.evolution.operators import operator_request
from evoprompt.evolution.templates import load_templates
from evoprompt.llm.backends import backend_spec
from evoprompt.llm.budget import Prices
from evoprompt.llm.types import LLMRequest, LLMResponse, Usage
from evoprompt.strategies.paraphrase import paraphrase
from evoprompt.strategies.registry import make_strategy

# The range of generations 1+'s scoring calls pruning may save: nothing when children clear
# their bars (as on the test endpoint), up to a guessed 60% when most are far below it.
PRUNE_SAVING = (0.0, 0.6)


@dataclass(frozen=True)
class Phase:
    """One phase of the run: its calls and estimated tokens and cost."""

    name: str
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float

    def to_json(self) -> dict[str, Any]:
        return {
            "phase": self.name,
            "calls": self.calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": round(self.cost_usd, 6),
        }


@dataclass(frozen=True)
class Bill:
    phases: list[Phase]
    initial: int  # how many of ``phases`` make the initial population
    prune: bool

    def total(self, phases: list[Phase] | None = None) -> Phase:
        chosen = self.phases if phases is None else phases
        return Phase(
            "total",
            sum(p.calls for p in chosen),
            sum(p.prompt_tokens for p in chosen),
            sum(p.completion_tokens for p in chosen),
            sum(p.cost_usd for p in chosen),
        )

    def pruned_calls(self) -> tuple[int, int]:
        """The range of calls the whole run makes with pruning on (unpruned when off)."""
        total = self.total().calls
        if not self.prune:
            return total, total
        later = sum(p.calls for p in self.phases[self.initial :] if p.name.endswith("scoring"))
        low, high = PRUNE_SAVING
        return total - round(later * high), total - round(later * low)

    def to_json(self) -> dict[str, Any]:
        total = self.total().to_json()
        del total["phase"]
        low, high = self.pruned_calls()
        return {
            **total,
            "initial_population": _bare(self.total(self.phases[: self.initial])),
            "calls_with_pruning": [low, high],
            "phases": [p.to_json() for p in self.phases],
        }


def _bare(phase: Phase) -> dict[str, Any]:
    doc = phase.to_json()
    del doc["phase"]
    return doc


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
    def __init__(self, config: Config):
        self.prices = Prices(config.prices)
        self.model = config.model
        self.per_label = loglik_per_label(config)

    def phase(self, name: str, requests: list[LLMRequest], reply_tokens: int) -> Phase:
        if self.per_label:
            requests = [r for whole in requests for r in per_label(whole)]
        prompt = sum(_tokens(r) for r in requests)
        completion = sum(min(reply_tokens, r.max_tokens) for r in requests if r.kind != "loglik")
        cost = self.prices.cost(LLMResponse(usage=Usage(prompt, completion)), self.model)
        return Phase(name, len(requests), prompt, completion, cost)


def estimate(config: Config, task: Task) -> Bill:
    """The plan of a fresh run of ``config`` on ``task``, phase by phase."""
    pricer = _Pricer(config)
    seeds = list(dict.fromkeys(" ".join(p.split()) for p in config.seed_prompts))
    size = config.population_size
    seeds = seeds[:size]
    prompt_chars = sum(len(s) for s in seeds) // max(1, len(seeds))
    backend = backend_spec(config.backend)
    templates = load_templates(config.templates, completion=backend.completion_mode)
    temperature = backend.evolve_temperature_for(config)

    def operator_phase(name: str, plans: list[Any]) -> Phase:
        requests = [operator_request(templates, p, 0, config.model, temperature) for p in plans]
        return pricer.phase(name, requests, 2 * (prompt_chars // 4) + 24)

    labels = task.metric.choices()
    label_tokens = max((len(label) for label in labels), default=8) // 4 + 1
    scorer: GenerateScorer | LoglikScorer = (
        LoglikScorer(config.model, labels)
        if config.scorer == "loglik"
        else GenerateScorer(config.model, task.metric.hint())
    )

    def rows(data: Sequence[str]) -> list[str]:
        texts = list(dict.fromkeys(data))  # duplicate rows share one call
        if config.scorer == "loglik":
            texts.append(CONTENT_FREE)  # the calibration baseline, once per prompt
        return texts

    dev_rows = rows(task.dev.texts)

    def scoring_phase(name: str, prompts: list[str], texts: list[str] = dev_rows) -> Phase:
        requests = [scorer.request(prompt, text) for prompt in prompts for text in texts]
        return pricer.phase(name, requests, label_tokens)

    # Stand-ins for prompts not known yet: as long as the seeds, distinct from one another.
    def stand_in(i: int) -> str:
        return f"{seeds[i % len(seeds)]} ({i})"

    missing = range(size - len(seeds))
    paraphrases = [paraphrase(seeds[i % len(seeds)], f"init/para{i}") for i in missing]
    population = seeds + [stand_in(i) for i in missing]
    phases = []
    if paraphrases:
        phases.append(operator_phase("gen 0 paraphrase", paraphrases))
    phases.append(scoring_phase("gen 0 scoring", population))
    initial = len(phases)
    individuals = [Individual(text, 0.5, 0) for text in population]
    strategy = make_strategy(config.algorithm)
    rng = np.random.default_rng(config.seed)
    for generation in range(1, config.max_generations + 1):
        plans = strategy.plan(individuals, rng, generation)
        phases.append(operator_phase(f"gen {generation} breeding", plans))
        children = [stand_in(generation * size + i) for i in range(len(plans))]
        phases.append(scoring_phase(f"gen {generation} scoring", children))
    if task.test is not None and len(task.test.data):
        # the finalists: the best prompt, the seeds and the top K (seeds are assumed replaced
        # by then, unless no generation runs); never pruned, so not named "scoring"
        k = min(config.test_top_k, size)
        n = len(seeds) + k if config.max_generations else min(size, len(seeds) + k)
        finalists = [stand_in(-1 - i) for i in range(n)]
        phases.append(scoring_phase("test phase", finalists, rows(task.test.data.texts)))
    return Bill(phases, initial, config.prune)


def _over(phase: Phase, config: Config) -> str | None:
    """The first budget ``phase`` overruns, as the flag and the estimate, or None."""
    if config.max_calls and phase.calls > config.max_calls:
        return f"--max-calls {config.max_calls}: about {phase.calls} calls"
    tokens = phase.prompt_tokens + phase.completion_tokens
    if config.max_tokens_total and tokens > config.max_tokens_total:
        return f"--max-tokens-total {config.max_tokens_total}: about {tokens} tokens"
    if config.max_cost and phase.cost_usd > config.max_cost:
        return f"--max-cost {config.max_cost}: about ${phase.cost_usd:.4f}"
    return None


def judge_budget(bill: Bill, config: Config) -> tuple[str | None, str | None]:
    """(why the run is refused, a warning): refused when the budget cannot pay even for the
    initial population, warned when it may not pay for the whole run."""
    initial = _over(bill.total(bill.phases[: bill.initial]), config)
    if initial:
        return (
            f"the budget cannot cover even the initial population ({initial}); raise it",
            None,
        )
    whole = _over(bill.total(), config)
    if whole:
        return None, (
            f"warning: the budget may not cover the whole run ({whole}); it would stop and "
            "save, resumable with a larger budget"
        )
    return None, None
