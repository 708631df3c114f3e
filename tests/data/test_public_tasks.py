"""The public tasks (SST-2, Subj, AG News): rows with label names, the paper's manual prompts,
a seeded dev/test split disjoint by row and text, and where a run's seed prompts come from."""

from __future__ import annotations

from pathlib import Path

import pytest

from evoprompt.config import ConfigError, resolve
from evoprompt.config.table import DEFAULT_SEED_PROMPTS
from evoprompt.data.loader import dev_split, held_out_split, load_dataset
from evoprompt.data.manual import manual_prompts

LABELS = {
    "sst2": {"negative", "positive"},
    "subj": {"subjective", "objective"},
    "agnews": {"World", "Sports", "Business", "Tech"},
}


@pytest.mark.parametrize("task", sorted(LABELS))
def test_a_public_task_has_named_labels_distinct_rows_and_manual_prompts(task: str) -> None:
    data = load_dataset(task, "text", "label")
    assert len(data) >= 700 and data.folded == 0
    assert set(data.gold) == LABELS[task]
    counts = [data.gold.count(label) for label in LABELS[task]]
    assert min(counts) > len(data) / len(counts) / 2  # no label nearly missing
    prompts = manual_prompts(task)
    assert prompts is not None and len(prompts) >= 10 and len(set(prompts)) == len(prompts)
    named = [p for p in prompts if any(label.lower() in p.lower() for label in LABELS[task])]
    assert len(named) >= len(prompts) - 2  # the paper's prompts name the labels (two do not)


@pytest.mark.parametrize("task", sorted(LABELS))
def test_the_dev_and_test_splits_are_seeded_and_disjoint(task: str) -> None:
    data = load_dataset(task, "text", "label")
    dev = dev_split(data, 64, seed=1)
    assert dev == dev_split(data, 64, seed=1)
    assert dev.texts != dev_split(data, 64, seed=2).texts
    test = held_out_split(data, 64, 300, seed=1)
    assert len(test.test) == 300 and test.dropped == 0
    assert not set(test.test.texts) & set(dev.texts)
    assert test.test == held_out_split(data, 64, 300, seed=1).test


def test_a_public_task_starts_from_its_manual_prompts() -> None:
    for task in LABELS:
        config = resolve(toml=None, env={}, flags={"dataset": task})
        assert config.seed_prompts == manual_prompts(task)
    assert resolve(toml=None, env={}, flags={}).seed_prompts == list(DEFAULT_SEED_PROMPTS)


def test_seed_prompts_set_anywhere_win_over_the_manual_ones() -> None:
    mine = ["Say positive or negative."]
    assert (
        resolve(toml={"seed_prompts": mine}, env={}, flags={"dataset": "sst2"}).seed_prompts == mine
    )
    stored = {"dataset": "sst2", "seed_prompts": mine, "seed_prompts_from": "manual"}
    assert resolve(base=stored, toml=None, env={}, flags={}).seed_prompts == mine
    # the higher layer decides: a flag's source over a config file's prompts, and back
    flags = {"dataset": "sst2", "seed_prompts_from": "manual"}
    assert resolve(toml={"seed_prompts": mine}, env={}, flags=flags).seed_prompts == (
        manual_prompts("sst2")
    )
    toml = {"dataset": "sst2", "seed_prompts_from": "manual"}
    assert resolve(toml=toml, env={}, flags={"seed_prompts": mine}).seed_prompts == mine


def test_seed_prompts_from_a_file_and_its_refusals(tmp_path: Path) -> None:
    path = tmp_path / "prompts.txt"
    path.write_text("  Label it.  \n\nSay   which label fits.\n", encoding="utf-8")
    config = resolve(toml=None, env={}, flags={"seed_prompts_from": str(path)})
    assert config.seed_prompts == ["Label it.", "Say which label fits."]
    with pytest.raises(ConfigError, match="dataset sentiment has no manual prompts"):
        resolve(toml=None, env={}, flags={"seed_prompts_from": "manual"})
    with pytest.raises(ConfigError, match="cannot read it"):
        resolve(toml=None, env={}, flags={"seed_prompts_from": str(tmp_path / "missing.txt")})
    (tmp_path / "empty.txt").write_text("\n  \n")
    with pytest.raises(ConfigError, match="holds no prompt"):
        resolve(toml=None, env={}, flags={"seed_prompts_from": str(tmp_path / "empty.txt")})
    with pytest.raises(ConfigError, match="not both"):
        resolve(toml=None, env={}, flags={"seed_prompts_from": "manual", "seed_prompts": ["x"]})
