"""Which prompts a test phase scores, and what their test scores say (pure: no I/O).

The finalists are the best prompt, every seed prompt from the config (or only the best of them:
``test_seeds = "best"``, where the other seeds' test scores are not wanted) and the top K of the
final population; the baseline of the comparison is the seed prompt with the best dev score
(chosen on dev, never on test, so the comparison is not itself selected on the test set).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from evoprompt.checkpoint.schema import Comparison, TestReport, TestResult
from evoprompt.checkpoint.state import ExperimentState
from evoprompt.data.loader import Dataset
from evoprompt.evaluation.evaluator import Score
from evoprompt.fewshot.prompt import instruction_of
from evoprompt.metrics.base import Example, Metric
from evoprompt.stats import interval, paired_test


@dataclass(frozen=True)
class Finalist:
    role: str  # "best", "seed", "top" or "given"
    prompt: str
    dev_fitness: float | None


@dataclass(frozen=True)
class Finalists:
    """The prompts of one test phase, the first being the one judged against ``baseline``."""

    prompts: list[Finalist]
    baseline: str | None

    @property
    def texts(self) -> list[str]:
        return [f.prompt for f in self.prompts]


def seed_texts(seed_prompts: Sequence[str]) -> list[str]:
    """The config's seed prompts as generation 0 scored them (whitespace normalized)."""
    return list(dict.fromkeys(" ".join(p.split()) for p in seed_prompts))


def scored_seeds(state: ExperimentState, seed_prompts: Sequence[str]) -> list[str]:
    """The seed prompts as generation 0 scored them, in config order: with ``--shots``, each
    seed instruction with the exemplars it was given."""
    given = {
        instruction_of(ind.text): ind.text
        for ind in state.scored.values()
        if ind.generation == 0 and ind.operator == "seed"
    }
    return [given[t] for t in seed_texts(seed_prompts) if t in given]


def best_seed(state: ExperimentState, seed_prompts: Sequence[str]) -> str | None:
    """The seed prompt with the best dev score (the first in config order on a tie)."""
    seeds = scored_seeds(state, seed_prompts)
    return max(seeds, key=lambda t: state.scored[t].fitness, default=None)


def finalists(
    state: ExperimentState, seed_prompts: Sequence[str], top_k: int, every_seed: bool = True
) -> Finalists:
    """The best prompt, then the seeds (only the baseline unless ``every_seed``), then the rest
    of the top ``top_k`` by dev score."""
    best = state.best()
    ranked = sorted(state.population, key=lambda ind: -ind.fitness)[:top_k]
    baseline = best_seed(state, seed_prompts)
    seeds = scored_seeds(state, seed_prompts) if every_seed else [baseline] if baseline else []
    chosen: dict[str, str] = {}
    if best is not None:
        chosen[best.text] = "best"
    for text in seeds:
        chosen.setdefault(text, "seed")
    for ind in ranked:
        chosen.setdefault(ind.text, "top")
    prompts = [Finalist(role, text, state.scored[text].fitness) for text, role in chosen.items()]
    return Finalists(prompts, baseline)


def given(state: ExperimentState, texts: Sequence[str], seed_prompts: Sequence[str]) -> Finalists:
    """Prompts named by the user, judged (the first of them) against the best seed prompt."""
    baseline = best_seed(state, seed_prompts)
    chosen = {" ".join(t.split()): "given" for t in texts}
    if baseline is not None:
        chosen.setdefault(baseline, "seed")
    prompts = [
        Finalist(role, text, state.scored[text].fitness if text in state.scored else None)
        for text, role in chosen.items()
    ]
    return Finalists(prompts, baseline)


def constant_baseline(
    metric: Metric, dev: Sequence[Example], test: Sequence[Example]
) -> dict[str, Any] | None:
    """The best constant answer on dev, scored on test: the majority-class baseline of a
    classifier (None when the metric has no closed answer set)."""

    def fitness(answer: str, examples: Sequence[Example]) -> float:
        return metric.fitness([metric.judge(answer, e).score for e in examples])

    choices = metric.choices()
    if not choices or not dev:
        return None
    label = max(choices, key=lambda c: fitness(c, dev))
    return {"label": label, "test_fitness": fitness(label, test)}


def per_class(metric: Metric, examples: Sequence[Example], score: Score) -> dict[str, Any]:
    """Test score by gold label (classification only: the metric has a closed answer set)."""
    if not metric.choices():
        return {}
    groups: dict[str, list[float]] = defaultdict(list)
    for example, judged in zip(examples, score.judged):
        groups[example.gold].append(judged.score)
    return {
        gold: {"n": len(values), "test_fitness": metric.fitness(values)}
        for gold, values in sorted(groups.items())
    }


@dataclass(frozen=True)
class TestSet:
    """What a test phase scores on: the rows, where they come from, what was dropped."""

    __test__ = False  # not a pytest test class

    data: Dataset
    source: str
    dropped: int = 0
    folded: int = 0  # rows of the test source that repeated a text, counted once

    @property
    def examples(self) -> list[Example]:
        return [Example(text, gold) for text, gold in zip(self.data.texts, self.data.gold)]


def heldout_report(
    chosen: Finalists,
    scores: dict[str, Score],
    *,
    metric: Metric,
    test: TestSet,
    dev: Sequence[Example],
    seed: int,
    generation: int,
) -> TestReport:
    """Each finalist's test score with its 95% interval, and the first against the baseline."""
    examples = test.examples
    results = []
    for finalist in chosen.prompts:
        values = [j.score for j in scores[finalist.prompt].judged]
        ci = interval(values, metric.binary, seed)
        results.append(
            TestResult(
                finalist.role,
                finalist.prompt,
                finalist.dev_fitness,
                scores[finalist.prompt].fitness,
                ci.low,
                ci.high,
            )
        )
    first = chosen.prompts[0].prompt
    comparison = None
    if chosen.baseline is not None:
        a = [j.score for j in scores[first].judged]
        b = [j.score for j in scores[chosen.baseline].judged]
        paired = paired_test(a, b, metric.binary, seed)
        comparison = Comparison(
            chosen.baseline, paired.delta, paired.low, paired.high, paired.p_value, paired.method
        )
    return TestReport(
        size=len(examples),
        source=test.source,
        results=results,
        comparison=comparison,
        generation=generation,
        dropped_duplicates=test.dropped,
        folded_duplicates=test.folded,
        majority=constant_baseline(metric, dev, examples),
        per_class=per_class(metric, examples, scores[first]),
        best_analysis=dict(scores[first].analysis),
    )
