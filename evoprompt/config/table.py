"""The config table: every key with its type, default, bounds and choices (help text:
:mod:`evoprompt.config.help`).

One flat dataclass is the single source for the TOML loader, the flags and the docs, so
they never drift. Registry-backed choices (strategies, HTTP transports) are read lazily; the
backend's is checked where the backends are registered, when the config is settled
(:func:`evoprompt.llm.backends.settle`), so this package imports nothing that imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from evoprompt.llm.transport import split_userinfo

DEFAULT_SEED_PROMPTS = (
    "Classify the text into one of the given labels.",
    "Read the input and decide which label best describes it.",
)

# The built-in operator template sets: with the {task} line (the default), and without it (what
# experiments created before {task} existed used: evoprompt.evolution.templates).
BUILTIN_TEMPLATES = ("evoprompt", "evoprompt-v1")

# Fields that define *which* experiment this is: resuming under a different value is refused
# (the spec's six, plus what changes the dev set, the scoring or the sampled calls' keys).
GUARDED = (
    "dataset",
    "model",
    "algorithm",
    "population_size",
    "seed",
    "templates",
    "text_column",
    "label_column",
    "labels",
    "dev_size",
    "seed_prompts",
    "scorer",
    "evolve_temperature",
    "metric",
    "answer_pattern",
    "max_tokens",
    "test_size",
    "test_dataset",
    "test_top_k",
    "test_seeds",
    "operator_model",
    "task_description",
    "shots",
    "train_size",
    "length_penalty",
    "worked_column",
)


class ConfigError(ValueError):
    """Bad configuration: the message says what is wrong and how to fix it."""


@dataclass(frozen=True)
class Config:
    """The resolved settings of one experiment (never holds the API key). Immutable: a
    changed setting is a new config (``dataclasses.replace``), so a config handed to a run is
    the one it keeps."""

    name: str = "default"
    # task and data
    dataset: str = "sentiment"
    text_column: str = "text"
    label_column: str = "label"
    labels: list[str] = field(default_factory=list)
    dev_size: int = 48
    seed_prompts: list[str] = field(default_factory=lambda: list(DEFAULT_SEED_PROMPTS))
    seed_prompts_from: str = ""
    metric: str = "accuracy"
    answer_pattern: str = ""
    max_tokens: int = 0
    # held-out test (scored once, after the last generation)
    test_size: int = 500
    test_dataset: str = ""
    test_top_k: int = 3
    test_seeds: str = "all"
    # evolution
    algorithm: str = "ga"
    population_size: int = 6
    max_generations: int = 3
    seed: int = 7
    templates: str = "evoprompt"
    evolve_temperature: float = 0.5
    shots: int = 0
    train_size: int = 0
    length_penalty: float = 0.0
    worked_column: str = "worked"
    # LLM
    backend: str = "auto"
    scorer: str = "auto"
    model: str = ""
    base_url: str = ""
    fallback_model: str = ""
    timeout: float = 60.0
    http_client: str = "aiohttp"
    concurrency: int = 8
    rpm: int = 0
    tpm: int = 0
    max_retries: int = 3
    retry_delay: float = 1.0
    retry_strategy: str = "exponential"
    max_retry_wait: float = 60.0
    max_outage: float = 900.0
    # budgets (0 = unlimited)
    max_calls: int = 0
    max_tokens_total: int = 0
    max_cost: float = 0.0
    prices: dict[str, dict[str, float]] = field(default_factory=dict)
    # evaluation and checkpoints
    batch_size: int = 16
    prune: bool = True
    result_dir: str = "result"
    checkpoint: bool = True
    cleanup_every: int = 3
    keep_last_n: int = 10
    # experiment tracking (evoprompt.tracking)
    track: str = "none"
    track_uri: str = ""
    # the operator role: the model that writes prompts (GA/DE operators, paraphrases). Each
    # setting left at its default ("" or 0) is the task's (evoprompt.config.roles)
    operator_backend: str = ""
    operator_model: str = ""
    operator_base_url: str = ""
    operator_fallback_model: str = ""
    operator_timeout: float = 0.0
    operator_concurrency: int = 0
    operator_rpm: int = 0
    operator_tpm: int = 0
    operator_max_retries: int = 0
    operator_prices: dict[str, dict[str, float]] = field(default_factory=dict)
    # the operator role's own budget, beside the run's total (0 = none of its own)
    operator_max_calls: int = 0
    operator_max_tokens_total: int = 0
    operator_max_cost: float = 0.0
    # the one-line task description operator templates get as {task} ("" = derived)
    task_description: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The settings as stored in config.json: credentials in URLs are left out."""
        return {
            **asdict(self),
            "base_url": split_userinfo(self.base_url)[0],
            "track_uri": split_userinfo(self.track_uri)[0],
            "operator_base_url": split_userinfo(self.operator_base_url)[0],
        }


class _Registered(Collection[str]):
    """The names in a registry (strategies, HTTP transports), imported at first use
    and read at each use: one registered later is valid too, and reading a config (as the
    inspection commands do) imports no strategy or transport code. The registries
    import this module, not the other way round."""

    def __init__(self, names: Callable[[], Collection[str]]):
        self._names = names

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())


def _strategy_names() -> Collection[str]:
    from evoprompt.strategies.registry import STRATEGIES

    return STRATEGIES.keys()


def _transport_names() -> Collection[str]:
    from evoprompt.llm.transport import TRANSPORTS

    return TRANSPORTS.keys()


CHOICES: dict[str, Collection[str]] = {
    "algorithm": _Registered(_strategy_names),
    "scorer": ("auto", "generate", "loglik"),
    "test_seeds": ("all", "best"),
    "retry_strategy": ("exponential", "linear"),
    "http_client": _Registered(_transport_names),
    "track": ("none", "mlflow"),
}
POSITIVE = {
    "dev_size",
    "population_size",
    "batch_size",
    "concurrency",
    "max_retries",
    "timeout",
    "cleanup_every",
    "keep_last_n",
    "test_top_k",
}
NON_NEGATIVE = {
    "test_size",
    "max_generations",
    "rpm",
    "tpm",
    "retry_delay",
    "max_retry_wait",
    "max_outage",
    "max_calls",
    "max_tokens_total",
    "max_cost",
    "max_tokens",
    "evolve_temperature",
    "seed",
    "operator_timeout",
    "operator_concurrency",
    "operator_rpm",
    "operator_tpm",
    "operator_max_retries",
    "operator_max_calls",
    "operator_max_tokens_total",
    "operator_max_cost",
    "shots",
    "train_size",
    "length_penalty",
}
# Upper bounds, where a larger value is refused by every endpoint (OpenAI's temperature range).
AT_MOST = {"evolve_temperature": 2.0}

ENV_KEYS = {
    "OPENAI_BASE_URL": "base_url",
    "EVOPROMPT_OPERATOR_BASE_URL": "operator_base_url",
    "EVOPROMPT_RESULT_DIR": "result_dir",
    "MLFLOW_TRACKING_URI": "track_uri",
}
