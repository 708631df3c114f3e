"""The files users read: summary.json, generations.csv, population.jsonl (spec section 4)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from evoprompt.checkpoint.atomic import atomic_write_text
from evoprompt.core.state import ExperimentState

GENERATION_COLUMNS = [
    "generation",
    "best_fitness",
    "mean_fitness",
    "best_prompt",
    "evaluated",
    "duration_s",
]


def summary(state: ExperimentState, status: str, api_stats: dict[str, Any]) -> dict[str, Any]:
    best = state.best()
    return {
        "experiment_id": state.experiment_id,
        "status": status,
        "best_prompt": best.text if best else None,
        "best_fitness": best.fitness if best else None,
        "best_analysis": best.analysis if best else {},
        "generations": state.generations,
        "population": [{"text": ind.text, "fitness": ind.fitness} for ind in state.population],
        "api_stats": api_stats,
    }


def write_results(
    exp_dir: Path, state: ExperimentState, status: str, api_stats: dict[str, Any]
) -> dict[str, Any]:
    doc = summary(state, status, api_stats)
    atomic_write_text(
        exp_dir / "summary.json", json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    )
    table = pd.DataFrame(state.generations, columns=GENERATION_COLUMNS)
    atomic_write_text(exp_dir / "generations.csv", table.to_csv(index=False))
    lines = [
        json.dumps(
            {
                "text": ind.text,
                "fitness": ind.fitness,
                "generation": ind.generation,
                "parents": list(ind.parents),
                "operator": ind.operator,
                "analysis": ind.analysis,
            },
            ensure_ascii=False,
        )
        for ind in state.scored.values()
    ]
    atomic_write_text(exp_dir / "population.jsonl", "".join(line + "\n" for line in lines))
    return doc
