"""The metric seam: how one output is judged against its gold value, and how judgements add up.

Metrics are found by name in a registry, so a new one is its own module plus one
``@register_metric`` line; the evaluator, scorers, state and report never learn what kind of
task they score.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from evoprompt.config import Config
from evoprompt.data.loader import Dataset


class MetricError(ValueError):
    """A metric that cannot be had: an unknown name (the message lists the known ones), or a
    user metric that cannot be imported."""


class MetricFailed(Exception):
    """A metric could not judge an output (a user metric raised, or returned a bad score)."""


@dataclass(frozen=True)
class Example:
    """One dev-set row as a metric sees it."""

    text: str
    gold: str


@dataclass(frozen=True)
class Judged:
    """One raw output judged: what the metric read from it, and its score in [0, 1]."""

    output: str
    prediction: str
    score: float


@dataclass(frozen=True)
class AnalysisTable:
    """How a metric shows its analysis: a titled table of strings, for any report format."""

    title: str
    headers: list[str]
    rows: list[list[str]]


class Metric(Protocol):
    binary: bool  # every score is 0 or 1, so proportion statistics (Wilson, McNemar) apply
    max_tokens: int  # the completion cap of scoring calls unless the config's max_tokens is set

    def prepare(self, data: Dataset, config: Config) -> Metric:
        """This metric fitted to the whole dataset; DatasetError when the data cannot be scored."""
        ...

    def hint(self) -> str:
        """What the task model is told after the instruction ("" for nothing)."""
        ...

    def choices(self) -> tuple[str, ...]:
        """The closed set of possible answers, for scorers that rank them; () when open-ended."""
        ...

    def judge(self, output: str, example: Example) -> Judged:
        """The prediction read from one raw output and its score against the example's gold."""
        ...

    def fitness(self, scores: Sequence[float]) -> float:
        """One prompt's fitness from its per-example scores."""
        ...

    def analyse(self, examples: Sequence[Example], judged: Sequence[Judged]) -> dict[str, Any]:
        """The metric's figures for one prompt's outputs (stored in batch files and state)."""
        ...

    def table(self, analysis: Mapping[str, Any]) -> AnalysisTable:
        """An analysis made by ``analyse`` as a table for reports."""
        ...


class MeanMetric(ABC):
    """Defaults for a metric that only judges single outputs: fitness is the mean score."""

    binary = False
    max_tokens = 256  # a cap, not a target: short answers cost no more

    def prepare(self, data: Dataset, config: Config) -> Metric:
        return self

    def hint(self) -> str:
        return ""

    def choices(self) -> tuple[str, ...]:
        return ()

    @abstractmethod
    def judge(self, output: str, example: Example) -> Judged: ...

    def fitness(self, scores: Sequence[float]) -> float:
        return sum(scores) / len(scores) if scores else 0.0

    def analyse(self, examples: Sequence[Example], judged: Sequence[Judged]) -> dict[str, Any]:
        return {}

    def table(self, analysis: Mapping[str, Any]) -> AnalysisTable:
        return figures_table(analysis)


def figures_table(analysis: Mapping[str, Any]) -> AnalysisTable:
    """Any analysis as (figure, value) rows."""
    rows = [[str(key), str(value)] for key, value in analysis.items()]
    return AnalysisTable("Analysis", ["figure", "value"], rows)


Factory = TypeVar("Factory", bound=Callable[..., Metric])
_REGISTRY: dict[str, tuple[Callable[..., Metric], bool]] = {}


def register_metric(name: str, *, argument: bool = False) -> Callable[[Factory], Factory]:
    """Make a metric class (or factory) available by ``name``.

    With ``argument=True`` the metric is named ``name:ARG`` and its factory is called with ARG
    (``python:MODULE:FUNCTION`` gets "MODULE:FUNCTION"); otherwise it is called with nothing.
    """

    def add(factory: Factory) -> Factory:
        if name in _REGISTRY:
            raise ValueError(f"metric {name} is already registered")
        _REGISTRY[name] = (factory, argument)
        return factory

    return add


def make_metric(spec: str) -> Metric:
    """A new, unfitted metric for ``spec`` ("accuracy", "name:ARG"); MetricError if unknown."""
    name, colon, argument = spec.partition(":")
    if name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY))
        raise MetricError(f"unknown metric '{spec}' (known metrics: {known})")
    factory, takes_argument = _REGISTRY[name]
    if takes_argument and not argument:
        raise MetricError(f"metric {name} needs an argument: {name}:ARG")
    if colon and not takes_argument:
        raise MetricError(f"metric {name} takes no argument ('{spec}')")
    return factory(argument) if takes_argument else factory()


def analysis_table(spec: str, analysis: Mapping[str, Any]) -> AnalysisTable:
    """How the metric ``spec`` shows a stored analysis; key/value rows for a metric this
    process does not know (a registration in someone's script), so a report never fails."""
    try:
        return make_metric(spec).table(analysis)
    except MetricError:
        return figures_table(analysis)
