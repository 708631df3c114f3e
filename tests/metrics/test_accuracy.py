"""The accuracy metric: mapping free-text answers onto labels, the label rules, the analysis."""

from __future__ import annotations

import pytest

from evoprompt.config import Config
from evoprompt.data.loader import Dataset, DatasetError
from evoprompt.metrics import AnalysisTable, Example, Judged, MetricError, make_metric
from evoprompt.metrics.accuracy import INVALID, Accuracy, verbalize

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


@pytest.mark.parametrize(
    "answer",
    [
        "negative, not positive",
        "It is positive rather than negative",
        "positive or negative",
        "Possible answers: negative",  # an echo of the prompt's option list
        "Input: great film\nAnswer:\nPossible answers: negative, positive.",
    ],
)
def test_several_labels_or_an_echo_of_the_options_are_invalid(answer: str) -> None:
    assert verbalize(answer, SENTIMENT) == INVALID
    assert verbalize("Injection, maybe Benign", VULN) == INVALID


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("It is not negative, it is positive", "positive"),
        ("positive or negative? Answer: negative", "negative"),
        ("Possible answers: negative, positive.\nAnswer: positive", "positive"),
        ("Not Benign at all; the label is Buffer Errors.", "Buffer Errors"),
        ("Errors? Benign? The verdict: errors", "Errors"),
    ],
)
def test_a_clear_final_verdict_decides(answer: str, expected: str) -> None:
    labels = VULN if expected in VULN else SENTIMENT
    assert verbalize(answer, labels) == expected


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


# -- label set (the rules the loader used to apply) ---------------------------------------------


def data(*gold: str) -> Dataset:
    return Dataset(tuple(f"text {i}" for i in range(len(gold))), gold, "d.csv")


def test_the_label_set_is_the_sorted_gold_values_or_the_given_list() -> None:
    metric = make_metric("accuracy")
    assert metric.prepare(data("pos", "neg", "pos"), Config()).choices() == ("neg", "pos")
    given = metric.prepare(data("pos", "neg"), Config(labels=["pos", "neg", "meh"]))
    assert given.choices() == ("pos", "neg", "meh")  # kept in its order
    assert given.hint() == "Possible answers: pos, neg, meh."


def test_labels_outside_the_label_set() -> None:
    with pytest.raises(
        DatasetError,
        match=r"^dataset d.csv has labels not in the label set: neg \(allowed: pos, x\)$",
    ):
        Accuracy().prepare(data("pos", "neg"), Config(labels=["pos", "x"]))


def test_a_single_label_is_refused() -> None:
    with pytest.raises(
        DatasetError, match=r"^dataset d.csv needs at least two labels, found \['pos'\]$"
    ):
        Accuracy().prepare(data("pos", "pos"), Config())
    with pytest.raises(DatasetError, match="at least two labels"):
        Accuracy().prepare(data("pos", "pos"), Config(labels=["pos"]))


# -- judging and analysis -------------------------------------------------------------------------


def judge_all(outputs: list[str], truths: list[str]) -> tuple[list[Example], list[Judged]]:
    metric = Accuracy(tuple(sorted(set(truths))))
    examples = [Example(f"t{i}", gold) for i, gold in enumerate(truths)]
    return examples, [metric.judge(o, e) for o, e in zip(outputs, examples)]


def test_judge_keeps_the_output_and_scores_the_verbalized_label() -> None:
    metric = Accuracy(("negative", "positive"))
    example = Example("great film", "positive")
    assert metric.judge("It is POSITIVE.", example) == Judged("It is POSITIVE.", "positive", 1.0)
    assert metric.judge("negative", example) == Judged("negative", "negative", 0.0)
    assert metric.judge("no idea", example) == Judged("no idea", INVALID, 0.0)
    assert metric.binary


def test_accuracy_and_error_patterns() -> None:
    outputs = ["pos", "neg", "huh", "pos", "neg", "huh"]
    examples, judged = judge_all(outputs, ["pos", "pos", "neg", "pos", "pos", "neg"])
    metric = Accuracy(("neg", "pos"))
    assert metric.fitness([j.score for j in judged]) == pytest.approx(2 / 6)
    analysis = metric.analyse(examples, judged)
    assert analysis == {
        "accuracy": pytest.approx(2 / 6),
        "error_patterns": {"neg -> invalid": 2, "pos -> neg": 2},
        "invalid": 2,
        "mostly_invalid": False,
    }
    assert list(analysis["error_patterns"]) == sorted(analysis["error_patterns"])


def test_perfect_and_empty() -> None:
    metric = Accuracy(("a", "b"))
    examples, judged = judge_all(["a", "b"], ["a", "b"])
    clean = {"error_patterns": {}, "invalid": 0, "mostly_invalid": False}
    assert metric.analyse(examples, judged) == {"accuracy": 1.0, **clean}
    assert metric.analyse([], []) == {"accuracy": 0.0, **clean}
    examples, judged = judge_all(["b", "a"], ["a", "b"])
    assert metric.analyse(examples, judged) == {
        "accuracy": 0.0,
        "error_patterns": {"a -> b": 1, "b -> a": 1},
        "invalid": 0,
        "mostly_invalid": False,
    }


def test_a_prompt_answered_mostly_invalid_is_flagged() -> None:
    metric = Accuracy(("neg", "pos"))
    examples, judged = judge_all(["huh", "neg or pos", "pos"], ["pos", "neg", "pos"])
    analysis = metric.analyse(examples, judged)
    assert (analysis["invalid"], analysis["mostly_invalid"]) == (2, True)


def test_the_table_lists_mistakes_most_frequent_first() -> None:
    analysis = {"accuracy": 0.5, "error_patterns": {"a -> b": 1, "b -> a": 3, "a -> c": 3}}
    assert Accuracy().table(analysis) == AnalysisTable(
        "Error patterns",
        ["true label", "predicted", "count"],
        [["a", "c", "3"], ["b", "a", "3"], ["a", "b", "1"]],
    )
    assert Accuracy().table({}).rows == []


def test_unknown_metric_names_the_known_ones() -> None:
    with pytest.raises(MetricError, match=r"unknown metric 'bleu' \(known metrics: .*accuracy"):
        make_metric("bleu")
    with pytest.raises(MetricError, match="takes no argument"):
        make_metric("accuracy:x")
