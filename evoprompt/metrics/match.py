"""Answer metrics on normalised text: exact match, SQuAD token F1, and contains."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from evoprompt.metrics.base import Example, register_metric
from evoprompt.metrics.reference import ReferenceMetric
from evoprompt.metrics.text import as_number, last_number, normalize, tokens


def token_f1(answer: str, reference: str) -> float:
    """SQuAD's token F1 on normalised tokens (1.0 when both are empty, 0.0 when one is)."""
    said, wanted = tokens(answer), tokens(reference)
    if not said or not wanted:
        return float(said == wanted)
    common = sum((Counter(said) & Counter(wanted)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(said), common / len(wanted)
    return 2 * precision * recall / (precision + recall)


@register_metric("exact_match")
@dataclass(frozen=True)
class ExactMatch(ReferenceMetric):
    """1 when the extracted answer equals the reference after normalisation.

    A numeric reference is compared with the last number in the answer ("42 apples", "$42"
    and "42.0" all match 42), the usual reading of a reasoning model's final answer.
    """

    binary = True
    default_extract = True

    def read(self, answer: str, example: Example) -> str:
        if as_number(example.gold) is not None:
            return last_number(answer) or answer
        return answer

    def compare(self, answer: str, example: Example) -> float:
        number = as_number(example.gold)
        if number is not None:
            return float(last_number(answer) == number)
        return float(normalize(answer) == normalize(example.gold))


@register_metric("f1")
@dataclass(frozen=True)
class TokenF1(ReferenceMetric):
    """SQuAD token F1 between the extracted answer and the reference."""

    default_extract = True

    def compare(self, answer: str, example: Example) -> float:
        return token_f1(answer, example.gold)


@register_metric("contains")
@dataclass(frozen=True)
class Contains(ReferenceMetric):
    """1 when the normalised reference occurs, as whole words, in the normalised reply."""

    binary = True

    def compare(self, answer: str, example: Example) -> float:
        wanted = normalize(example.gold)
        return float(bool(wanted) and f" {wanted} " in f" {normalize(answer)} ")
