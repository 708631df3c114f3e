"""The figures a sweep aggregates, read from one cell's summary.json.

The held-out ``test`` section (dev vs test scores of the final prompts, and the paired
comparison of the best evolved prompt against the best seed prompt) is read through the small
typed reader below; a summary without it (an experiment with the test phase off, or made
before held-out evaluation existed) simply has no test figures.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evoprompt.checkpoint.layout import Layout
from evoprompt.checkpoint.nofollow import PathRefused, read_text
from evoprompt.checkpoint.schema import SchemaError, Summary
from evoprompt.checkpoint.schema.fields import NUMBER, JsonDict, as_object, get, opt


@dataclass(frozen=True)
class TestResult:
    """One prompt scored on the test set."""

    role: str  # seed, best or top
    prompt: str
    dev_fitness: float | None
    test_fitness: float
    ci_low: float | None
    ci_high: float | None

    @classmethod
    def from_json(cls, raw: Any) -> TestResult:
        doc = as_object(raw, "a test result")
        return cls(
            role=get(doc, "role", str, "a string"),
            prompt=get(doc, "prompt", str, "a string"),
            dev_fitness=opt(doc, "dev_fitness", NUMBER, "a number"),
            test_fitness=float(get(doc, "test_fitness", NUMBER, "a number")),
            ci_low=opt(doc, "ci_low", NUMBER, "a number"),
            ci_high=opt(doc, "ci_high", NUMBER, "a number"),
        )


@dataclass(frozen=True)
class TestSection:
    """summary.json's ``test``: the results, and the best prompt's gain over the best seed."""

    size: int
    results: list[TestResult]
    delta: float | None  # best evolved minus best seed prompt, on the same test rows
    p_value: float | None = None  # the paired test of that difference
    baseline: str | None = None  # the best seed prompt (by dev)

    @classmethod
    def from_json(cls, raw: Any) -> TestSection:
        doc = as_object(raw, "summary.json's test")
        comparison: JsonDict = opt(doc, "comparison", dict, "an object") or {}
        return cls(
            size=int(get(doc, "size", NUMBER, "a number")),
            results=[TestResult.from_json(r) for r in get(doc, "results", list, "a list")],
            delta=opt(comparison, "delta", NUMBER, "a number"),
            p_value=opt(comparison, "p_value", NUMBER, "a number"),
            baseline=opt(comparison, "baseline_prompt", str, "a string"),
        )

    def best(self) -> float | None:
        found = [r.test_fitness for r in self.results if r.role == "best"]
        return found[0] if found else None

    def of_baseline(self) -> float | None:
        """The best seed prompt's test score (the baseline of ``delta``)."""
        found = [r.test_fitness for r in self.results if r.prompt == self.baseline]
        return found[0] if found else None


@dataclass(frozen=True)
class CellFigures:
    """What one cell contributes to its grid point's row of aggregate.csv."""

    status: str
    dev: float | None  # dev fitness of the selected (best) prompt
    test: float | None  # its test score
    gain: float | None  # its test gain over the best seed prompt
    calls: int
    tokens: int
    cost: float
    wall_s: float  # seconds its sessions ran


UNREADABLE = "unreadable"  # the status of a cell whose summary.json cannot be read


def read_figures(exp_dir: Path) -> CellFigures | None:
    """The cell's figures; None while it has no summary.json; status UNREADABLE (and no
    figures) when it has one that cannot be read, so the aggregate names the cell instead of
    silently leaving it out. ``wall_s``: all its sessions' time, killed ones included (the
    generations' durations for a summary written before that was recorded)."""
    path = Layout(exp_dir).summary
    try:
        raw = json.loads(read_text(path))
        doc = Summary.from_json(raw)
        test = TestSection.from_json(raw["test"]) if raw.get("test") else None
    except FileNotFoundError:
        return None
    except (OSError, ValueError, SchemaError, PathRefused):
        return CellFigures(UNREADABLE, None, None, None, 0, 0, 0.0, 0.0)
    stats = doc.api_stats
    return CellFigures(
        status=doc.status,
        dev=doc.best_fitness,
        test=test.best() if test else None,
        gain=test.delta if test else None,
        calls=int(stats.get("calls", 0)),
        tokens=int(stats.get("prompt_tokens", 0)) + int(stats.get("completion_tokens", 0)),
        cost=float(stats.get("cost_usd", 0.0)),
        wall_s=doc.wall_s if doc.wall_s is not None else sum(g.duration_s for g in doc.generations),
    )
