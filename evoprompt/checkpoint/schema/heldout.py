"""The held-out test of an experiment's finalists: summary.json's ``test`` section, also kept
in state.pkl (one report per test phase, the newest last)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evoprompt.checkpoint.schema.fields import (
    NUMBER,
    JsonDict,
    SchemaError,
    as_object,
    get,
    opt,
)

ROLES = ("best", "seed", "top", "given")


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


@dataclass(frozen=True)
class TestResult:
    __test__ = False  # not a pytest test class

    """One tested prompt: its role, dev score (None for a prompt never scored on dev), test
    score and the test score's 95% interval."""

    role: str
    prompt: str
    dev_fitness: float | None
    test_fitness: float
    ci_low: float
    ci_high: float

    @property
    def gap(self) -> float | None:
        """dev - test: how optimistic the dev score was."""
        return None if self.dev_fitness is None else self.dev_fitness - self.test_fitness

    def to_json(self) -> JsonDict:
        return {
            "role": self.role,
            "prompt": self.prompt,
            "dev_fitness": self.dev_fitness,
            "test_fitness": self.test_fitness,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
        }

    @classmethod
    def from_json(cls, raw: Any) -> TestResult:
        doc = as_object(raw, "a test result")
        role = get(doc, "role", str, "a string")
        if role not in ROLES:
            raise SchemaError(f"field 'role' is {role!r}, not one of {', '.join(ROLES)}")
        return cls(
            role=role,
            prompt=get(doc, "prompt", str, "a string"),
            dev_fitness=opt(doc, "dev_fitness", NUMBER, "a number"),
            test_fitness=float(get(doc, "test_fitness", NUMBER, "a number")),
            ci_low=float(get(doc, "ci_low", NUMBER, "a number")),
            ci_high=float(get(doc, "ci_high", NUMBER, "a number")),
        )


@dataclass(frozen=True)
class Comparison:
    """The best prompt against the baseline prompt on the same test rows (best - baseline)."""

    baseline_prompt: str
    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    method: str  # "mcnemar-exact" (0/1 scores) or "permutation"

    def to_json(self) -> JsonDict:
        return {
            "baseline_prompt": self.baseline_prompt,
            "delta": self.delta,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "p_value": self.p_value,
            "method": self.method,
        }

    @classmethod
    def from_json(cls, raw: Any) -> Comparison:
        doc = as_object(raw, "the test comparison")
        return cls(
            baseline_prompt=get(doc, "baseline_prompt", str, "a string"),
            delta=float(get(doc, "delta", NUMBER, "a number")),
            ci_low=float(get(doc, "ci_low", NUMBER, "a number")),
            ci_high=float(get(doc, "ci_high", NUMBER, "a number")),
            p_value=float(get(doc, "p_value", NUMBER, "a number")),
            method=get(doc, "method", str, "a string"),
        )


@dataclass(frozen=True)
class TestReport:
    __test__ = False  # not a pytest test class

    """One test phase: the test set (rows, source), each prompt's result and the comparison.

    Besides the issue's fields it records the generation whose finalists were tested, how many
    candidate rows were dropped for repeating a dev text, the constant-answer (majority-class)
    baseline when the metric has a closed answer set, the per-class test score of the best
    prompt and the metric's analysis of its test outputs.
    """

    size: int
    source: str
    results: list[TestResult]
    comparison: Comparison | None
    generation: int = -1
    dropped_duplicates: int = 0
    folded_duplicates: int = 0  # rows of the test source repeating a text: one row each
    majority: JsonDict | None = None  # {"label", "test_fitness"}
    per_class: JsonDict = field(default_factory=dict)  # gold label -> {"n", "test_fitness"}
    best_analysis: JsonDict = field(default_factory=dict)

    def role(self, role: str) -> TestResult | None:
        return next((r for r in self.results if r.role == role), None)

    def result_for(self, prompt: str) -> TestResult | None:
        return next((r for r in self.results if r.prompt == prompt), None)

    def to_json(self) -> JsonDict:
        return {
            "size": self.size,
            "source": self.source,
            "results": [r.to_json() for r in self.results],
            "comparison": None if self.comparison is None else self.comparison.to_json(),
            "generation": self.generation,
            "dropped_duplicates": self.dropped_duplicates,
            "folded_duplicates": self.folded_duplicates,
            "majority_baseline": self.majority,
            "per_class": self.per_class,
            "best_analysis": self.best_analysis,
        }

    @classmethod
    def from_json(cls, raw: Any) -> TestReport:
        doc = as_object(raw, "the test section")
        comparison = doc.get("comparison")
        return cls(
            size=int(get(doc, "size", int, "an integer")),
            source=get(doc, "source", str, "a string"),
            results=[TestResult.from_json(r) for r in get(doc, "results", list, "a list")],
            comparison=None if comparison is None else Comparison.from_json(comparison),
            generation=_or(opt(doc, "generation", int, "an integer"), -1),
            dropped_duplicates=_or(opt(doc, "dropped_duplicates", int, "an integer"), 0),
            folded_duplicates=_or(opt(doc, "folded_duplicates", int, "an integer"), 0),
            majority=opt(doc, "majority_baseline", dict, "an object"),
            per_class=opt(doc, "per_class", dict, "an object") or {},
            best_analysis=opt(doc, "best_analysis", dict, "an object") or {},
        )
