"""The config table: every key with its type, default, bounds, choices and help text.

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
    metric: str = "accuracy"
    answer_pattern: str = ""
    max_tokens: int = 0
    # held-out test (scored once, after the last generation)
    test_size: int = 500
    test_dataset: str = ""
    test_top_k: int = 3
    # evolution
    algorithm: str = "ga"
    population_size: int = 6
    max_generations: int = 3
    seed: int = 7
    templates: str = "evoprompt"
    evolve_temperature: float = 0.5
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

    def to_dict(self) -> dict[str, Any]:
        """The settings as stored in config.json: credentials in URLs are left out."""
        return {
            **asdict(self),
            "base_url": split_userinfo(self.base_url)[0],
            "track_uri": split_userinfo(self.track_uri)[0],
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
}
# Upper bounds, where a larger value is refused by every endpoint (OpenAI's temperature range).
AT_MOST = {"evolve_temperature": 2.0}

HELP: dict[str, str] = {
    "name": "config name; the experiment id defaults to NAME_YYYYMMDD_HHMMSS",
    "dataset": "built-in dataset (sentiment, code_vuln, arith, summarize) or a .csv/.tsv/.jsonl "
    "file",
    "text_column": "column holding the input text",
    "label_column": "column holding the gold value: the label, or the reference answer",
    "labels": "allowed labels, space-separated (a TOML list in a config file); default: the "
    "labels found in the data",
    "dev_size": "dev samples each prompt is scored on",
    "seed_prompts": "initial prompts, space-separated, each quoted (a TOML list in a config "
    "file); topped up with LLM paraphrases",
    "metric": "how an output is scored: accuracy, exact_match, f1, contains, rouge_l or "
    "python:MODULE:FUNCTION",
    "answer_pattern": "regex whose group 1 (last match) is the answer the metric compares",
    "max_tokens": "completion cap of scoring calls (0 = the metric's: 16 for accuracy, 256 else)",
    "test_size": "held-out test rows: at most N rows not used for dev (0: no test phase)",
    "test_dataset": "test set file with the dataset's columns (default: held out of --dataset)",
    "test_top_k": "test the top K of the final population (besides the best and the seeds)",
    "algorithm": "evolution algorithm",
    "population_size": "prompts in the population",
    "max_generations": "generations after the initial population; raise it with "
    "--experiment-id ID to extend a finished run",
    "seed": "seed of the experiment's random generator and of the dev split",
    "templates": "operator templates: 'evoprompt' (built in) or a TOML file overriding any of "
    "ga/de/paraphrase",
    "evolve_temperature": "sampling temperature of evolution calls (scoring always uses 0); "
    "a backend may fix its own (the local base model uses 1.0)",
    "backend": "openai (any OpenAI-compatible endpoint), local (embedded Gemma) or auto",
    "scorer": "generate (parse the answer) or loglik (compare label log-probabilities)",
    "model": "model name sent to the endpoint (default gpt-4o-mini, or the local Gemma)",
    "base_url": "endpoint base URL, e.g. https://api.openai.com/v1",
    "fallback_model": "model used for a call whose retries on the primary ran out",
    "timeout": "seconds before one HTTP request is abandoned and retried",
    "http_client": "HTTP library of the openai backend: aiohttp (a quarter of httpx's CPU per "
    "request) or httpx",
    "concurrency": "maximum requests in flight",
    "rpm": "requests per minute limit (0 = none)",
    "tpm": "estimated tokens per minute limit (0 = none)",
    "max_retries": "attempts per call, the first included",
    "retry_delay": "base delay in seconds between attempts",
    "retry_strategy": "exponential (delay * 2**(attempt-1)) or linear (delay)",
    "max_retry_wait": "cap in seconds on any wait, Retry-After included",
    "max_outage": "seconds an endpoint that answered before may stay away (all calls paused, "
    "probed) before the run saves and exits 75 (0 = exit at once)",
    "max_calls": "stop after this many network calls (0 = unlimited)",
    "max_tokens_total": "stop after this many prompt+completion tokens (0 = unlimited)",
    "max_cost": "stop after this estimated cost in USD (0 = unlimited; needs prices)",
    "prices": 'USD per 1M tokens per model, e.g. \'{"gpt-4o-mini": {"prompt": 0.15, '
    '"completion": 0.6}}\' (a [prices.MODEL] table in a config file)',
    "batch_size": "dev samples per evaluated (and checkpointed) batch",
    "prune": "stop scoring a child once it provably cannot survive selection (same result, "
    "fewer calls; --no-prune scores every child in full)",
    "result_dir": "folder holding one sub-folder per experiment",
    "checkpoint": "write checkpoints and the journal (flag: --no-checkpoint)",
    "cleanup_every": "prune old history and batch files every N generations",
    "keep_last_n": "history and batch files kept by the pruning",
    "track": "also log the run to an experiment tracker: mlflow (pip install 'evoprompt[mlflow]'); "
    "never slows or stops the run",
    "track_uri": "tracking server or store (default: $MLFLOW_TRACKING_URI, else "
    "sqlite:///<result-dir>/mlflow.db)",
}

ENV_KEYS = {
    "OPENAI_BASE_URL": "base_url",
    "EVOPROMPT_RESULT_DIR": "result_dir",
    "MLFLOW_TRACKING_URI": "track_uri",
}
