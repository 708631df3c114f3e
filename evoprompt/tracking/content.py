"""What a folder's files say the tracked run should hold: params, tags, steps, verdict, texts.

Read from disk only (config.json, summary.json, population.jsonl, rollback records, sweep.json
and aggregate.csv), never from a running process's memory, and with no MLflow import, so what
is logged is exactly what the files say, whichever process logs it and however late.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evoprompt.checkpoint.layout import Layout, SweepLayout
from evoprompt.checkpoint.nofollow import PathRefused, read_text
from evoprompt.checkpoint.schema import (
    LINEAGE_KEYS,
    Lineage,
    PopulationRow,
    RollbackRecord,
    SchemaError,
    Summary,
    TestReport,
    config_fields,
)
from evoprompt.llm.transport import split_userinfo

# Per-generation figures of summary.generations logged as one step each (step = generation).
STEP_KEYS = (
    "best_fitness",
    "mean_fitness",
    "diversity",
    "calls",
    "tokens",
    "cost_usd",
    "pruned_share",
    "evaluated",
)
PARAM_LIMIT = 6000  # MLflow's longest param value
Series = dict[str, dict[int, float]]  # metric key -> step -> value


def _json(path: Path) -> Any:
    try:
        return json.loads(read_text(path))
    except (OSError, ValueError, PathRefused):
        return None


def param_value(value: Any) -> str:
    """A config value as an MLflow param: text as is, anything else as JSON, capped."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text[:PARAM_LIMIT]


@dataclass
class ExperimentFiles:
    """One experiment folder as the tracker sees it."""

    exp_dir: Path
    config: dict[str, Any] = field(default_factory=dict)
    summary: Summary | None = None
    scored: list[PopulationRow] = field(default_factory=list)

    @classmethod
    def read(cls, exp_dir: Path) -> ExperimentFiles:
        layout = Layout(exp_dir)
        config = _json(layout.config)
        raw = _json(layout.summary)
        summary = None
        try:
            summary = None if raw is None else Summary.from_json(raw)
        except SchemaError:
            summary = None
        scored = []
        try:
            lines = read_text(layout.population).splitlines()
        except (OSError, ValueError, PathRefused):
            lines = []
        for line in filter(str.strip, lines):
            try:
                scored.append(PopulationRow.from_json(json.loads(line)))
            except (ValueError, SchemaError):
                continue
        return cls(exp_dir, config if isinstance(config, dict) else {}, summary, scored)

    @property
    def name(self) -> str:
        """The MLflow experiment: the config's name (a sweep's cells share it)."""
        return str(self.config.get("name") or "default")

    def lineage(self) -> Lineage | None:
        try:
            return Lineage.of_config(self.config)
        except SchemaError:
            return None

    def params(self) -> dict[str, str]:
        """The settings as params: config.json has no API key, and URLs lose credentials."""
        values = dict(config_fields(self.config))
        for key in ("base_url", "operator_base_url", "track_uri"):
            if isinstance(values.get(key), str):
                values[key] = split_userinfo(values[key])[0]
        return {k: param_value(v) for k, v in values.items() if k not in LINEAGE_KEYS}

    def steps(self) -> Series:
        """One step per generation saved in summary.json."""
        series: Series = {key: {} for key in STEP_KEYS}
        for row in self.summary.generations if self.summary else []:
            for key in STEP_KEYS:
                value = getattr(row, key)
                if value is not None:
                    series[key][row.generation] = float(value)
        return {k: v for k, v in series.items() if v}

    def verdict(self) -> Series:
        """Every held-out test phase's figures, the phase (1, 2...) as the step."""
        if self.summary is None or self.summary.test is None:
            return {}
        series: Series = {}
        reports = [*self.summary.test_history, self.summary.test]
        for phase, report in enumerate(reports, start=1):
            for key, value in verdict_figures(report).items():
                series.setdefault(key, {})[phase] = value
        return series

    def lineage_text(self) -> str:
        """The best prompt's ancestry back to the seeds, one prompt a line, indented by depth."""
        from evoprompt.report.content import lineage

        best = self.summary.best_prompt if self.summary else None
        if best is None:
            return ""
        entries, cut = lineage(self.scored, best)
        lines = []
        for entry in entries:
            row = entry.row
            where = (
                "?" if row is None else f"gen {row.generation}, {row.operator}, {row.fitness:.4f}"
            )
            again = " (see above)" if entry.repeated else ""
            lines.append(f"{'  ' * entry.depth}[{where}]{again} {entry.text}")
        if cut:
            lines.append("... (cut)")
        return "\n".join(lines) + "\n"


def verdict_figures(report: TestReport) -> dict[str, float]:
    """The test phase's scores, intervals, delta and p as flat metric keys."""
    figures: dict[str, float] = {"test.rows": float(report.size)}
    roles = [r.role for r in report.results]
    seen: dict[str, int] = {}
    for result in report.results:
        seen[result.role] = seen.get(result.role, 0) + 1
        name = result.role if roles.count(result.role) == 1 else f"{result.role}{seen[result.role]}"
        figures[f"test.{name}.score"] = result.test_fitness
        figures[f"test.{name}.ci_low"] = result.ci_low
        figures[f"test.{name}.ci_high"] = result.ci_high
        if result.dev_fitness is not None:
            figures[f"test.{name}.dev"] = result.dev_fitness
    comparison = report.comparison
    if comparison is not None:
        figures["test.delta"] = comparison.delta
        figures["test.delta_ci_low"] = comparison.ci_low
        figures["test.delta_ci_high"] = comparison.ci_high
        figures["test.p_value"] = comparison.p_value
    if report.majority and isinstance(report.majority.get("test_fitness"), (int, float)):
        figures["test.majority.score"] = float(report.majority["test_fitness"])
    return figures


def rollbacks_done(exp_dir: Path) -> list[RollbackRecord]:
    """The experiment's completed rollbacks, oldest first."""
    from evoprompt.report.lineage import rollbacks

    return [record for _, record in rollbacks(exp_dir) if record is not None and record.done]


def sweep_of(exp_dir: Path) -> Path | None:
    """The sweep folder a cell lives in, or None for an experiment of its own."""
    return exp_dir.parent if SweepLayout(exp_dir.parent).is_sweep() else None


def aggregate_series(sweep_dir: Path) -> Series:
    """aggregate.csv as metrics ``<grid point>/<figure>``, the point's finished cells as the
    step (each state of a point's figures is logged once)."""
    import pandas as pd

    path = SweepLayout(sweep_dir).aggregate
    try:
        frame = pd.read_csv(io.StringIO(read_text(path)))
    except (OSError, ValueError, pd.errors.EmptyDataError, PathRefused):
        return {}
    from evoprompt.sweep.aggregate import STAT_COLUMNS

    varied = [c for c in frame.columns if c not in STAT_COLUMNS]
    series: Series = {}
    for row in frame.to_dict("records"):
        point = "_".join(f"{k}-{row[k]}" for k in varied) or "all"
        point = "".join(c if c.isalnum() or c in "._-" else "-" for c in point)
        n = int(row.get("n") or 0)
        for stat in STAT_COLUMNS:
            value = row.get(stat)
            if stat != "n" and isinstance(value, (int, float)) and not math.isnan(value):
                series.setdefault(f"{point}/{stat}", {})[n] = float(value)
    return series
