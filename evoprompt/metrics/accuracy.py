"""Classification: map a free-text answer onto one label (or ``invalid``) and score accuracy.

Its analysis is the confusion of the mistakes, ``{"true -> predicted": count}``, the number of
``invalid`` answers, and ``mostly_invalid`` when they are more than half (the prompt's score then
says more about the answers' form than about the task).
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
_ECHO = "possible answers"  # the start of ``Accuracy.hint``: an answer quoting it is an echo
# Words after which a label at the very end of the answer is its verdict ("Answer: X",
# "... is X."); "answers" is not one of them, so an echoed "Possible answers: X" is no verdict.
_VERDICT = r"(?:answer|answer is|is|verdict|label|prediction|category|class|sentiment|result)"
MOSTLY_INVALID = 0.5  # a prompt with more invalid answers than this share is flagged


def _normal(text: str) -> str:
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


def _mentioned(said: str, labels: Sequence[str]) -> list[str]:
    """The labels named in ``said`` (normalized), a label inside a longer one's match aside."""
    spans = []
    for label in labels:
        wanted = _normal(label)
        if wanted:
            for found in re.finditer(rf"(?<!\w){re.escape(wanted)}(?!\w)", said):
                spans.append((found.start(), found.end(), label))
    kept = {
        label
        for start, end, label in spans
        if not any(s <= start and end <= e and e - s > end - start for s, e, _ in spans)
    }
    return [label for label in labels if label in kept]


def verbalize(answer: str, labels: Sequence[str]) -> str:
    """The one label an answer gives, or ``invalid`` when it gives none or hedges.

    In order: the answer is a label (case and punctuation aside); it ends in a clear verdict
    (``Answer: X``, ``... is X.``); it names exactly one label and does not echo the prompt's
    option list. An answer naming several labels without a final verdict ("not negative, it
    is positive" aside), or quoting ``Possible answers: ...``, is invalid: reading the first
    label mentioned turned echoes of the prompt into confident verdicts.
    """
    said = _normal(answer)
    for label in labels:
        if said == _normal(label):
            return label
    for label in sorted(labels, key=lambda x: -len(_normal(x))):
        wanted = _normal(label)
        if wanted and re.search(rf"(?<!\w){_VERDICT} {re.escape(wanted)}$", said):
            return label
    if _ECHO in said:
        return INVALID
    named = _mentioned(said, labels)
    return named[0] if len(named) == 1 else INVALID


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
        invalid = sum(j.prediction == INVALID for j in judged)
        return {
            "accuracy": self.fitness([j.score for j in judged]),
            "error_patterns": dict(sorted(errors.items())),
            "invalid": invalid,
            "mostly_invalid": invalid > MOSTLY_INVALID * len(judged),
        }

    def table(self, analysis: Mapping[str, Any]) -> AnalysisTable:
        """The mistakes as (true label, predicted, count) rows, most frequent first."""
        rows = []
        for key, count in (analysis.get("error_patterns") or {}).items():
            true, _, predicted = key.partition(_ARROW)
            rows.append((true, predicted, int(count)))
        rows.sort(key=lambda r: (-r[2], r[0], r[1]))
        invalid = analysis.get("invalid")
        title = "Error patterns"
        if invalid is not None:
            title += f" ({invalid} invalid answers)"
        if analysis.get("mostly_invalid"):
            title += ": MOSTLY INVALID, the answers' form decided the score"
        return AnalysisTable(
            title,
            ["true label", "predicted", "count"],
            [[true, predicted, str(n)] for true, predicted, n in rows],
        )
