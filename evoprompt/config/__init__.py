"""Experiment configuration: one flat table of typed keys, resolved defaults < TOML < env < flags.

Every key can be set in a TOML file and overridden by the flag ``--key-with-dashes``; the table
(:mod:`evoprompt.config.table`) is the single source for both, so the CLI, the TOML loader and
the docs never drift; :mod:`evoprompt.config.resolve` layers and validates the sources.
"""

from evoprompt.config.help import HELP
from evoprompt.config.resolve import (
    apply,
    env_seconds,
    env_values,
    load_toml,
    read_toml,
    resolve,
    result_root,
    validate,
)
from evoprompt.config.table import (
    BUILTIN_TEMPLATES,
    CHOICES,
    DEFAULT_SEED_PROMPTS,
    ENV_KEYS,
    GUARDED,
    NON_NEGATIVE,
    POSITIVE,
    Config,
    ConfigError,
)

__all__ = [
    "BUILTIN_TEMPLATES",
    "CHOICES",
    "DEFAULT_SEED_PROMPTS",
    "ENV_KEYS",
    "GUARDED",
    "HELP",
    "NON_NEGATIVE",
    "POSITIVE",
    "Config",
    "ConfigError",
    "apply",
    "env_seconds",
    "env_values",
    "load_toml",
    "read_toml",
    "resolve",
    "result_root",
    "validate",
]
