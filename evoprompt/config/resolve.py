"""Resolving a config: defaults < TOML < environment < flags, each value type-checked and the
whole validated, with one line naming the key for anything wrong."""

from __future__ import annotations

import difflib
import math
import os
import re
import sys
import urllib.parse
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from evoprompt.checkpoint.layout import is_safe_id
from evoprompt.checkpoint.nofollow import confine_to
from evoprompt.config.table import (
    AT_MOST,
    CHOICES,
    ENV_KEYS,
    NON_NEGATIVE,
    POSITIVE,
    Config,
    ConfigError,
)
from evoprompt.llm.transport import split_userinfo

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


def _check_type(key: str, value: Any, default: Any) -> Any:
    def bad(kind: str) -> ConfigError:
        return ConfigError(f"config key '{key}' must be {kind}, got {value!r}")

    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
        return value
    if isinstance(default, float):
        return _finite(key, value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise bad("a string")
        return value
    if isinstance(default, list):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad("a list of strings")
        return list(value)
    if not isinstance(value, dict):
        raise bad("a table")
    for model, price in value.items():
        if not isinstance(price, dict) or set(price) - {"prompt", "completion"}:
            raise ConfigError(
                f"prices.{model} must be a table with 'prompt' and 'completion' "
                "(USD per million tokens)"
            )
    return {
        model: {part: _finite(f"prices.{model}.{part}", v, at_least=0.0) for part, v in p.items()}
        for model, p in value.items()
    }


def _finite(key: str, value: Any, at_least: float | None = None) -> float:
    """Every float setting, in one place: a finite number (nan and inf pass every ``<`` check
    below, and a nan temperature or budget would be sent or compared as if it were one)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"config key '{key}' must be a number, got {value!r}")
    try:
        number = float(value)
    except OverflowError:  # an integer too large for a float
        number = math.inf
    if not math.isfinite(number):
        raise ConfigError(f"config key '{key}' must be a finite number, got {value!r}")
    if at_least is not None and number < at_least:
        raise ConfigError(f"config key '{key}' must be at least {at_least:g}, got {value!r}")
    return number


def validate(config: Config) -> Config:
    """Reject values that would fail later, with the key named."""
    for key, options in CHOICES.items():
        if getattr(config, key) not in options:
            raise ConfigError(
                f"config key '{key}' must be one of {', '.join(options)}, "
                f"got {getattr(config, key)!r}"
            )
    for key in POSITIVE:
        if getattr(config, key) <= 0:
            raise ConfigError(f"config key '{key}' must be greater than 0")
    for key in NON_NEGATIVE:
        if getattr(config, key) < 0:
            raise ConfigError(f"config key '{key}' must not be negative")
    for key, most in AT_MOST.items():
        if getattr(config, key) > most:
            raise ConfigError(
                f"config key '{key}' must be at most {most:g}, got {getattr(config, key)!r}"
            )
    if config.population_size < 2:
        raise ConfigError("config key 'population_size' must be at least 2 (evolution needs pairs)")
    if config.algorithm == "de" and config.population_size < 3:
        raise ConfigError("DE needs population_size >= 3 (two donors besides the individual)")
    if not config.seed_prompts or any(not p.strip() for p in config.seed_prompts):
        raise ConfigError("config key 'seed_prompts' needs at least one non-empty prompt")
    try:
        re.compile(config.answer_pattern)
    except re.error as exc:
        raise ConfigError(f"config key 'answer_pattern' is not a valid regex: {exc}") from None
    if not config.metric:
        raise ConfigError("config key 'metric' must name a metric, e.g. accuracy or exact_match")
    url = split_userinfo(config.base_url)[0]
    if config.base_url and not config.base_url.startswith(("http://", "https://")):
        raise ConfigError(f"base_url must start with http:// or https://, got {url!r}")
    try:
        urllib.parse.urlsplit(url).port  # noqa: B018 - parsing it is the check
    except ValueError as exc:
        raise ConfigError(f"base_url {url!r} is not a valid URL ({exc})") from None
    if config.track_uri and "://" not in config.track_uri and config.track_uri != "databricks":
        raise ConfigError(
            "config key 'track_uri' must be a tracking URI such as http://HOST:5000 or "
            f"sqlite:///PATH/mlflow.db, got {split_userinfo(config.track_uri)[0]!r}"
        )
    if not is_safe_id(config.name):
        raise ConfigError(
            f"config key 'name' must be letters, digits, '.', '_' or '-', and not start with "
            f"'.' or '-' (it names the experiment folder): {config.name!r}"
        )
    return config


def apply(config: Config, values: dict[str, Any], origin: str) -> Config:
    """``config`` with ``values`` laid over it; unknown keys are an error naming the closest
    key."""
    known = {f.name: f for f in fields(Config)}
    checked: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"unknown config key '{key}' in {origin}{hint}")
        checked[key] = _check_type(key, value, getattr(Config(), key))
    return replace(config, **checked)


def load_toml(path: Path, what: str, hint: str) -> dict[str, Any]:
    """A TOML file's table; one ConfigError naming ``what`` when it is missing or malformed."""
    try:
        raw: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} not found ({hint})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{what} {path} is not valid TOML: {exc}") from None
    return raw


def read_toml(path: Path) -> dict[str, Any]:
    """A config file; its ``name`` defaults to the file's stem."""
    raw = load_toml(path, "config file", "see configs/ for examples")
    raw.setdefault("name", path.stem)
    return raw


def env_values(environ: dict[str, str] | None = None) -> dict[str, Any]:
    environ = dict(os.environ) if environ is None else environ
    values: dict[str, Any] = {
        key: environ[var] for var, key in ENV_KEYS.items() if environ.get(var)
    }
    if environ.get("EVOPROMPT_DISABLE_CHECKPOINT", "") not in ("", "0"):
        values["checkpoint"] = False
    return values


def env_seconds(var: str, default: float, *, zero: bool = False) -> float:
    """A duration from the environment variable ``var`` (``default`` when unset); ConfigError
    naming it when it is not a finite number of seconds above 0 (or 0 itself, with ``zero``)."""
    raw = os.environ.get(var, "")
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not (value >= 0 if zero else value > 0) or value == float("inf"):
        least = "0 or more" if zero else "above 0"
        raise ConfigError(f"{var} must be a number of seconds {least}, not {raw!r}")
    return value


def result_root(given: str | None) -> Path:
    """The folder holding the experiments: the flag, else $EVOPROMPT_RESULT_DIR, else the
    default (for the commands that read experiments without resolving a whole config). Nothing
    below it may be a symbolic link (:mod:`evoprompt.checkpoint.nofollow`)."""
    return confine_to(Path(given or os.environ.get("EVOPROMPT_RESULT_DIR") or Config.result_dir))


def resolve(
    *,
    toml: dict[str, Any] | None,
    env: dict[str, Any],
    flags: dict[str, Any],
    base: dict[str, Any] | None = None,
) -> Config:
    """Build the config: ``base`` (a stored config) or defaults < TOML < env < flags. Not yet
    settled: ``auto`` choices stay (:func:`evoprompt.llm.backends.settle`)."""
    config = Config()
    if base is not None:
        config = apply(config, base, "the stored config.json")
    config = apply(config, toml or {}, "the config file")
    config = apply(config, env, "the environment")
    config = apply(config, flags, "the command line")
    return validate(config)
