"""Metrics: how outputs are judged against gold values (see ``base``); built-ins register here."""

from evoprompt.metrics import accuracy, custom, match, rouge
from evoprompt.metrics.base import (
    AnalysisTable,
    Example,
    Judged,
    MeanMetric,
    Metric,
    MetricError,
    MetricFailed,
    analysis_table,
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
    "MetricFailed",
    "accuracy",
    "analysis_table",
    "custom",
    "make_metric",
    "match",
    "register_metric",
    "rouge",
]
