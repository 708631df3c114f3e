"""Mapping free-text answers onto labels."""

from __future__ import annotations

import pytest

from evoprompt.evaluation.verbalizer import INVALID, verbalize

SENTIMENT = ("positive", "negative")
VULN = ("Benign", "Buffer Errors", "Errors", "Injection")


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("positive", "positive"),
        ("NEGATIVE", "negative"),
        ("Positive.", "positive"),
        ("  **negative**!  ", "negative"),
        ("'positive'", "positive"),
        ("The answer is: POSITIVE", "positive"),
        ("I think this review is negative overall.", "negative"),
        ("Sentiment -> negative; confidence high", "negative"),
    ],
)
def test_case_punctuation_and_label_inside_a_sentence(answer: str, expected: str) -> None:
    assert verbalize(answer, SENTIMENT) == expected


@pytest.mark.parametrize(
    "answer", ["", "   ", "I cannot tell.", "positively glowing", "non-negatives", "neutral"]
)
def test_no_label_is_invalid(answer: str) -> None:
    assert verbalize(answer, SENTIMENT) == INVALID


def test_earliest_mentioned_label_wins() -> None:
    assert verbalize("negative, not positive", SENTIMENT) == "negative"
    assert verbalize("It is positive rather than negative", SENTIMENT) == "positive"
    assert verbalize("Injection, maybe Benign", VULN) == "Injection"


def test_longest_label_wins_a_tie_at_the_same_position() -> None:
    assert verbalize("Buffer Errors in strcpy", VULN) == "Buffer Errors"
    assert verbalize("This has buffer errors.", VULN) == "Buffer Errors"
    assert verbalize("errors, not a buffer issue", VULN) == "Errors"
    labels = ("Buffer", "Buffer Errors")
    assert verbalize("buffer errors everywhere", labels) == "Buffer Errors"
    assert verbalize("buffer", labels) == "Buffer"


def test_exact_match_beats_containment_and_punctuation_in_labels() -> None:
    assert verbalize("Buffer-Errors", VULN) == "Buffer Errors"
    assert verbalize("errors", VULN) == "Errors"
    assert verbalize("sql/injection", ("SQL Injection", "Injection")) == "SQL Injection"
