"""Each cell's config and resume decision, resolved before any cell runs.

A cell is an ordinary experiment: its TOML layer is the sweep's base with the cell's grid
values on top, the environment and the command-line flags apply as for a single run, and it
lives in ``<result_dir>/<sweep-id>/<cell-id>``. A cell that exists is resumed under the same
guard as a single experiment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evoprompt.checkpoint.schema.sweep import CellRecord
from evoprompt.config import Config, ConfigError
from evoprompt.runner.launch import Layers, SessionError, prepare
from evoprompt.sweep.spec import SweepSpec
from evoprompt.sweep.state import SweepError


@dataclass(frozen=True)
class CellPlan:
    id: str
    config: Config
    resuming: bool
    trust: bool = False  # --trust-folder: the cell's unchecked journal rows are kept

    @property
    def exp_dir(self) -> Path:
        return Path(self.config.result_dir) / self.id


def cell_layers(
    spec: SweepSpec, params: dict[str, Any], env: dict[str, Any], flags: dict[str, Any]
) -> Layers:
    return Layers({**spec.base, **params}, env, flags)


def plan_cells(
    spec: SweepSpec,
    cells: list[CellRecord],
    env: dict[str, Any],
    flags: dict[str, Any],
    api_key: str,
    sweep_dir: Path,
    trust: bool = False,
) -> list[CellPlan]:
    """Every cell's config (SweepError naming the cell for a bad one). A cell that exists is
    resumed from its config.json under the same confirmation as a single experiment."""
    plans = []
    cell_flags = {**flags, "result_dir": str(sweep_dir)}
    for cell in cells:
        try:
            prepared = prepare(
                cell_layers(spec, cell.params, env, cell_flags),
                api_key,
                experiment_id=cell.id,
                trust=trust,
            )
        except (SessionError, ConfigError) as exc:
            raise SweepError(f"cell {cell.id}: {exc}") from None
        plans.append(CellPlan(cell.id, prepared.config, prepared.resuming, trust))
    return plans
