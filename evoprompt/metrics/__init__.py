"""Metrics: how outputs are judged against gold values (see ``base``); built-ins register here."""

from evoprompt.metrics import accuracy
from evoprompt.metrics.base import (
    AnalysisTable,
    Example,
    Judged,
    MeanMetric,
    Metric,
    MetricError,
    make_metric,
    register_metric,
)

DEFAULT_METRIC = "accuracy"

__all__ = [
    "DEFAULT_METRIC",
    "AnalysisTable",
    "Example",
    "Judged",
    "MeanMetric",
    "Metric",
    "MetricError",
    "accuracy",
    "make_metric",
    "register_metric",
]
