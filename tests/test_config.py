"""Config resolution: defaults < TOML < env < flags, strict keys, types and choices."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from evoprompt.cli.args import build_parser, split
from evoprompt.config import Config, ConfigError, env_values, read_toml, resolve
from evoprompt.config.roles import for_role
from evoprompt.llm.backends import settle

DEFAULT_TOML = Path(__file__).resolve().parents[1] / "configs" / "default.toml"


def test_nothing_given_resolves_to_the_defaults() -> None:
    assert resolve(toml=None, env={}, flags={}) == Config()


def test_precedence_defaults_toml_env_flags() -> None:
    toml = {"concurrency": 4, "base_url": "http://toml/v1", "result_dir": "toml_dir", "seed": 1}
    env = env_values({"OPENAI_BASE_URL": "http://env/v1", "EVOPROMPT_RESULT_DIR": "env_dir"})
    flags = {"concurrency": 12, "result_dir": "flag_dir"}
    config = resolve(toml=toml, env=env, flags=flags)
    assert config.concurrency == 12  # flag beats TOML
    assert config.result_dir == "flag_dir"  # flag beats env
    assert config.base_url == "http://env/v1"  # env beats TOML
    assert config.seed == 1  # TOML beats default
    assert config.batch_size == Config().batch_size  # default where nothing is said


def test_stored_config_is_the_base_under_everything_else() -> None:
    base = Config(population_size=9, concurrency=2).to_dict()
    config = resolve(toml={"concurrency": 3}, env={}, flags={}, base=base)
    assert (config.population_size, config.concurrency) == (9, 3)


def test_env_values() -> None:
    assert env_values({}) == {}
    environ = {
        "OPENAI_BASE_URL": "http://localhost:8000/v1",
        "OPENAI_API_KEY": "sk-secret",
        "EVOPROMPT_RESULT_DIR": "/tmp/r",
        "EVOPROMPT_DISABLE_CHECKPOINT": "1",
        "UNRELATED": "x",
    }
    assert env_values(environ) == {
        "base_url": "http://localhost:8000/v1",
        "result_dir": "/tmp/r",
        "checkpoint": False,
    }
    assert env_values({"EVOPROMPT_DISABLE_CHECKPOINT": "0", "OPENAI_BASE_URL": ""}) == {}
    # The key never becomes part of the config (config.json must hold no secret).
    assert "sk-secret" not in str(resolve(toml=None, env=env_values(environ), flags={}))


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [
        ("concurency", "concurrency"),
        ("max_retry", "max_retries"),
        ("populaton_size", "population_size"),
    ],
)
def test_unknown_key_is_rejected_with_a_hint(key: str, suggestion: str) -> None:
    with pytest.raises(ConfigError, match=f"unknown config key '{key}' in the config file") as err:
        resolve(toml={key: 1}, env={}, flags={})
    assert f"did you mean '{suggestion}'?" in str(err.value)


def test_unknown_key_without_a_close_match_has_no_hint() -> None:
    with pytest.raises(ConfigError) as err:
        resolve(toml=None, env={}, flags={"zzzzzz": 1})
    assert "the command line" in str(err.value) and "did you mean" not in str(err.value)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"concurrency": "8"}, "'concurrency' must be an integer"),
        ({"concurrency": True}, "'concurrency' must be an integer"),
        ({"concurrency": 2.5}, "'concurrency' must be an integer"),
        ({"retry_delay": "1s"}, "'retry_delay' must be a number"),
        ({"checkpoint": "yes"}, "'checkpoint' must be true or false"),
        ({"model": 4}, "'model' must be a string"),
        ({"labels": "a,b"}, "'labels' must be a list of strings"),
        ({"seed_prompts": ["ok", 3]}, "'seed_prompts' must be a list of strings"),
        ({"prices": {"m": {"input": 1.0}}}, "prices.m must be a table"),
        ({"prices": []}, "'prices' must be a table"),
        ({"algorithm": "pso"}, "'algorithm' must be one of ga, de"),
        ({"retry_strategy": "random"}, "'retry_strategy' must be one of exponential, linear"),
        ({"batch_size": 0}, "'batch_size' must be greater than 0"),
        ({"retry_delay": -1.0}, "'retry_delay' must not be negative"),
        ({"evolve_temperature": float("nan")}, "'evolve_temperature' must be a finite number"),
        ({"evolve_temperature": 2.5}, "'evolve_temperature' must be at most 2"),
        ({"max_outage": float("inf")}, "'max_outage' must be a finite number"),
        ({"timeout": float("nan")}, "'timeout' must be a finite number"),
        ({"max_cost": 10**400}, "'max_cost' must be a finite number"),
        ({"prices": {"m": {"prompt": float("nan")}}}, "'prices.m.prompt' must be a finite"),
        ({"prices": {"m": {"prompt": "1"}}}, "'prices.m.prompt' must be a number"),
        ({"prices": {"m": {"completion": -1}}}, "'prices.m.completion' must be at least 0"),
        ({"population_size": 1}, "at least 2"),
        ({"algorithm": "de", "population_size": 2}, "DE needs population_size >= 3"),
        ({"seed_prompts": []}, "seed_prompts"),
        ({"seed_prompts": ["fine", "  "]}, "seed_prompts"),
        ({"base_url": "localhost:8000"}, "base_url must start with http"),
        ({"name": "a/b"}, "'name' must be letters, digits"),
    ],
)
def test_bad_values_are_rejected(values: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve(toml=values, env={}, flags={})


def test_good_conversions() -> None:
    config = resolve(
        toml={"retry_delay": 2, "prices": {"m": {"prompt": 1, "completion": 2}}},
        env={},
        flags={},
    )
    assert config.retry_delay == 2.0 and isinstance(config.retry_delay, float)
    assert config.prices == {"m": {"prompt": 1.0, "completion": 2.0}}


def test_read_toml(tmp_path: Path) -> None:
    path = tmp_path / "myexp.toml"
    path.write_text('dataset = "code_vuln"\nconcurrency = 3\n')
    raw = read_toml(path)
    assert raw == {"dataset": "code_vuln", "concurrency": 3, "name": "myexp"}
    with pytest.raises(ConfigError, match="not found"):
        read_toml(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("concurrency = = 3")
    with pytest.raises(ConfigError, match="not valid TOML"):
        read_toml(tmp_path / "bad.toml")


# -- through the real CLI parser -------------------------------------------------------------


def parse(*argv: str) -> tuple[dict[str, object], dict[str, object]]:
    return split(build_parser().parse_args(list(argv)))


def test_cli_flags_beat_toml_and_env() -> None:
    flags, run_only = parse(
        "--concurrency", "12",
        "--algorithm", "de",
        "--retry-delay", "0.5",
        "--no-checkpoint",
        "--seed-prompts", "first prompt", "second prompt",
        "--prices", '{"m": {"prompt": 1, "completion": 2}}',
        "--base-url", "http://flag/v1",
        "--experiment-id", "exp1",
        "--yes",
    )  # fmt: skip
    assert run_only == {"experiment_id": "exp1", "yes": True}
    assert flags == {
        "concurrency": 12,
        "algorithm": "de",
        "retry_delay": 0.5,
        "checkpoint": False,
        "seed_prompts": ["first prompt", "second prompt"],
        "prices": {"m": {"prompt": 1, "completion": 2}},
        "base_url": "http://flag/v1",
    }
    env = env_values({"OPENAI_BASE_URL": "http://env/v1"})
    config = resolve(toml={"concurrency": 4, "max_retries": 7}, env=env, flags=flags)
    assert (config.concurrency, config.base_url, config.max_retries) == (12, "http://flag/v1", 7)
    assert config.checkpoint is False and config.prices["m"]["completion"] == 2.0


def test_flags_not_given_do_not_override_anything() -> None:
    flags, run_only = parse()
    assert flags == {} and run_only == {}
    assert resolve(toml={"batch_size": 5}, env={}, flags=flags).batch_size == 5


def test_every_config_key_has_a_flag() -> None:
    parser = build_parser()
    options = {opt for action in parser._actions for opt in action.option_strings}
    for f in fields(Config):
        flag = "--no-checkpoint" if f.name == "checkpoint" else "--" + f.name.replace("_", "-")
        assert flag in options, flag


@pytest.mark.parametrize(
    "argv",
    [
        ["--algorithm", "pso"],
        ["--concurrency", "many"],
        ["--retry-strategy", "random"],
        ["--prices", "not json"],
        ["--prices", "[1, 2]"],
    ],
)
def test_cli_rejects_bad_flags(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(argv)
    assert exit_info.value.code == 2
    assert argv[0] in capsys.readouterr().err


def test_cli_value_checked_by_the_config_rules() -> None:
    flags, _ = parse("--max-retries", "0")
    with pytest.raises(ConfigError, match="'max_retries' must be greater than 0"):
        resolve(toml=None, env={}, flags=flags)


@pytest.mark.parametrize("word", ["nan", "inf", "NaN"])
def test_every_float_flag_and_stored_value_must_be_finite(word: str) -> None:
    """A float parser takes "nan" and "inf", and nan passes every bound check; one rule for
    every float key, whichever layer gives it (a flag, or a stored config.json's NaN)."""
    floats = [f.name for f in fields(Config) if isinstance(getattr(Config(), f.name), float)]
    assert "evolve_temperature" in floats and "max_cost" in floats
    for key in floats:
        flags, _ = parse(f"--{key.replace('_', '-')}", word)
        with pytest.raises(ConfigError, match=f"'{key}' must be a finite number"):
            resolve(toml=None, env={}, flags=flags)
        with pytest.raises(ConfigError, match=f"'{key}' must be a finite number"):
            resolve(base={key: float(word)}, toml=None, env={}, flags={})


# -- the shipped default config --------------------------------------------------------------


def test_default_toml_matches_the_builtin_defaults() -> None:
    if not DEFAULT_TOML.exists():
        pytest.skip("configs/default.toml is not there")
    raw = read_toml(DEFAULT_TOML)
    assert set(raw) <= {f.name for f in fields(Config)}
    assert resolve(toml=raw, env={}, flags={}) == Config()


@pytest.mark.parametrize("name", ["sentiment", "layer1"])
def test_shipped_configs_resolve(name: str) -> None:
    path = DEFAULT_TOML.parent / f"{name}.toml"
    if not path.exists():
        pytest.skip(f"{path.name} is not there")
    config = resolve(toml=read_toml(path), env={}, flags={})
    assert config.name == name


def test_the_operator_table_env_and_defaults() -> None:
    toml = {
        "model": "small",
        "operator": {"model": "big", "max_cost": 1.5, "prices": {"big": {"prompt": 2.0}}},
    }
    env = env_values({"EVOPROMPT_OPERATOR_BASE_URL": "http://op:8/v1", "OPENAI_API_KEY": "k"})
    config = resolve(toml=toml, env=env, flags={"backend": "openai"})
    assert (config.operator_model, config.operator_max_cost) == ("big", 1.5)
    assert config.operator_base_url == "http://op:8/v1"
    config = settle(config, "k").config
    writer = for_role(config, "operator")
    assert (writer.backend, writer.model, writer.base_url) == ("openai", "big", "http://op:8/v1")
    assert writer.prices == {"big": {"prompt": 2.0}} and writer.max_calls == 0
    assert (writer.timeout, writer.concurrency) == (config.timeout, config.concurrency)
    # no operator named: every setting the task's
    plain = resolve(toml=None, env={}, flags={"backend": "openai", "model": "m"})
    plain = settle(plain, "k").config
    same = for_role(plain, "operator")
    assert (same.backend, same.model, same.base_url) == ("openai", "m", plain.base_url)
    with pytest.raises(ConfigError, match=r"operator_modle.*did you mean 'operator_model'"):
        resolve(toml={"operator": {"modle": "x"}}, env={}, flags={})
    with pytest.raises(ConfigError, match="operator_base_url must start with http"):
        resolve(toml=None, env={}, flags={"operator_base_url": "op:8"})
    stored = Config(operator_base_url="http://u:pw@h/v1").to_dict()
    assert stored["operator_base_url"] == "http://h/v1"  # the password is never stored
