"""The two clients of an experiment, one per role: the task client scores (dev and test), the
operator client writes prompts (GA/DE operator calls, paraphrases).

Each role's client talks to its own endpoint with its own retries, fallback model, prices and
budget (:mod:`evoprompt.config.roles`), and records its role and endpoint with every answer in
the one journal. Two roles at one endpoint with the same limits (as when no operator is named)
share its transport, limiter and outage pause, so such a run behaves as with one client; at
two endpoints each has its own, so a slow operator never narrows the scoring window, and an
operator outage pauses breeding (which needs it) while nothing answered is lost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from evoprompt.checkpoint.journal import Journal
from evoprompt.config import Config
from evoprompt.config.roles import Role, for_role
from evoprompt.display import Display
from evoprompt.llm.backends import backend_spec
from evoprompt.llm.budget import Prices
from evoprompt.llm.client import LLMClient
from evoprompt.llm.limiter import AdaptiveLimiter
from evoprompt.llm.retry import RetryPolicy
from evoprompt.llm.transport import split_userinfo
from evoprompt.llm.types import Backend
from evoprompt.runner.shared import PooledBudget, Shared, borrowed, role_budget

_TRANSPORT = ("backend", "base_url", "timeout", "http_client")  # one transport serves both
_LIMITS = ("concurrency", "rpm", "tpm")  # and, with these too, one limiter and outage pause


def endpoint_name(config: Config) -> str:
    """What the journal records as the endpoint: backend and base URL, no credentials."""
    url = split_userinfo(config.base_url)[0]
    return f"{config.backend} {url}" if url else config.backend


@dataclass(frozen=True)
class Transports:
    """Each role's transport, built before the journal is opened (a refused setting stops the
    run with nothing in the folder changed). ``shared_by_roles``: one serves both."""

    task: Backend
    operator: Backend
    shared_by_roles: bool


def same(config: Config, keys: tuple[str, ...], task_key: str, operator_key: str) -> bool:
    operator = for_role(config, "operator")
    return task_key == operator_key and all(
        getattr(operator, key) == getattr(config, key) for key in keys
    )


def build_transports(
    config: Config, task_key: str, operator_key: str, shared: Shared | None
) -> Transports:
    def build(role: Role, key: str) -> Backend:
        settings = for_role(config, role)
        if shared:
            return shared.backend(settings, key, role)
        return backend_spec(settings.backend).build(settings, key)

    task = build("task", task_key)
    if same(config, _TRANSPORT, task_key, operator_key):
        return Transports(task, borrowed(task), True)
    return Transports(task, build("operator", operator_key), False)


@dataclass(frozen=True)
class Clients:
    task: LLMClient
    operator: LLMClient

    @property
    def both(self) -> tuple[LLMClient, ...]:
        return (self.task, self.operator)

    @property
    def separate_limits(self) -> bool:
        return self.task.limiter is not self.operator.limiter


def build_clients(
    config: Config,
    transports: Transports,
    journal: Journal,
    *,
    display: Display,
    shared: Shared | None,
    learned: Callable[[Role], int],
) -> Clients:
    """Both roles' clients over ``journal``. The run's total budget is pooled over both, the
    operator's own budget (if any) over its calls alone; through ``shared``, each over every
    experiment of a sweep."""
    budget = (
        shared.budget
        if shared
        else PooledBudget(config.max_calls, config.max_tokens_total, config.max_cost)
    )
    # one transport (one key) and the same limits: one limiter and one outage pause
    one_endpoint = transports.shared_by_roles and same(config, _LIMITS, "", "")

    def client(role: Role, limiter: AdaptiveLimiter | None, like: LLMClient | None) -> LLMClient:
        settings = for_role(config, role)
        own = shared.operator_budget if shared and role == "operator" else role_budget(config, role)
        if limiter is None:
            limiter = (
                shared.limiter(settings, role)
                if shared
                else AdaptiveLimiter(
                    settings.concurrency, rpm=settings.rpm, tpm=settings.tpm, learned=learned(role)
                )
            )
        made = LLMClient(
            transports.task if role == "task" else transports.operator,
            journal,
            policy=RetryPolicy(
                settings.max_retries,
                settings.retry_delay,
                settings.retry_strategy,
                settings.max_retry_wait,
            ),
            limiter=limiter,
            budget=budget,
            prices=Prices(settings.prices),
            fallback_model=settings.fallback_model,
            on_retry=display.retry,
            max_outage=settings.max_outage,
            on_probe=display.outage,
            on_notice=display.line,
            role=role,
            endpoint=endpoint_name(settings),
            role_budget=own,
            outage=like.outage if like is not None else None,
        )
        for pool in (budget, own):
            if pool is not None:
                pool.clients.append(made)
        return made

    task = client("task", None, None)
    if one_endpoint:
        operator = client("operator", task.limiter, task)
    else:
        operator = client("operator", None, None)
    return Clients(task, operator)
