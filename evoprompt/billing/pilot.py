"""``--pilot N``: N real scoring calls made by a dry run, to measure how long the task's
answers are (an open answer may run anywhere up to ``max_tokens``).

The seed prompts are asked about the first dev rows through the normal client (retries, rate
limits, prices) with an in-memory journal: nothing is written and no experiment folder is
made. So the answers are not kept for the run (no experiment exists yet to keep them in): a
run made afterwards pays for those N calls again. The dry run's guard against building a
backend is lifted for this one backend only (:func:`calls_lifted`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from evoprompt.billing.phases import Phase
from evoprompt.billing.replies import Replies, rows
from evoprompt.checkpoint.journal import Journal
from evoprompt.config import Config
from evoprompt.evaluation.scorers import make_scorer
from evoprompt.llm.backends import backend_spec
from evoprompt.llm.budget import Prices
from evoprompt.llm.client import LLMClient
from evoprompt.llm.dry_run_guard import calls_lifted
from evoprompt.llm.limiter import AdaptiveLimiter
from evoprompt.llm.retry import RetryPolicy
from evoprompt.llm.types import LLMRequest, LLMResponse
from evoprompt.runner.task import Task


@dataclass(frozen=True)
class Pilot:
    """What the pilot measured (the mean completion of a scoring answer) and what it paid."""

    replies: Replies
    spent: Phase


def requests(config: Config, task: Task, calls: int) -> list[LLMRequest]:
    """The pilot's scoring requests: the seed prompts in turn on the first dev rows."""
    scorer = make_scorer(config, task.metric)
    seeds = list(dict.fromkeys(" ".join(p.split()) for p in config.seed_prompts))
    texts = rows(task.dev.texts, loglik=False)
    count = min(calls, len(seeds) * len(texts))
    return [scorer.request(seeds[i % len(seeds)], texts[i // len(seeds)]) for i in range(count)]


def run_pilot(config: Config, task: Task, calls: int, api_key: str) -> Pilot:
    """Make the pilot's calls (raises what :meth:`LLMClient.call` raises when one fails)."""
    asked = requests(config, task, calls)
    journal = Journal(None)
    with calls_lifted():
        transport = backend_spec(config.backend).build(config, api_key)
    client = LLMClient(
        transport,
        journal,
        policy=RetryPolicy(
            config.max_retries, config.retry_delay, config.retry_strategy, config.max_retry_wait
        ),
        limiter=AdaptiveLimiter(config.concurrency, rpm=config.rpm, tpm=config.tpm),
        prices=Prices(config.prices),
        fallback_model=config.fallback_model,
    )
    answers = asyncio.run(_ask(client, asked))
    stats = journal.stats()
    journal.close()
    # an endpoint that reports no usage: the answer's length, 4 characters a token
    tokens = [a.usage.completion_tokens or len(a.text) // 4 + 1 for a in answers]
    replies = Replies(sum(tokens) / len(tokens), f"pilot of {len(tokens)} calls")
    spent = Phase(
        "pilot",
        stats["calls"],
        stats["prompt_tokens"],
        stats["completion_tokens"],
        stats["cost_usd"],
    )
    return Pilot(replies, spent)


async def _ask(client: LLMClient, asked: list[LLMRequest]) -> list[LLMResponse]:
    try:
        return list(await asyncio.gather(*(client.call(request) for request in asked)))
    finally:
        await client.aclose()
