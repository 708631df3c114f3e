"""Finalists, the held-out split and the verdict, with a binary and a continuous metric."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from evoprompt.checkpoint.schema import TestReport
from evoprompt.checkpoint.state import ExperimentState, Individual
from evoprompt.core.finalists import Finalist, Finalists, TestSet, finalists, given, heldout_report
from evoprompt.data.loader import Dataset, dev_split, held_out_split
from evoprompt.evaluation.evaluator import Score
from evoprompt.metrics import Example, Judged, MeanMetric
from evoprompt.metrics.accuracy import Accuracy
from evoprompt.report.verdict import verdict_line

SEEDS = ["Seed  one.", "Seed two."]


def state_with(fitness: dict[str, float], population: list[str]) -> ExperimentState:
    state = ExperimentState.new("x", 0)
    state.scored = {t: Individual(t, f, 0) for t, f in fitness.items()}
    state.population = [state.scored[t] for t in population]
    state.generation = 3
    return state


def test_finalists_are_the_best_the_seeds_and_the_top_k() -> None:
    fitness = {"Seed one.": 0.5, "Seed two.": 0.6, "a": 0.9, "b": 0.8, "c": 0.7, "d": 0.1}
    state = state_with(fitness, ["Seed two.", "a", "b", "c", "d"])
    chosen = finalists(state, SEEDS, top_k=3)
    roles = [(f.role, f.prompt, f.dev_fitness) for f in chosen.prompts]
    assert roles == [
        ("best", "a", 0.9),
        ("seed", "Seed one.", 0.5),  # whitespace normalized as generation 0 scored it
        ("seed", "Seed two.", 0.6),
        ("top", "b", 0.8),  # the top 3 are a, b, c: a is already the best
        ("top", "c", 0.7),
    ]
    assert chosen.baseline == "Seed two."  # the best seed by dev score
    only = finalists(state, SEEDS, top_k=3, every_seed=False)
    assert [(f.role, f.prompt) for f in only.prompts] == [
        ("best", "a"),
        ("seed", "Seed two."),  # only the baseline: the other seeds' test scores not wanted
        ("top", "b"),
        ("top", "c"),
    ]
    assert only.baseline == "Seed two."
    asked = given(state, ["new  prompt"], SEEDS)
    assert [(f.role, f.prompt, f.dev_fitness) for f in asked.prompts] == [
        ("given", "new prompt", None),
        ("seed", "Seed two.", 0.6),
    ]


def test_held_out_split_is_disjoint_by_row_and_text() -> None:
    texts = (*(f"t{i}" for i in range(20)), "t0", "t1")  # two texts repeated
    data = Dataset(texts, tuple("ab"[i % 2] for i in range(22)), "d")
    dev = dev_split(data, 8, seed=1)
    held = held_out_split(data, 8, 500, seed=1)
    assert not set(held.test.texts) & set(dev.texts)
    dev_repeats = sum(t in dev.texts for t in ("t0", "t1"))
    assert len(held.test) + held.dropped == 22 - 8
    assert held.dropped == dev_repeats
    assert len(held_out_split(data, 8, 5, seed=1).test) == 5
    other = Dataset(("t0", "new", "t5", "t9"), ("a", "b", "a", "b"), "o")
    from_file = held_out_split(data, 8, 500, seed=1, other=other)
    assert set(from_file.test.texts) == {t for t in other.texts if t not in dev.texts}
    assert from_file.dropped == sum(t in dev.texts for t in other.texts)


class Closeness(MeanMetric):
    """A toy continuous metric: 1 minus the relative length difference."""

    def judge(self, output: str, example: Example) -> Judged:
        longest = max(len(output), len(example.gold), 1)
        return Judged(output, output, 1 - abs(len(output) - len(example.gold)) / longest)


def scores_of(
    metric: MeanMetric | Accuracy, examples: Sequence[Example], outputs: list[str]
) -> Score:
    judged = [metric.judge(o, e) for o, e in zip(outputs, examples)]
    return Score(metric.fitness([j.score for j in judged]), {}, tuple(judged))


def test_judge_a_continuous_metric_uses_bootstrap_and_permutation() -> None:
    examples = [Example(f"in{i}", "x" * (4 + i)) for i in range(6)]
    test = TestSet(Dataset(tuple(e.text for e in examples), tuple(e.gold for e in examples)), "f")
    metric = Closeness()
    good = ["x" * (4 + i) for i in range(6)]
    bad = ["x" * 2 for _ in range(6)]
    scores = {"best": scores_of(metric, examples, good), "seed": scores_of(metric, examples, bad)}
    chosen = Finalists([Finalist("best", "best", 0.9), Finalist("seed", "seed", 0.5)], "seed")
    report = heldout_report(
        chosen, scores, metric=metric, test=test, dev=examples, seed=7, generation=3
    )
    best = report.results[0]
    assert best.test_fitness == 1.0 and (best.ci_low, best.ci_high) == (1.0, 1.0)
    seed = report.result_for("seed")
    assert seed is not None and seed.ci_low < seed.test_fitness < seed.ci_high
    assert report.comparison is not None and report.comparison.method == "permutation"
    # all six rows favour the best prompt: 2 of 2^6 sign patterns are as extreme
    assert report.comparison.p_value == pytest.approx(2 / 64)
    assert report.majority is None and report.per_class == {}
    assert TestReport.from_json(report.to_json()) == report
    assert "permutation p=0.031" in verdict_line(report)


def test_judge_a_classifier_gives_wilson_mcnemar_majority_and_per_class() -> None:
    examples = [Example(f"in{i}", "pos" if i < 6 else "neg") for i in range(10)]
    test = TestSet(Dataset(tuple(e.text for e in examples), tuple(e.gold for e in examples)), "f")
    metric = Accuracy(("neg", "pos"))
    best_out = ["pos"] * 6 + ["neg", "neg", "pos", "pos"]  # 8 of 10
    seed_out = ["pos"] * 6 + ["pos"] * 4  # 6 of 10; discordant: best right on 2 rows only
    scores = {
        "b": scores_of(metric, examples, best_out),
        "s": scores_of(metric, examples, seed_out),
    }
    chosen = finalists(state_with({"b": 0.9, "s": 0.4}, ["b", "s"]), ["s"], top_k=2)
    report = heldout_report(
        chosen, scores, metric=metric, test=test, dev=examples[:7], seed=0, generation=1
    )
    assert [(r.role, r.test_fitness) for r in report.results] == [("best", 0.8), ("seed", 0.6)]
    assert (report.results[0].ci_low, report.results[0].ci_high) == pytest.approx(
        (0.4902, 0.9433), abs=1e-4
    )
    assert report.results[0].gap == pytest.approx(0.1)
    assert report.comparison is not None
    assert report.comparison.method == "mcnemar-exact"
    assert report.comparison.delta == pytest.approx(0.2)
    assert report.comparison.p_value == pytest.approx(0.5)  # 2 - 0 discordant: 2 * 1/4
    assert report.majority == {"label": "pos", "test_fitness": 0.6}  # dev majority, on test
    assert report.per_class == {
        "neg": {"n": 4, "test_fitness": 0.5},
        "pos": {"n": 6, "test_fitness": 1.0},
    }
    line = verdict_line(report)
    assert line.startswith("test (n=10): best 0.80 [0.49, 0.94] vs best seed 0.60 [")
    assert line.endswith("no significant gain (p=0.5)")
