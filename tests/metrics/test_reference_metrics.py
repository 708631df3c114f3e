"""The reference metrics on hand-checked cases: normalisation, extraction, each metric."""

from __future__ import annotations

import pytest

from evoprompt.config import Config
from evoprompt.data.loader import Dataset
from evoprompt.metrics import Example, Metric, make_metric
from evoprompt.metrics.extract import by_default, by_pattern, compile_pattern
from evoprompt.metrics.match import token_f1
from evoprompt.metrics.reference import CLIP, WORST
from evoprompt.metrics.rouge import rouge_l
from evoprompt.metrics.text import normalize

DATA = Dataset(("q",), ("a",), "test")


def fitted(name: str, **config: str) -> Metric:
    return make_metric(name).prepare(DATA, Config(**config))  # type: ignore[arg-type]


def score(name: str, output: str, gold: str, **config: str) -> float:
    return fitted(name, **config).judge(output, Example("q", gold)).score


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The  Cat!", "cat"),
        ("an apple, a pear", "apple pear"),
        ("1,000", "1000"),
        ("1000.0", "1000"),
        ("$1,234.50", "1234.5"),
        ("-3 degrees", "-3 degrees"),
        ("well-known 3-4", "well known 3 4"),
        ("-0.0", "0"),
        ("Café ÉTÉ", "café été"),
        ("ＦＵＬＬ　ｗｉｄｔｈ", "full width"),
        ("東京 タワー", "東京 タワー"),
        ("", ""),
        ("?!...", ""),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


@pytest.mark.parametrize(
    ("reply", "answer"),
    [
        ("3 and 4 make 7. So the answer is 7. Hope that helps!", "7"),
        ("The answer is 3.5.", "3.5"),
        ("Answer: Paris", "Paris"),
        ("I think the answer is 2. Wait, the answer is: 9", "9"),
        ("The result is \\boxed{12}, so the answer is 13", "12"),
        ("no marker here", "no marker here"),
        ("the answer is", "the answer is"),
        ("", ""),
    ],
)
def test_default_extraction(reply: str, answer: str) -> None:
    assert by_default(reply) == answer


def test_pattern_extraction_takes_group_one_of_the_last_match() -> None:
    pattern = compile_pattern(r"#### (\S+)")
    assert pattern is not None
    assert by_pattern("#### 1 then #### 2", pattern) == "2"
    assert by_pattern("nothing", pattern) == ""
    whole = compile_pattern(r"\d+")
    assert whole is not None and by_pattern("a1 b22", whole) == "22"
    assert compile_pattern("") is None


def test_a_bad_answer_pattern_is_a_config_error() -> None:
    from evoprompt.config import ConfigError, validate

    with pytest.raises(ConfigError, match="answer_pattern"):
        validate(Config(answer_pattern="(unclosed"))


@pytest.mark.parametrize(
    ("output", "gold", "expected"),
    [
        ("The answer is 1,000.", "1000", 1.0),
        ("So the answer is 1,000.0", "1000", 1.0),
        ("Steps: 4, 5. The answer is 42 apples.", "42", 1.0),
        ("**Answer:** $42", "42", 1.0),
        ("The answer is 43.", "42", 0.0),
        ("The answer is -2.", "-2", 1.0),
        ("The answer is 2.", "-2", 0.0),
        ("", "42", 0.0),
        ("The answer is The Eiffel Tower!", "eiffel tower", 1.0),
        ("The answer is Eiffel", "Eiffel Tower", 0.0),
        ("Answer: café", "Café", 1.0),
        ("x " * 20000 + "The answer is 7.", "7", 1.0),
    ],
)
def test_exact_match(output: str, gold: str, expected: float) -> None:
    assert score("exact_match", output, gold) == expected


def test_exact_match_records_the_extracted_answer() -> None:
    judged = fitted("exact_match").judge(
        "Given 3 and 4. The answer is 1,000.", Example("q", "1000")
    )
    assert (judged.prediction, judged.score) == ("1000", 1.0)
    judged = fitted("exact_match").judge("The answer is Paris.", Example("q", "Rome"))
    assert judged.prediction == "Paris"


