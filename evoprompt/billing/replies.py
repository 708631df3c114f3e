"""How long the answers a bill prices are, and the basis of that figure.

A scoring call's completion is what the task asks for: a label's few tokens for
classification, but for open answers (worked arithmetic, summaries) anything up to
``max_tokens``, which no rule guesses well. So the figure is measured where it can be: the
experiment's own journal (a resume, a fork, a test phase) or a pilot of a few real calls
(``--pilot N``, :mod:`evoprompt.billing.pilot`). Failing both, an open answer is priced at
``max_tokens``: an upper bound, labelled so, which a budget check only warns about.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from evoprompt.checkpoint.journal_rows import open_readonly
from evoprompt.checkpoint.layout import Layout
from evoprompt.config import Config
from evoprompt.config.roles import for_role
from evoprompt.evaluation.scorers import CONTENT_FREE, make_scorer
from evoprompt.evolution.extract import CLOSE, OPEN, extract_prompt
from evoprompt.llm.backends import backend_spec
from evoprompt.runner.task import Task

MIN_ANSWERS = 8  # journaled answers of a kind below which their mean is not trusted


@dataclass(frozen=True)
class Replies:
    """Completion tokens of one scoring answer and of one operator answer (None: about two
    prompts' worth), and what they rest on; ``upper``: ``scoring`` is the cap, not a guess."""

    scoring: float
    basis: str
    operator: float | None = None
    upper: bool = False


def label_tokens(labels: Sequence[str]) -> int:
    """A label's tokens (4 characters a token); 3 when there is no label set."""
    return max((len(label) for label in labels), default=8) // 4 + 1


def from_task(config: Config, task: Task) -> Replies:
    """What the task asks for: a label, or for open answers at most ``max_tokens``."""
    labels = task.metric.choices()
    if labels or config.scorer == "loglik":
        return Replies(label_tokens(labels), "labels")
    cap = config.max_tokens or task.metric.max_tokens
    return Replies(cap, f"upper bound (max_tokens {cap}; --pilot N measures it)", upper=True)


def floor(task: Task) -> Replies:
    """The least a scoring answer plausibly costs (what a budget refusal is judged on)."""
    return Replies(label_tokens(task.metric.choices()), "lower bound")


def rows(texts: Sequence[str], loglik: bool) -> list[str]:
    """The distinct texts a prompt is asked about (the loglik scorer adds its baseline)."""
    return list(dict.fromkeys(texts)) + ([CONTENT_FREE] if loglik else [])


def journaled(exp_dir: Path, config: Config, task: Task) -> Replies:
    """The experiment's own mean answer lengths, else :func:`from_task`'s.

    The journal keeps answers by request key, not by kind, so the kinds are told apart by
    rebuilding keys: an operator answer is one that holds a child prompt (parsed as the
    breeder parses it), a scoring answer one whose key is the scorer's request for a seed or
    a child on a dev or test row. Answers of neither kind (a child being scored when the run
    stopped, a refused reply) are left out. Read-only; no file is left behind."""
    answers = _answers(Layout(exp_dir).journal)
    completion = backend_spec(for_role(config, "operator").backend).completion_mode
    children = {
        key: child
        for key, (text, _) in answers.items()
        if (child := extract_prompt(OPEN + text.split(CLOSE)[0] + CLOSE if completion else text))
    }
    scorer = make_scorer(config, task.metric)
    texts = [*task.dev.texts, *(task.test.data.texts if task.test else [])]
    prompts = {" ".join(p.split()) for p in config.seed_prompts} | set(children.values())
    keys = {
        scorer.request(p, t).key() for p in prompts for t in rows(texts, config.scorer == "loglik")
    }
    scoring = [tokens for key, (_, tokens) in answers.items() if key in keys]
    operator = [tokens for key, (_, tokens) in answers.items() if key in children]
    fallback = from_task(config, task)
    measured = [kind for kind in (scoring, operator) if len(kind) >= MIN_ANSWERS]
    if not measured:
        return fallback
    by_journal = len(scoring) >= MIN_ANSWERS
    return Replies(
        _mean(scoring) if by_journal else fallback.scoring,
        f"journal ({sum(map(len, measured))} answers)" if by_journal else fallback.basis,
        _mean(operator) if len(operator) >= MIN_ANSWERS else None,
        upper=fallback.upper and not by_journal,
    )


def _mean(tokens: list[int]) -> float:
    return sum(tokens) / len(tokens)


def _answers(path: Path) -> dict[str, tuple[str, int]]:
    """Each journaled answer's text and completion tokens, by key ({} without a journal)."""
    found: dict[str, tuple[str, int]] = {}
    if not path.is_file():
        return found
    with contextlib.suppress(sqlite3.Error), contextlib.closing(open_readonly(path)) as db:
        for key, payload, tokens in db.execute(
            "SELECT key, response, completion_tokens FROM responses"
        ):
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                found[key] = (str(json.loads(payload).get("text", "")), int(tokens))
    return found
