"""Operator templates: built-in families, user TOML files overriding some operators."""

from __future__ import annotations

from pathlib import Path

import pytest

from evoprompt.config import ConfigError
from evoprompt.evolution.templates import load_templates, task_line
from evoprompt.strategies.registry import operators

GOOD = {
    "ga": "Cross {prompt1} with {prompt2}",
    "de": "{donor1} {donor2} {differences} {best} {base}",
    "paraphrase": "Rephrase {prompt}",
    "paraphrase_again": "Rephrase {prompt} unlike {found}",
}


def write_toml(path: Path, templates: dict[str, object]) -> Path:
    path.write_text("".join(f"{k} = {v!r}\n" for k, v in templates.items()), encoding="utf-8")
    return path


def test_builtin_families() -> None:
    chat = load_templates("evoprompt", completion=False)
    completion = load_templates("evoprompt", completion=True)
    assert not chat.completion and completion.completion
    assert (
        list(chat.texts) == list(completion.texts) == ["ga", "de", "paraphrase", "paraphrase_again"]
    )
    assert completion.texts["ga"].endswith("<prompt>")
    text = chat.render("ga", prompt1="P-ONE", prompt2="P-TWO")
    assert "Prompt 1: P-ONE" in text and "Prompt 2: P-TWO" in text
    de = chat.render("de", donor1="d1", donor2="d2", differences="dd", best="bb", base="ba")
    assert "Basic Prompt: ba" in de and "Prompt 3: bb" in de


def test_toml_file_with_the_right_placeholders(tmp_path: Path) -> None:
    loaded = load_templates(str(write_toml(tmp_path / "t.toml", GOOD)), completion=False)
    assert loaded.texts == GOOD and not loaded.completion
    assert loaded.render("paraphrase", prompt="hi") == "Rephrase hi"


def test_a_file_overriding_only_ga_keeps_the_other_builtin_chat_templates(
    tmp_path: Path,
) -> None:
    path = write_toml(tmp_path / "t.toml", {"ga": GOOD["ga"]})
    for completion in (False, True):
        loaded = load_templates(str(path), completion=completion)
        assert loaded.completion == completion
        assert loaded.texts["ga"] == GOOD["ga"]
        builtin = load_templates("evoprompt", completion=False).texts
        assert loaded.texts["de"] == builtin["de"]
        assert loaded.texts["paraphrase"] == builtin["paraphrase"]


@pytest.mark.parametrize(
    ("operator", "text"),
    [
        ("ga", "Cross {prompt1} only"),  # one missing
        ("ga", "Cross {prompt1} {prompt2} {prompt3}"),  # one extra
        ("de", "{donor1} {donor2} {best} {base}"),  # differences missing
        ("paraphrase", "Rephrase {instruction}"),  # wrong name
        ("paraphrase", "Rephrase it"),  # none
    ],
)
def test_wrong_placeholders_are_a_config_error(tmp_path: Path, operator: str, text: str) -> None:
    path = write_toml(tmp_path / "t.toml", {**GOOD, operator: text})
    with pytest.raises(ConfigError, match=f"template '{operator}'.*placeholders"):
        load_templates(str(path), completion=False)


def test_unknown_operator_names_the_known_ones(tmp_path: Path) -> None:
    path = write_toml(tmp_path / "t.toml", {"ga": GOOD["ga"], "crossover": "{prompt}"})
    with pytest.raises(
        ConfigError, match=r"crossover; known operators: ga, de, paraphrase, paraphrase_again$"
    ):
        load_templates(str(path), completion=False)


def test_non_string_operator_missing_file_and_bad_toml(tmp_path: Path) -> None:
    partial = write_toml(tmp_path / "p.toml", {"ga": GOOD["ga"], "paraphrase": 3})
    with pytest.raises(ConfigError, match="needs a string 'paraphrase'"):
        load_templates(str(partial), completion=False)
    with pytest.raises(ConfigError, match="not found"):
        load_templates(str(tmp_path / "absent.toml"), completion=False)
    bad = tmp_path / "bad.toml"
    bad.write_text("ga = 'unterminated\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_templates(str(bad), completion=False)


def test_malformed_braces_are_a_config_error(tmp_path: Path) -> None:
    path = write_toml(tmp_path / "t.toml", {**GOOD, "ga": "Cross {prompt1} and {prompt2"})
    with pytest.raises(ConfigError):
        load_templates(str(path), completion=False)


def test_positional_placeholder_is_a_config_error(tmp_path: Path) -> None:
    """'{}' would pass a name check yet fail at render time (IndexError) mid-run."""
    path = write_toml(tmp_path / "t.toml", {**GOOD, "ga": "Cross {prompt1} {prompt2} {}"})
    with pytest.raises(ConfigError, match="placeholders"):
        load_templates(str(path), completion=False)


def test_literal_braces_are_allowed(tmp_path: Path) -> None:
    path = write_toml(tmp_path / "t.toml", {**GOOD, "ga": "{{json}} {prompt1} {prompt2}"})
    loaded = load_templates(str(path), completion=False)
    assert loaded.render("ga", prompt1="a", prompt2="b") == "{json} a b"


def test_the_builtin_templates_give_the_writer_the_task_line() -> None:
    line = task_line("", "accuracy", ("positive", "negative"))
    assert line == "classify each input as one of: positive, negative"
    for completion in (False, True):
        loaded = load_templates("evoprompt", completion=completion, task=line)
        old = load_templates("evoprompt-v1", completion=completion, task=line)
        for name, op in operators().items():
            values = {p: f"<{p}>" for p in op.placeholders}
            text = loaded.render(name, **values)
            assert text.startswith(("Task of the prompts: ", "Task: ")) and line in text
            # evoprompt-v1: the set experiments made before {task} were bred with, unchanged
            assert old.render(name, **values) == (op.completion if completion else op.chat).format(
                **values
            )


def test_task_line_from_the_setting_the_labels_or_the_metric() -> None:
    assert task_line("  Spot the\nsarcasm  ", "accuracy", ("a", "b")) == "Spot the sarcasm"
    assert task_line("", "exact_match", ()).endswith("the answer must match the reference exactly")
    assert "python:m.py:f" in task_line("", "python:m.py:f", ())


def test_a_file_template_may_use_the_task(tmp_path: Path) -> None:
    path = write_toml(tmp_path / "t.toml", {"paraphrase": "For {task}, reword: {prompt}"})
    loaded = load_templates(str(path), completion=False, task="sorting mail")
    assert loaded.render("paraphrase", prompt="P") == "For sorting mail, reword: P"
