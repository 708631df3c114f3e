"""python:MODULE:FUNCTION metrics: loaded once, and every way they can fail is one clear line."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from evoprompt.config import Config, ConfigError
from evoprompt.data.loader import Dataset
from evoprompt.metrics import Example, MetricError, MetricFailed, make_metric
from evoprompt.runner.task import load_task
from evoprompt.testing.server import FakeLLMServer
from tests.conftest import FAST_RETRY, cli_env, run_cli

USER_METRICS = """
calls = []

def length_ratio(output, reference, example):
    calls.append(example.text)
    return min(1.0, len(output) / max(1, len(reference)))

def too_big(output, reference, example):
    return 1.5

def boom(output, reference, example):
    raise KeyError("no such thing")

def text(output, reference, example):
    return "high"

def leave(output, reference, example):
    raise SystemExit(0)

not_callable = 3
"""
DATA = Dataset(("q",), ("abcd",), "test")


@pytest.fixture
def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "user_metrics_mod.py"
    path.write_text(USER_METRICS)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield path
    sys.modules.pop("user_metrics_mod", None)


def test_a_user_function_scores_outputs(module: Path) -> None:
    metric = make_metric("python:user_metrics_mod:length_ratio").prepare(DATA, Config())
    assert metric.judge("ab", Example("q", "abcd")).score == 0.5
    assert metric.judge("abcdef", Example("q", "abcd")).score == 1.0
    assert sys.modules["user_metrics_mod"].calls == ["q", "q"]  # imported once, then reused
    by_file = make_metric(f"python:{module}:length_ratio").prepare(DATA, Config())
    assert by_file.judge("abc", Example("q", "abcd")).score == 0.75


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("python:no_such_module_xyz:f", "cannot import no_such_module_xyz (ModuleNotFoundError"),
        ("python:user_metrics_mod:missing", "user_metrics_mod has no attribute missing"),
        ("python:user_metrics_mod:not_callable", "not_callable is not callable"),
        ("python:/nowhere/file.py:f", "cannot import /nowhere/file.py"),
    ],
)
def test_a_user_function_that_cannot_be_had_is_named(module: Path, spec: str, message: str) -> None:
    with pytest.raises(MetricError, match="metric python:") as caught:
        make_metric(spec).prepare(DATA, Config())
    assert message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("function", "message"),
    [
        ("too_big", "returned 1.5, outside [0, 1]"),
        ("boom", "raised KeyError: 'no such thing'"),
        ("text", "returned 'high'; it must return a number in [0, 1]"),
        ("leave", "raised SystemExit: 0"),  # the metric's failure, not the program's end
    ],
)
def test_a_bad_score_or_exception_is_named(module: Path, function: str, message: str) -> None:
    metric = make_metric(f"python:user_metrics_mod:{function}").prepare(DATA, Config())
    with pytest.raises(MetricFailed, match="metric python:user_metrics_mod:") as caught:
        metric.judge("out", Example("q", "abcd"))
    assert message in str(caught.value)


@pytest.mark.parametrize("spec", ["python", "python:justmodule", "nope", "exact_match:x"])
def test_malformed_metric_names(spec: str) -> None:
    with pytest.raises(MetricError):
        make_metric(spec)


def test_load_task_turns_metric_problems_into_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown metric 'nope'"):
        load_task(Config(metric="nope"))
    with pytest.raises(ConfigError, match="use --scorer generate for --metric exact_match"):
        load_task(Config(metric="exact_match", scorer="loglik", backend="openai"))


def test_the_cli_stops_with_one_line_on_a_failing_user_metric(module: Path, tmp_path: Path) -> None:
    with FakeLLMServer() as server:
        env = cli_env(server)
        env["PYTHONPATH"] = str(module.parent)
        common = ["--dataset", "arith", "--dev-size", "8", "--population-size", "2"]
        common += [*FAST_RETRY, "--result-dir", str(tmp_path / "r"), "--max-generations", "1"]
        bad = run_cli([*common, "--metric", "python:user_metrics_mod:too_big"], env)
        assert bad.returncode == 2, bad.stderr
        assert "error: metric python:user_metrics_mod:too_big returned 1.5, outside [0, 1]" in (
            bad.stderr
        )
        assert "Traceback" not in bad.stderr
        missing = run_cli([*common, "--metric", "python:user_metrics_mod:nothing"], env)
        assert missing.returncode == 2
        assert "error: metric python:user_metrics_mod:nothing: user_metrics_mod has no " in (
            missing.stderr
        )
        loglik = run_cli([*common, "--metric", "exact_match", "--scorer", "loglik"], env)
        assert loglik.returncode == 2
        assert "use --scorer generate" in loglik.stderr
