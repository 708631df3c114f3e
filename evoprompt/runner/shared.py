"""Resources several experiments in one process share: one limiter and one transport per
endpoint, and one budget across all of them (a sweep runs its cells this way).

With these, ``--concurrency`` bounds the requests in flight against an endpoint however many
experiments use it, ``--max-cost`` and friends bound the spending of all of them together, and
experiments on the embedded model load it once.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from evoprompt.config import Config
from evoprompt.llm.backends import backend_spec
from evoprompt.llm.budget import Budget
from evoprompt.llm.client import LLMClient
from evoprompt.llm.limiter import AdaptiveLimiter
from evoprompt.llm.types import Backend, LLMRequest, LLMResponse, Pinging, Splitting

Endpoint = tuple[str, str]  # (backend name, base URL)


def endpoint(config: Config) -> Endpoint:
    return config.backend, config.base_url


@dataclass(frozen=True)
class PooledBudget(Budget):
    """A budget checked against the totals of every client in the pool, so the limits hold
    for all experiments together: the calling client's own totals and calls on the wire are
    replaced by the sums over the pool (a closed client's journal keeps its totals)."""

    clients: list[LLMClient] = field(default_factory=list, compare=False)

    def exceeded(self, totals: dict[str, float], reserved_calls: int) -> str | None:
        pooled = {"calls": 0.0, "tokens": 0.0, "cost": 0.0}
        for client in self.clients:
            for name, value in client.journal.totals().items():
                pooled[name] += value
        return super().exceeded(pooled, sum(client.in_flight for client in self.clients))


class _Borrowed:
    """A shared transport handed to one experiment: closing the experiment leaves it open
    for the others (the owner closes it once, at the end)."""

    def __init__(self, backend: Backend):
        self.name = backend.name
        self._backend = backend

    async def complete(self, request: LLMRequest) -> LLMResponse:
        return await self._backend.complete(request)

    def parts(self, request: LLMRequest) -> tuple[LLMRequest, ...]:
        backend = self._backend
        return backend.parts(request) if isinstance(backend, Splitting) else ()

    async def ping(self) -> None:
        if isinstance(self._backend, Pinging):
            await self._backend.ping()

    async def aclose(self) -> None:
        return None


class Shared:
    """What the experiments of one process share; built from the settings common to them
    (concurrency, rpm/tpm, budgets). Close it with :meth:`aclose` after the last one."""

    def __init__(self, config: Config, api_key: str):
        self.config = config
        self.api_key = api_key
        self.budget = PooledBudget(config.max_calls, config.max_tokens_total, config.max_cost)
        self._limiters: dict[Endpoint, AdaptiveLimiter] = {}
        self._backends: dict[Endpoint, Backend] = {}

    def limiter(self, config: Config) -> AdaptiveLimiter:
        key = endpoint(config)
        if key not in self._limiters:
            common = self.config
            self._limiters[key] = AdaptiveLimiter(
                common.concurrency, rpm=common.rpm, tpm=common.tpm
            )
        return self._limiters[key]

    def backend(self, config: Config) -> Backend:
        key = endpoint(config)
        if key not in self._backends:
            build = backend_spec(config.backend).build
            self._backends[key] = build(self.config_for(config), self.api_key)
        return _Borrowed(self._backends[key])

    def config_for(self, config: Config) -> Config:
        """The cell's config with the shared transport settings (one pool per endpoint)."""
        return replace(config, concurrency=self.config.concurrency)

    def join(self, client: LLMClient) -> None:
        """Count this client's spending against the pooled budget."""
        self.budget.clients.append(client)

    def peak(self) -> int:
        """The most requests ever in flight against one endpoint (for tests and reports)."""
        return max((limiter.peak for limiter in self._limiters.values()), default=0)

    async def aclose(self) -> None:
        for backend in self._backends.values():
            await backend.aclose()
        self._backends.clear()
