"""The sweep file: cells and their ids, and one clear line for every bad file."""

from __future__ import annotations

from pathlib import Path

import pytest

from evoprompt.config import ConfigError
from evoprompt.sweep.spec import read_sweep


def write(tmp_path: Path, text: str, name: str = "sweep.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_grid_expands_into_readable_deterministic_cells(tmp_path: Path) -> None:
    (tmp_path / "base.toml").write_text('dataset = "code_vuln"\ndev_size = 20\n')
    spec = read_sweep(
        write(
            tmp_path,
            'config = "base.toml"\ndev_size = 16\n'
            '[grid]\nalgorithm = ["ga", "de"]\nseed = [1, 2]\n',
        )
    )
    assert spec.base == {"dataset": "code_vuln", "dev_size": 16}
    assert [c.id for c in spec.cells()] == [
        "algorithm-ga_seed-1",
        "algorithm-ga_seed-2",
        "algorithm-de_seed-1",
        "algorithm-de_seed-2",
    ]
    assert spec.cells()[2].params == {"algorithm": "de", "seed": 1}
    assert spec.name == "sweep"


def test_values_that_would_collide_or_are_lists_get_positions(tmp_path: Path) -> None:
    spec = read_sweep(
        write(
            tmp_path,
            '[grid]\ndataset = ["data/a.csv", "data-a.csv"]\n'
            'seed_prompts = [["Classify."], ["Label it."]]\n',
        )
    )
    assert [c.id for c in spec.cells()][:2] == [
        "dataset-1_seed_prompts-1",
        "dataset-1_seed_prompts-2",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[grid]\nalgoritm = ['ga']\n",
            "unknown config key 'algoritm' in [grid] of sweep.toml (did you mean 'algorithm'?)",
        ),
        ("[grid]\nseed = []\n", "grid key 'seed' has an empty list"),
        ("[grid]\nresult_dir = ['a', 'b']\n", "grid key 'result_dir' cannot vary per cell"),
        ("[grid]\nconcurrency = [1, 2]\n", "grid key 'concurrency' cannot vary per cell"),
        ("[grid]\nseed = 3\n", "grid key 'seed' must be a list"),
        ("[grid]\nseed = ['one']\n", "config key 'seed' must be an integer"),
        ("[grid]\nseed = [1, 1]\n", "grid key 'seed' lists a value twice"),
        ("seed = 3\n", "[grid] must be a table"),
        ("popsize = 3\n[grid]\nseed = [1]\n", "unknown config key 'popsize'"),
        ("seed = 3\n[grid]\nseed = [1]\n", "'seed' is both a base setting and a [grid] key"),
        ("config = 'missing.toml'\n[grid]\nseed = [1]\n", "missing.toml not found"),
    ],
)
def test_bad_sweep_files_are_refused_with_one_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        read_sweep(write(tmp_path, text))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_shipped_example_parses() -> None:
    spec = read_sweep(Path(__file__).resolve().parents[2] / "sweeps" / "example.toml")
    assert len(spec.cells()) == 6


def test_a_grid_over_the_cap_is_refused_before_it_is_expanded(tmp_path: Path) -> None:
    values = list(range(1, 1001))
    path = write(tmp_path, f"[grid]\nseed = {values}\ndev_size = {values}\nmax_tokens = {values}\n")
    with pytest.raises(ConfigError, match=r"1000 x 1000 x 1000 = 1000000000 cells, more than"):
        read_sweep(path)  # a product, computed before any cell is built: instant, no memory
    at_cap = write(tmp_path, f"[grid]\nseed = {values[:100]}\ndev_size = {values[:100]}\n")
    assert len(read_sweep(at_cap).cells()) == 10_000
