"""Operator templates: which text asks the LLM for each operator's child, and rendering it.

The built-in families come from the operators the registered strategies (and the paraphrase)
declare: ``chat`` for chat models, ``completion`` for base models. A user TOML file maps
operator names to chat templates for just the operators it overrides; each must use exactly
the placeholders its operator declares.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path

from evoprompt.config import ConfigError, load_toml
from evoprompt.strategies.registry import operators


@dataclass(frozen=True)
class Templates:
    texts: dict[str, str]  # operator name -> template
    completion: bool = False

    def render(self, operator: str, **values: str) -> str:
        return self.texts[operator].format(**values)


def load_templates(name: str, *, completion: bool) -> Templates:
    """The built-in family for the backend's mode, or the chat family with a file's overrides."""
    known = operators()
    if name == "evoprompt":
        return Templates(
            {op.name: op.completion if completion else op.chat for op in known.values()},
            completion,
        )
    path = Path(name)
    raw = load_toml(path, "templates file", "or use templates = 'evoprompt'")
    unknown = [operator for operator in raw if operator not in known]
    if unknown:
        raise ConfigError(
            f"templates file {path} names unknown operator(s) {', '.join(unknown)}; "
            f"known operators: {', '.join(known)}"
        )
    for operator, text in raw.items():
        _check(path, operator, text, known[operator].placeholders)
    return Templates({op.name: raw.get(op.name, op.chat) for op in known.values()}, completion)


def _check(path: Path, operator: str, text: object, wanted: frozenset[str]) -> None:
    if not isinstance(text, str):
        raise ConfigError(f"templates file {path} needs a string '{operator}'")
    try:
        # "{}" parses as the field "" (positional): counted, so it is refused below.
        used = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
    except ValueError as exc:  # unbalanced braces; write literal ones as {{ and }}
        raise ConfigError(f"template '{operator}' in {path}: {exc}") from None
    if used != wanted:
        raise ConfigError(
            f"template '{operator}' in {path} must use exactly the placeholders "
            f"{', '.join(sorted('{' + w + '}' for w in wanted))}"
        )
