"""The reasoning and generation datasets that ship with the package."""

from __future__ import annotations

import json
import re
from pathlib import Path

from evoprompt.checkpoint.layout import Layout
from evoprompt.config import Config
from evoprompt.data.loader import load_dataset
from evoprompt.llm.backends import settle
from evoprompt.runner.launch import check_guard, stored_config


def test_arith_has_many_distinct_problems_with_one_numeric_answer() -> None:
    data = load_dataset("arith", "text", "label")
    assert len(data) >= 120 and len(set(data.texts)) == len(data)
    assert all(re.fullmatch(r"-?\d+(\.\d+)?", gold) for gold in data.gold)
    assert len({text.split()[1] for text in data.texts}) > 15  # varied phrasing


def test_summarize_has_passages_with_one_line_references() -> None:
    data = load_dataset("summarize", "text", "label")
    assert len(data) >= 80 and len(set(data.texts)) == len(data)
    for text, gold in zip(data.texts, data.gold):
        assert len(gold.split()) >= 5 and len(gold) < len(text) and "\n" not in gold


def test_experiments_saved_before_the_metric_keys_still_resume(tmp_path: Path) -> None:
    stored = Config().to_dict()
    for key in ("metric", "answer_pattern", "max_tokens"):
        del stored[key]
    Layout(tmp_path).config.write_text(json.dumps(stored))
    config = Config()
    config = settle(config, "").config
    old = stored_config(tmp_path)
    assert old is not None and old.metric == "accuracy"
    check_guard(old, config, "old")  # no SessionError: missing keys had their defaults
