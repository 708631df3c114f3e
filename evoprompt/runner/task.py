"""The task prompts are scored on, loaded and checked before anything is created.

Kept apart from the experiment's assembly (:mod:`evoprompt.runner.experiment`): a dry run, a
sweep and the read-only ``verify`` need the task (dataset, fitted metric, splits) without the
backend, journal and engine a run opens, and bad input must cost one line before any of them.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, field

from evoprompt.config import Config, ConfigError
from evoprompt.config.roles import for_role
from evoprompt.core.finalists import TestSet
from evoprompt.data.loader import (
    Dataset,
    DatasetError,
    column_of,
    dev_split,
    held_out_split,
    load_dataset,
)
from evoprompt.data.train import train_split
from evoprompt.evolution.templates import load_templates, task_line
from evoprompt.llm.backends import backend_spec
from evoprompt.metrics import Metric, MetricError, make_metric
from evoprompt.metrics.custom import Custom


@dataclass(frozen=True)
class Task:
    """What prompts are scored on: the dev split, the metric fitted to the whole dataset, and
    the held-out test set (None when ``test_size`` is 0) and the train pool exemplars come
    from (None without ``--shots``)."""

    dev: Dataset
    metric: Metric
    test: TestSet | None = None
    train: Dataset | None = None
    worked: Mapping[str, str] = field(default_factory=dict)  # train text -> worked answer


def _test_set(
    config: Config, data: Dataset, fitted: Metric, train: Dataset | None
) -> TestSet | None:
    if config.test_size == 0:
        return None
    other = None
    if config.test_dataset:
        other = load_dataset(config.test_dataset, config.text_column, config.label_column)
        unknown = sorted(set(other.gold) - set(fitted.choices())) if fitted.choices() else []
        if unknown:
            raise DatasetError(
                f"test dataset {config.test_dataset} has labels not in the label set: "
                f"{', '.join(unknown)} (allowed: {', '.join(fitted.choices())})"
            )
    held = held_out_split(data, config.dev_size, config.test_size, config.seed, other, train)
    folded = (other or data).folded
    return TestSet(held.test, config.test_dataset or config.dataset, held.dropped, folded)


def load_task(config: Config, metric: str | None = None, *, run_code: bool = True) -> Task:
    """The experiment's task, scored by ``metric`` (default: the config's).

    ``run_code=False`` (a dry run's plan) never imports a ``python:`` metric's module.
    Raises DatasetError or ConfigError with a one-line reason, before any call is made.
    """
    spec = metric or config.metric
    data = load_dataset(config.dataset, config.text_column, config.label_column)
    try:
        unfitted = make_metric(spec)
        if isinstance(unfitted, Custom) and not run_code:
            fitted = unfitted.inert(config)
        else:
            fitted = unfitted.prepare(data, config)
    except MetricError as exc:
        raise ConfigError(str(exc)) from None
    if config.scorer == "loglik" and not fitted.choices():
        raise ConfigError(
            f"the loglik scorer ranks a closed set of labels, so it works with --metric "
            f"accuracy only: use --scorer generate for --metric {spec}"
            + (
                f" (the {config.backend} backend cannot generate: use an endpoint)"
                if backend_spec(config.backend).completion_mode
                else ""
            )
        )
    dev = dev_split(data, config.dev_size, config.seed)
    train, worked = None, {}
    if config.shots:
        train = train_split(data, config.dev_size, config.train_size, config.seed)
        if config.worked_column:
            worked = column_of(config.dataset, config.text_column, config.worked_column)
    return Task(dev, fitted, _test_set(config, data, fitted, train), train, worked)


def describe_task(config: Config, metric: Metric) -> str:
    """The line operator templates get as ``{task}``."""
    return task_line(config.task_description, config.metric, metric.choices())


def check_input(config: Config, metric: str | None = None) -> Task:
    """The task, once everything a run reads from its input is known to be usable: the
    backend's packages, the templates file, the dataset. Called before any resume offer and
    before anything is created, so bad input costs one line and leaves nothing on disk
    (raises ConfigError or DatasetError)."""
    writer = backend_spec(for_role(config, "operator").backend)
    for spec in dict.fromkeys((backend_spec(config.backend), writer)):
        missing = spec.missing()
        if missing is not None:
            raise ConfigError(missing)
    if config.track == "mlflow" and importlib.util.find_spec("mlflow") is None:
        raise ConfigError("--track mlflow needs MLflow: pip install 'evoprompt[mlflow]'")
    load_templates(config.templates, completion=writer.completion_mode)
    return load_task(config, metric)
