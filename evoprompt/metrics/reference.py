"""Metrics that compare an answer with a reference text, and their shared analysis.

A reference metric extracts the answer from the reply (``extract``), scores it against the
gold column with ``compare``, and analyses a prompt's outputs as its worst-scored examples:
for open-ended tasks there is no confusion table, and the examples a prompt gets most wrong
are what a researcher reads to see why.
"""

from __future__ import annotations

import dataclasses
import re
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from evoprompt.config import Config
from evoprompt.data.loader import Dataset
from evoprompt.metrics.base import AnalysisTable, Example, Judged, MeanMetric, Metric
from evoprompt.metrics.extract import compile_pattern, extract

WORST = 5  # examples kept per analysis
CLIP = 400  # characters kept of each text in an analysis (batch files keep the full outputs)
FIELDS = ("score", "input", "output", "extracted", "reference")


def clip(text: str) -> str:
    return text if len(text) <= CLIP else text[: CLIP - 1] + "…"


@dataclasses.dataclass(frozen=True)
class ReferenceMetric(MeanMetric):
    """Judge = extract the answer, then ``compare`` it with the reference; fitness is the mean.

    ``default_extract``: whether the answer-is rule applies when no ``answer_pattern`` is set
    (answers, like exact match) or the whole reply is compared (texts, like ROUGE-L).
    """

    pattern: re.Pattern[str] | None = None
    default_extract = False
    max_tokens = 256

    def prepare(self, data: Dataset, config: Config) -> Metric:
        return dataclasses.replace(self, pattern=compile_pattern(config.answer_pattern))

    @abstractmethod
    def compare(self, answer: str, example: Example) -> float:
        """The score in [0, 1] of ``answer`` (already extracted) against ``example.gold``."""

    def read(self, answer: str, example: Example) -> str:
        """What is recorded as the prediction (by default the extracted answer itself)."""
        return answer

    def judge(self, output: str, example: Example) -> Judged:
        answer = extract(output, self.pattern, self.default_extract)
        return Judged(output, self.read(answer, example), self.compare(answer, example))

    def analyse(self, examples: Sequence[Example], judged: Sequence[Judged]) -> dict[str, Any]:
        # Only examples that scored below the best: a run where most outputs are perfect
        # should show its few misses, not fill the table with perfect rows.
        top = max((j.score for j in judged), default=0.0)
        order = sorted(range(len(judged)), key=lambda i: judged[i].score)
        order = [i for i in order if judged[i].score < top][:WORST]
        worst = [
            {
                "score": judged[i].score,
                "input": clip(examples[i].text),
                "output": clip(judged[i].output),
                "extracted": clip(judged[i].prediction),
                "reference": clip(examples[i].gold),
            }
            for i in order
        ]
        return {"mean": self.fitness([j.score for j in judged]), "worst": worst}

    def table(self, analysis: Mapping[str, Any]) -> AnalysisTable:
        return worst_table(analysis)


def worst_table(analysis: Mapping[str, Any]) -> AnalysisTable:
    """An analysis's worst-scored examples as rows, lowest score first."""
    rows = []
    for entry in analysis.get("worst") or []:
        score = entry.get("score")
        shown = f"{score:.4f}" if isinstance(score, (int, float)) else "-"
        rows.append([shown, *(str(entry.get(key, "")) for key in FIELDS[1:])])
    return AnalysisTable("Worst-scored examples", list(FIELDS), rows)
