"""Accuracy and error patterns of one prompt's predictions."""

from __future__ import annotations

import pytest

from evoprompt.evaluation.evaluator import Score, analyse


def test_accuracy_and_error_patterns() -> None:
    predictions = ["pos", "neg", "invalid", "pos", "neg", "invalid"]
    truths = ["pos", "pos", "neg", "pos", "pos", "neg"]
    score = analyse(predictions, truths)
    assert score.fitness == pytest.approx(2 / 6)
    assert score.error_patterns == {"neg -> invalid": 2, "pos -> neg": 2}
    assert list(score.error_patterns) == sorted(score.error_patterns)


def test_perfect_and_empty() -> None:
    assert analyse(["a", "b"], ["a", "b"]) == Score(1.0, {})
    assert analyse([], []) == Score(0.0, {})
    assert analyse(["b", "a"], ["a", "b"]) == Score(0.0, {"a -> b": 1, "b -> a": 1})
