"""The two roles of a run: the task model answers the dev and test rows, the operator writes
the prompts (GA/DE operator calls and paraphrases).

Each role has its own backend, model, endpoint, key, limits, prices and budget. The operator's
settings are the ``operator_*`` keys of the config table; each left at its default ("" or 0)
is the task's, so a run that names no operator behaves as one with a single model.
:func:`for_role` gives the settings a role's backend, limiter and client are built from, in the
same :class:`Config` shape every backend already reads.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal

from evoprompt.config.table import Config

Role = Literal["task", "operator"]
ROLES: tuple[Role, ...] = ("task", "operator")
OPERATOR_KEY_ENV = "EVOPROMPT_OPERATOR_API_KEY"

# task key -> the operator's key for the same setting (each defaults to the task's).
OPERATOR_KEYS = {
    "backend": "operator_backend",
    "model": "operator_model",
    "base_url": "operator_base_url",
    "fallback_model": "operator_fallback_model",
    "timeout": "operator_timeout",
    "concurrency": "operator_concurrency",
    "rpm": "operator_rpm",
    "tpm": "operator_tpm",
    "max_retries": "operator_max_retries",
    "prices": "operator_prices",
    "max_calls": "operator_max_calls",
    "max_tokens_total": "operator_max_tokens_total",
    "max_cost": "operator_max_cost",
}
# The operator's own budget: none of these falls back to the run's total (which still holds).
_OWN = ("max_calls", "max_tokens_total", "max_cost")
TABLE = "operator"  # the TOML table whose keys are the operator's (``[operator] model = ...``)


def for_role(config: Config, role: Role) -> Config:
    """The settings ``role``'s backend, limiter, retries and budget are built from: the task's
    config itself, or a copy with each operator setting given in place of the task's.
    ``max_calls``, ``max_tokens_total`` and ``max_cost`` of the operator's copy are its own
    budget (0: none); prices are the task's with the operator's on top."""
    if role == "task":
        return config
    # Another backend has its own endpoint: the task's base URL is never the operator's.
    apart = config.operator_backend not in ("", "auto", config.backend)
    changes: dict[str, Any] = {}
    for key, own in OPERATOR_KEYS.items():
        value = getattr(config, own)
        if key == "prices":
            changes[key] = {**config.prices, **value}
        elif value or key in _OWN or (apart and key == "base_url"):
            changes[key] = value
    return replace(config, **changes)


def flatten_operator_table(values: dict[str, Any]) -> dict[str, Any]:
    """A config file's ``[operator]`` table as the flat ``operator_*`` keys (``prices`` inside
    it is the operator's price table); every other key as it is."""
    table = values.get(TABLE)
    if not isinstance(table, dict):
        return values
    flat = {k: v for k, v in values.items() if k != TABLE}
    for key, value in table.items():
        flat[f"operator_{key}"] = value
    return flat
