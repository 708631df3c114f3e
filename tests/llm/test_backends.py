"""The backend registry: defaults and scorer choice follow declared capabilities, and a new
backend defined here runs a whole experiment with one registration."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from evoprompt.checkpoint.state import ExperimentState
from evoprompt.cli.args import build_parser
from evoprompt.config import Config, ConfigError
from evoprompt.llm import backends
from evoprompt.llm.backends import backend_spec, register_backend, settle
from evoprompt.llm.types import Backend, LLMRequest, LLMResponse, Usage
from evoprompt.runner.experiment import Experiment


@pytest.fixture(autouse=True)
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test registers into a copy, so no test's backend outlives it."""
    monkeypatch.setattr(backends, "_REGISTRY", dict(backends._REGISTRY))


def settled(**values: str) -> tuple[Config, str | None]:
    return settle(Config(**values), "")  # type: ignore[arg-type]


def never_built(config: Config, api_key: str) -> Backend:
    raise AssertionError("settling a config builds no backend")


def chat_only() -> None:
    register_backend(
        "chatty", capabilities={"chat"}, default_model="c-1", default_scorer="generate"
    )(never_built)


def test_auto_without_credentials_is_the_local_base_model() -> None:
    config, notice = settled()
    assert (config.backend, config.scorer, config.model) == (
        "local",
        "loglik",
        "gemma-3-270m-q4_k_m",
    )
    assert config.base_url == ""
    assert notice is not None and "--backend openai" in notice
    assert backend_spec("local").completion_mode
    assert backend_spec("local").evolve_temperature_for(config) == 1.0


def test_auto_with_a_key_is_the_endpoint_with_its_defaults() -> None:
    config, notice = settle(Config(evolve_temperature=0.3), "sk-x")
    assert notice is None
    assert (config.backend, config.scorer, config.model) == ("openai", "generate", "gpt-4o-mini")
    assert config.base_url == "https://api.openai.com/v1"
    assert not backend_spec("openai").completion_mode
    assert backend_spec("openai").evolve_temperature_for(config) == 0.3


def test_explicit_choices_are_kept_when_the_backend_can_serve_them() -> None:
    config, _ = settled(backend="openai", scorer="loglik", model="m", base_url="http://h/v1")
    assert (config.scorer, config.model, config.base_url) == ("loglik", "m", "http://h/v1")


def test_a_scorer_the_backend_cannot_serve_is_refused() -> None:
    with pytest.raises(ConfigError) as base_model:
        settled(backend="local", scorer="generate")
    assert str(base_model.value) == "the local backend is a base model: it needs --scorer loglik"
    chat_only()
    assert settled(backend="chatty")[0].scorer == "generate"
    with pytest.raises(ConfigError) as no_loglik:
        settled(backend="chatty", scorer="loglik")
    assert str(no_loglik.value) == (
        "the chatty backend gives no log-likelihoods: it needs --scorer generate"
    )


def test_unknown_backend_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="must be one of auto, openai, local, got 'nope'"):
        settled(backend="nope")


def test_registration_checks_the_declaration() -> None:
    build = never_built
    for taken in ("auto", "openai"):
        with pytest.raises(ValueError, match="taken"):
            register_backend(
                taken, capabilities={"chat"}, default_model="x", default_scorer="generate"
            )(build)
    with pytest.raises(ValueError, match="chat or completion"):
        register_backend(
            "scorer", capabilities={"loglik"}, default_model="x", default_scorer="loglik"
        )(build)
    with pytest.raises(ValueError, match="default scorer 'loglik'"):
        register_backend("gen", capabilities={"chat"}, default_model="x", default_scorer="loglik")(
            build
        )


def test_a_registered_backend_is_a_valid_config_and_flag() -> None:
    with pytest.raises(ConfigError, match="'backend' must be one of auto, openai, local,"):
        settle(Config(backend="chatty"), "")
    chat_only()
    assert settle(Config(backend="chatty"), "").config.backend == "chatty"
    assert build_parser().parse_args(["--backend", "chatty"]).backend == "chatty"


def test_reading_the_registry_imports_no_transport() -> None:
    code = (
        "import sys, evoprompt.llm.backends as b; names = list(b.backend_choices()); "
        "loaded = [m for m in sys.modules if m.startswith(('httpx', 'aiohttp', 'llama'))]; "
        "print(names, loaded)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['auto', 'openai', 'local'] []"


def test_a_toy_backend_runs_an_experiment_with_one_registration(tmp_path: Path) -> None:
    class ToyBackend:
        """Chat only: a sampled (evolution) call gets a fresh prompt named after the request; a
        scoring call answers ``positive`` for the toy's own prompts and ``negative`` otherwise."""

        name = "toy"

        def __init__(self) -> None:
            self.calls = 0

        async def complete(self, request: LLMRequest) -> LLMResponse:
            assert request.kind == "chat", "a chat-only backend gets only chat requests"
            self.calls += 1
            content = request.messages[-1][1]
            if request.site:
                text = f"<prompt>Toy prompt {request.key()[:8]}: name the sentiment.</prompt>"
            else:
                text = "positive" if content.startswith("Toy prompt") else "negative"
            return LLMResponse(text=text, usage=Usage(len(content) // 4, 2), model=request.model)

        async def aclose(self) -> None:
            pass

    built: list[ToyBackend] = []

    @register_backend(
        "toy", capabilities={"chat"}, default_model="toy-1", default_scorer="generate"
    )
    def build_toy(config: Config, api_key: str) -> Backend:
        built.append(ToyBackend())
        return built[-1]

    config = Config(
        backend="toy",
        population_size=4,
        max_generations=2,
        dev_size=16,
        batch_size=8,
        result_dir=str(tmp_path),
    )
    config = settle(config, "").config
    assert (config.model, config.scorer) == ("toy-1", "generate")
    experiment = Experiment(config, tmp_path / "toy", "")
    experiment.write_config()
    engine = experiment.build_engine(ExperimentState.new("toy", config.seed))

    async def run() -> ExperimentState:
        try:
            return await engine.run()
        finally:
            await experiment.aclose()

    state = asyncio.run(run())
    labels = experiment.task.dev.gold
    share = {label: labels.count(label) / len(labels) for label in ("positive", "negative")}
    assert built and built[0].calls > 0
    doc = json.loads((tmp_path / "toy" / "summary.json").read_text())
    assert doc["status"] == "finished" and len(doc["generations"]) == 3
    toy_made = [ind for ind in state.scored.values() if ind.text.startswith("Toy prompt")]
    assert len(toy_made) >= 2 + 2 * 2  # two paraphrases, then children of two generations
    for ind in state.scored.values():
        expected = share["positive" if ind.text.startswith("Toy prompt") else "negative"]
        assert ind.fitness == pytest.approx(expected)
    assert doc["best_fitness"] == pytest.approx(max(share.values()))


def test_settling_returns_a_settled_config_and_leaves_the_given_one_alone() -> None:
    given = Config()
    config, notice = settle(given, "")
    assert (given.backend, given.scorer, given.model) == ("auto", "auto", "")
    assert (config.backend, config.scorer) == ("local", "loglik") and notice is not None
    assert settle(config, "") == (config, None)  # settling a settled config changes nothing
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.backend = "openai"  # type: ignore[misc]
