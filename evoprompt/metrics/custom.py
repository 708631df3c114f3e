"""``python:MODULE:FUNCTION``: a user's metric, ``FUNCTION(output, reference, example)``.

The function gets the reply (or its ``answer_pattern`` extract), the gold value and the
``Example`` (``.text``, ``.gold``) and returns a score in [0, 1]. MODULE is an importable module
(the current directory is searched too) or a ``.py`` file. It is imported once, when the metric
is fitted to the data, so a bad name fails before any call is paid for; a function that raises
(``sys.exit()`` included: the metric's failure, not the program's end) or returns anything but
a number in [0, 1] stops the run with one line (resumable once fixed: the answers are in the
journal).
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import math
import numbers
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from evoprompt.config import Config
from evoprompt.data.loader import Dataset
from evoprompt.metrics.base import Example, Metric, MetricError, MetricFailed, register_metric
from evoprompt.metrics.extract import compile_pattern
from evoprompt.metrics.reference import ReferenceMetric

UserFunction = Callable[[str, str, Example], Any]


def _module(name: str) -> ModuleType:
    if name.endswith(".py"):
        path = Path(name)
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None or not path.is_file():
            raise FileNotFoundError(f"no file {name}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    return importlib.import_module(name)


def load_function(target: str) -> UserFunction:
    """The callable ``MODULE:FUNCTION`` names; MetricError saying why it cannot be had."""
    module_name, _, function_name = target.rpartition(":")
    spec = f"python:{target}"
    try:
        module = _module(module_name)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # the user's module may fail in any way while importing,
        raise MetricError(  # sys.exit() included: that is its failure, not the program's end
            f"metric {spec}: cannot import {module_name} ({type(exc).__name__}: {exc})"
        ) from None
    function = getattr(module, function_name, None)
    if function is None:
        raise MetricError(f"metric {spec}: {module_name} has no attribute {function_name}")
    if not callable(function):
        raise MetricError(f"metric {spec}: {module_name}.{function_name} is not callable")
    return function  # type: ignore[no-any-return]


@dataclasses.dataclass(frozen=True)
class Custom(ReferenceMetric):
    """A user's function as a metric; the worst-examples analysis like the built-ins."""

    target: str = ""
    function: UserFunction | None = None

    def prepare(self, data: Dataset, config: Config) -> Metric:
        return dataclasses.replace(
            self,
            pattern=compile_pattern(config.answer_pattern),
            function=load_function(self.target),
        )

    def inert(self, config: Config) -> Metric:
        """Fitted without importing the user's module: what a dry run's plan needs (hint,
        choices, token cap); it cannot score, and a dry run never runs a folder's code."""
        return dataclasses.replace(self, pattern=compile_pattern(config.answer_pattern))

    def compare(self, answer: str, example: Example) -> float:
        if self.function is None:
            raise MetricFailed(f"metric python:{self.target} was not loaded (a dry run)")
        where = f"metric python:{self.target}"
        try:
            value = self.function(answer, example.gold, example)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # whatever the user's code raises (SystemExit included)
            raise MetricFailed(f"{where} raised {type(exc).__name__}: {exc}") from exc
        if not isinstance(value, numbers.Real):
            raise MetricFailed(f"{where} returned {value!r}; it must return a number in [0, 1]")
        score = float(value)
        if math.isnan(score) or not 0.0 <= score <= 1.0:
            raise MetricFailed(f"{where} returned {value!r}, outside [0, 1]")
        return score


@register_metric("python", argument=True)
def custom_metric(target: str) -> Custom:
    """``python:MODULE:FUNCTION`` (checked for form here, imported by ``prepare``)."""
    module_name, _, function_name = target.rpartition(":")
    if not module_name or not function_name:
        raise MetricError(f"metric python:{target}: expected python:MODULE:FUNCTION")
    return Custom(target=target)
