"""The sweep file: a base config and a ``[grid]`` of config keys to lists, expanded into cells.

```toml
config = "configs/sentiment.toml"   # optional base config file (relative to this file)
max_generations = 4                  # any config key: a base override for every cell
[grid]
algorithm = ["ga", "de"]
seed = [1, 2, 3]
```

Every grid point is one cell with a readable, deterministic id (``algorithm-ga_seed-1``): the
grid keys in file order, each with its value. Bad files are refused with one line before
anything runs.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from evoprompt.config import Config, ConfigError, apply, load_toml

# Settings the whole sweep shares (one folder, one limiter, one budget): a grid cannot vary them.
SHARED_KEYS = (
    "name",
    "result_dir",
    "checkpoint",
    "concurrency",
    "timeout",  # one transport per endpoint
    "http_client",
    "rpm",
    "tpm",
    "max_calls",
    "max_tokens_total",
    "max_cost",
    "track",  # one tracker: the sweep's parent run and its cells' runs
    "track_uri",
)
# The most cells a sweep may have: each is a whole experiment, and the grid is expanded (and
# every cell's config checked) before the first call. Split a larger sweep into several files.
MAX_CELLS = 10_000
_SLUG = re.compile(r"[^A-Za-z0-9.+-]+")
_MAX_SLUG = 40


@dataclass(frozen=True)
class Cell:
    """One grid point: its id (the experiment folder's name) and its grid values."""

    id: str
    params: dict[str, Any]


@dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep file. ``base``: the base config file's keys overlaid with the sweep
    file's own (the TOML layer of every cell); ``grid``: key -> values, in file order."""

    path: Path
    base: dict[str, Any]
    grid: dict[str, list[Any]]

    @property
    def name(self) -> str:
        return str(self.base.get("name") or self.path.stem)

    def cells(self) -> list[Cell]:
        slugs = {key: _slugs(key, values) for key, values in self.grid.items()}
        cells = []
        for combo in itertools.product(*(range(len(v)) for v in self.grid.values())):
            params = {key: self.grid[key][i] for key, i in zip(self.grid, combo)}
            cell_id = "_".join(f"{key}-{slugs[key][i]}" for key, i in zip(self.grid, combo))
            cells.append(Cell(cell_id, params))
        return cells


def _slug(value: Any) -> str:
    text = _SLUG.sub("-", str(value)).strip("-") or "x"
    if len(text) > _MAX_SLUG:
        digest = hashlib.sha256(str(value).encode()).hexdigest()[:8]
        text = f"{text[: _MAX_SLUG - 9]}-{digest}"
    return text


def _slugs(key: str, values: list[Any]) -> list[str]:
    """Readable slugs of a key's values; positions (1, 2, ...) when values are not scalars or
    two slugs would collide (``data/a.csv`` and ``data-a.csv``), so ids stay distinct."""
    slugs = [_slug(v) for v in values]
    if any(isinstance(v, (list, dict)) for v in values) or len(set(slugs)) < len(slugs):
        return [str(i) for i in range(1, len(values) + 1)]
    return slugs


def _check_grid(raw: Any, where: str) -> dict[str, list[Any]]:
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{where}: [grid] must be a table of config keys to lists of values")
    known = {f.name for f in fields(Config)}
    grid: dict[str, list[Any]] = {}
    for key, values in raw.items():
        if key in SHARED_KEYS:
            raise ConfigError(
                f"{where}: grid key '{key}' cannot vary per cell (the whole sweep shares it); "
                "set it once, outside [grid]"
            )
        if key not in known:
            apply(Config(), {key: None}, f"[grid] of {where}")  # raises, naming the closest key
        if not isinstance(values, list):
            raise ConfigError(f"{where}: grid key '{key}' must be a list of values")
        if not values:
            raise ConfigError(f"{where}: grid key '{key}' has an empty list (no cell to run)")
        for value in values:
            apply(Config(), {key: value}, f"[grid] of {where}")  # type-checks, naming the key
        if len({repr(v) for v in values}) < len(values):
            raise ConfigError(f"{where}: grid key '{key}' lists a value twice")
        grid[key] = list(values)
    return grid


def read_sweep(path: Path) -> SweepSpec:
    """Parse and check a sweep file; ConfigError with one line for anything wrong."""
    raw = load_toml(path, "sweep file", "pass the path of a sweep .toml file")
    where = path.name
    grid = _check_grid(raw.pop("grid", None), where)
    size = math.prod(len(values) for values in grid.values())  # before expanding anything
    if size > MAX_CELLS:
        axes = " x ".join(str(len(values)) for values in grid.values())
        raise ConfigError(
            f"{where}: the grid has {axes} = {size} cells, more than {MAX_CELLS}; split it "
            "into several sweep files"
        )
    base: dict[str, Any] = {}
    config_file = raw.pop("config", None)
    if config_file is not None:
        if not isinstance(config_file, str):
            raise ConfigError(f"{where}: 'config' must be the path of a config file")
        config_path = Path(config_file)
        if not config_path.is_absolute():
            config_path = path.parent / config_path
        base = load_toml(config_path, "config file", f"named by 'config' in {where}")
    base.update(raw)
    apply(Config(), base, f"sweep file {where}")  # unknown base keys fail before anything runs
    both = sorted(set(grid) & set(raw))
    if both:
        raise ConfigError(f"{where}: '{both[0]}' is both a base setting and a [grid] key")
    return SweepSpec(path, base, grid)
