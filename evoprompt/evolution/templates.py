"""Operator templates: which text asks the LLM for each operator's child, and rendering it.

The built-in families come from the operators the registered strategies (and the paraphrase)
declare: ``chat`` for chat models, ``completion`` for base models. A user TOML file maps
operator names to chat templates for just the operators it overrides; each must use exactly
the placeholders its operator declares, and may use ``{task}``: a one-line description of the
task (``task_description``, else one derived from the labels or the metric, :func:`task_line`).

The built-in set ``evoprompt`` opens every template with that line, as CAPO's and OPRO's
meta-prompts give their writer the task; ``evoprompt-v1`` is the same set without it, what
experiments created before ``{task}`` existed were bred with (their stored config names it, so
their resumes and forks ask exactly what their journals answer).
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from evoprompt.config import BUILTIN_TEMPLATES, ConfigError, load_toml
from evoprompt.strategies.registry import operators

TASK = "task"  # the placeholder every template may use
# The task line the built-in set opens each template with, in the chat and completion forms.
_TASK_LINE = {False: "Task of the prompts: {task}\n\n", True: "Task: {task}\n\n"}


@dataclass(frozen=True)
class Templates:
    texts: dict[str, str]  # operator name -> template
    completion: bool = False
    task: str = ""  # what ``{task}`` stands for

    def render(self, operator: str, **values: str) -> str:
        return self.texts[operator].format(**{TASK: self.task, **values})


def load_templates(name: str, *, completion: bool, task: str = "") -> Templates:
    """The built-in family for the backend's mode, or the chat family with a file's overrides;
    ``task``: the line ``{task}`` stands for (see :func:`task_line`)."""
    known = operators()
    if name in BUILTIN_TEMPLATES:
        line = _TASK_LINE[completion] if name == BUILTIN_TEMPLATES[0] else ""
        return Templates(
            {op.name: line + (op.completion if completion else op.chat) for op in known.values()},
            completion,
            task,
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
    chat = load_templates(BUILTIN_TEMPLATES[0], completion=False).texts
    return Templates(
        {op.name: raw.get(op.name, chat[op.name]) for op in known.values()}, completion, task
    )


def _check(path: Path, operator: str, text: object, wanted: frozenset[str]) -> None:
    if not isinstance(text, str):
        raise ConfigError(f"templates file {path} needs a string '{operator}'")
    try:
        # "{}" parses as the field "" (positional): counted, so it is refused below.
        used = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
    except ValueError as exc:  # unbalanced braces; write literal ones as {{ and }}
        raise ConfigError(f"template '{operator}' in {path}: {exc}") from None
    if used - {TASK} != wanted:
        raise ConfigError(
            f"template '{operator}' in {path} must use exactly the placeholders "
            f"{', '.join(sorted('{' + w + '}' for w in wanted))} (and may use {{{TASK}}})"
        )


# How an open answer is scored, for the task line of a run whose metric has no labels.
_SCORED = {
    "exact_match": "the answer must match the reference exactly",
    "f1": "the answer is scored by word overlap (F1) with the reference",
    "contains": "the answer must contain the reference",
    "rouge_l": "the answer is scored by ROUGE-L against a reference text",
}


def task_line(description: str, metric: str, labels: Sequence[str]) -> str:
    """What ``{task}`` stands for: ``description`` (``task_description``) when given, else
    one derived from the task: the label set of a classification, or how answers are scored."""
    if description.strip():
        return " ".join(description.split())
    if labels:
        return f"classify each input as one of: {', '.join(labels)}"
    scored = _SCORED.get(metric, f"answers are scored by {metric}")
    return f"answer each input; {scored}"