def test_answer_pattern_replaces_the_default_rule() -> None:
    pattern = r"FINAL=(\d+)"
    assert score("exact_match", "the answer is 5. FINAL=7", "7", answer_pattern=pattern) == 1.0
    assert score("exact_match", "the answer is 7.", "7", answer_pattern=pattern) == 0.0
    # accuracy verbalizes only the extract when a pattern is set
    labelled = Dataset(("a", "b"), ("pos", "neg"), "t")
    acc = make_metric("accuracy").prepare(labelled, Config(answer_pattern=r"Label: (\w+)"))
    assert acc.judge("pos pos pos. Label: neg", Example("a", "neg")).score == 1.0


def test_token_f1() -> None:
    assert token_f1("the cat sat", "a cat sat down") == pytest.approx(0.8)
    assert token_f1("", "") == 1.0
    assert token_f1("", "cat") == 0.0
    assert token_f1("dog", "cat") == 0.0
    assert token_f1("1,000 dollars", "1000 dollars") == 1.0
    assert score("f1", "The answer is Cat sat.", "cat sat down") == pytest.approx(0.8)


def test_contains() -> None:
    assert score("contains", "I believe it is the Eiffel Tower, in Paris.", "Eiffel Tower") == 1.0
    assert score("contains", "Eiffel Towers everywhere", "Eiffel Tower") == 0.0
    assert score("contains", "It costs $1,000.", "1000") == 1.0
    assert score("contains", "", "x") == 0.0


def test_rouge_l_uses_the_package_and_handles_unicode() -> None:
    from rouge_score import rouge_scorer

    reference = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    for candidate, gold in [
        ("the cat sat on the mat", "the cat was sitting on a mat"),
        ("Running quickly home", "runs quick home"),
    ]:
        expected = reference.score(gold, candidate)["rougeL"].fmeasure
        assert rouge_l(candidate, gold) == pytest.approx(expected)
    assert rouge_l("", "a b") == 0.0
    assert rouge_l("東京 タワー", "東京 タワー") == 1.0  # the package's own tokenizer gives 0
    assert rouge_l("café au lait", "Café au lait") == 1.0
    long = "word " * 3000
    assert rouge_l(long, "word word") == pytest.approx(2 * 1 * (2 / 3000) / (1 + 2 / 3000))
    assert score("rouge_l", "The answer is: cat", "cat") == pytest.approx(0.4)  # whole reply


@pytest.mark.parametrize(
    ("name", "binary"),
    [
        ("accuracy", True),
        ("exact_match", True),
        ("contains", True),
        ("f1", False),
        ("rouge_l", False),
    ],
)
def test_binary_flags(name: str, binary: bool) -> None:
    assert make_metric(name).binary is binary
    assert make_metric("python:m:f").binary is False


def test_max_tokens_by_metric() -> None:
    assert make_metric("accuracy").max_tokens == 16
    assert make_metric("exact_match").max_tokens == make_metric("rouge_l").max_tokens == 256


def test_analysis_lists_the_worst_examples_first() -> None:
    metric = fitted("exact_match")
    examples = [Example(f"question {i}", str(i)) for i in range(8)]
    outputs = ["The answer is 0.", "The answer is 9.", "x" * 1000] + [
        f"The answer is {i}." for i in range(3, 8)
    ]
    judged = [metric.judge(o, e) for o, e in zip(outputs, examples)]
    analysis = metric.analyse(examples, judged)
    assert analysis["mean"] == pytest.approx(6 / 8)
    worst = analysis["worst"]
    # only the two misses: the six perfect rows are no "worst-scored examples"
    assert [w["input"] for w in worst] == ["question 1", "question 2"]
    assert worst[0] == {
        "score": 0.0,
        "input": "question 1",
        "output": "The answer is 9.",
        "extracted": "9",
        "reference": "1",
    }
    assert len(worst[1]["output"]) == CLIP
    table = metric.table(analysis)
    assert table.headers == ["score", "input", "output", "extracted", "reference"]
    assert table.rows[0] == ["0.0000", "question 1", "The answer is 9.", "9", "1"]


def test_the_worst_examples_are_the_ones_below_the_best_score_at_most_worst() -> None:
    metric = fitted("exact_match")
    examples = [Example(f"q{i}", str(i)) for i in range(20)]
    outputs = [f"The answer is {i if i % 2 else 99}." for i in range(20)]  # every even one wrong
    judged = [metric.judge(o, e) for o, e in zip(outputs, examples)]
    worst = metric.analyse(examples, judged)["worst"]
    assert len(worst) == WORST and all(w["score"] == 0.0 for w in worst)
    perfect = [metric.judge(f"The answer is {i}.", e) for i, e in enumerate(examples)]
    assert metric.analyse(examples, perfect)["worst"] == []
