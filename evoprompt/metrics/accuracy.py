"""Classification: map a free-text answer onto one label (or ``invalid``) and score accuracy.

Its analysis is the confusion of the mistakes, ``{"true -> predicted": count}``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from evoprompt.config import Config
from evoprompt.data.loader import Dataset, DatasetError
from evoprompt.metrics.base import AnalysisTable, Example, Judged, MeanMetric, register_metric
from evoprompt.metrics.extract import compile_pattern, extract

INVALID = "invalid"
_PUNCT = re.compile(r"[^\w\s]+")
_ARROW = " -> "


def _normal(text: str) -> str:
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


def verbalize(answer: str, labels: Sequence[str]) -> str:
    """Case- and punctuation-insensitive exact match first, then a label inside the answer.

    When several labels occur in the answer, the one mentioned first wins (ties: the longest,
    so "Buffer Errors" beats "Errors"): models tend to lead with their verdict.
    """
    said = _normal(answer)
    for label in labels:
        if said == _normal(label):
            return label
    hits = []
    for label in labels:
        wanted = _normal(label)
        if not wanted:
            continue
        found = re.search(rf"(?<!\w){re.escape(wanted)}(?!\w)", said)
        if found:
            hits.append((found.start(), -len(wanted), label))
    return min(hits)[2] if hits else INVALID


def label_set(data: Dataset, allowed: Sequence[str]) -> tuple[str, ...]:
    """The labels to choose from: ``allowed`` in its order, else those in the data, sorted."""
    found = sorted(set(data.gold))
    if allowed:
        unknown = sorted(set(found) - set(allowed))
        if unknown:
            raise DatasetError(
                f"dataset {data.source} has labels not in the label set: {', '.join(unknown)} "
                f"(allowed: {', '.join(allowed)})"
            )
        found = list(allowed)
    if len(found) < 2:
        raise DatasetError(f"dataset {data.source} needs at least two labels, found {found}")
    return tuple(found)


@register_metric("accuracy")
@dataclass(frozen=True)
class Accuracy(MeanMetric):
    """The share of answers whose verbalized label is the gold label."""

    labels: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = None  # answer_pattern: verbalize only what it extracts
    binary = True
    max_tokens = 16  # a label is a few tokens

    def prepare(self, data: Dataset, config: Config) -> Accuracy:
        return Accuracy(label_set(data, config.labels), compile_pattern(config.answer_pattern))

    def hint(self) -> str:
        return f"Possible answers: {', '.join(self.labels)}."

    def choices(self) -> tuple[str, ...]:
        return self.labels

    def judge(self, output: str, example: Example) -> Judged:
        prediction = verbalize(extract(output, self.pattern, default=False), self.labels)
        return Judged(output, prediction, float(prediction == example.gold))

    def analyse(self, examples: Sequence[Example], judged: Sequence[Judged]) -> dict[str, Any]:
        errors = Counter(
            f"{e.gold}{_ARROW}{j.prediction}"
            for e, j in zip(examples, judged)
            if j.prediction != e.gold
        )
        return {
            "accuracy": self.fitness([j.score for j in judged]),
            "error_patterns": dict(sorted(errors.items())),
        }

    def table(self, analysis: Mapping[str, Any]) -> AnalysisTable:
        """The mistakes as (true label, predicted, count) rows, most frequent first."""
        rows = []
        for key, count in (analysis.get("error_patterns") or {}).items():
            true, _, predicted = key.partition(_ARROW)
            rows.append((true, predicted, int(count)))
        rows.sort(key=lambda r: (-r[2], r[0], r[1]))
        return AnalysisTable(
            "Error patterns",
            ["true label", "predicted", "count"],
            [[true, predicted, str(n)] for true, predicted, n in rows],
        )
