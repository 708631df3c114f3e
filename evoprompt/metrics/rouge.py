"""ROUGE-L F-measure with Google's ``rouge-score`` package (the reference implementation).

Its default tokenizer keeps only ASCII letters and digits, so a reply in any other script
scores 0; the tokenizer here keeps Unicode words (NFKC, casefolded) and stems ASCII words
longer than three letters with the same Porter stemmer, as ``use_stemmer=True`` would. The
package (and nltk under it) is imported at first use, so reading an experiment's report does not
pay for it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from typing import Any

from evoprompt.metrics.base import Example, register_metric
from evoprompt.metrics.reference import ReferenceMetric

_WORD = re.compile(r"[^\W_]+")


@cache
def _scorer() -> Any:
    from nltk.stem import porter
    from rouge_score import rouge_scorer, tokenizers

    stemmer = porter.PorterStemmer()

    class UnicodeTokenizer(tokenizers.Tokenizer):  # type: ignore[misc]
        def tokenize(self, text: str) -> list[str]:
            words = _WORD.findall(unicodedata.normalize("NFKC", text).casefold())
            return [stemmer.stem(w) if len(w) > 3 and w.isascii() else w for w in words]

    return rouge_scorer.RougeScorer(["rougeL"], tokenizer=UnicodeTokenizer())


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F-measure of ``candidate`` against ``reference`` (0.0 when either is empty)."""
    return float(_scorer().score(reference, candidate)["rougeL"].fmeasure)


@register_metric("rouge_l")
@dataclass(frozen=True)
class RougeL(ReferenceMetric):
    """ROUGE-L F-measure of the reply (or the ``answer_pattern`` extract) against the reference."""

    def compare(self, answer: str, example: Example) -> float:
        return rouge_l(answer, example.gold)
