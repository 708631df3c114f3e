"""The files users read: summary.json, generations.csv, population.jsonl (spec section 4)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from evoprompt.checkpoint.atomic import atomic_write_text
from evoprompt.checkpoint.layout import Layout
from evoprompt.checkpoint.schema import GenerationRow, Summary
from evoprompt.checkpoint.state import ExperimentState, Individual
from evoprompt.evolution.diversity import diversity


def generation_row(
    generation: int,
    population: list[Individual],
    born: list[Individual],
    evaluated: int,
    duration_s: float,
    paid: dict[str, float],
) -> GenerationRow:
    """generations.csv's row of a finished generation: ``born`` its new prompts, ``paid``
    the journal's totals so far."""
    best = max(population, key=lambda ind: ind.fitness)
    fitness = [ind.fitness for ind in population]
    return GenerationRow(
        generation=generation,
        best_fitness=best.fitness,
        mean_fitness=round(sum(fitness) / len(fitness), 6),
        best_prompt=best.text,
        evaluated=evaluated,
        duration_s=duration_s,
        diversity=diversity([ind.text for ind in population]),
        calls=int(paid["calls"]),
        tokens=int(paid["tokens"]),
        cost_usd=round(paid["cost"], 6),
        pruned_share=round(sum(ind.pruned for ind in born) / len(born), 6) if born else 0.0,
    )


def summary(
    state: ExperimentState, status: str, api_stats: dict[str, Any], wall_s: float | None = None
) -> Summary:
    best = state.best()
    return Summary(
        experiment_id=state.experiment_id,
        status=status,
        best_prompt=best.text if best else None,
        best_fitness=best.fitness if best else None,
        best_analysis=best.analysis if best else {},
        generations=list(state.generations),
        population=[ind.row() for ind in state.population],
        api_stats=api_stats,
        test=state.tests[-1] if state.tests else None,
        test_history=list(state.tests[:-1]),
        wall_s=wall_s,
    )


def write_results(
    exp_dir: Path,
    state: ExperimentState,
    status: str,
    api_stats: dict[str, Any],
    wall_s: float | None = None,
) -> Summary:
    """``wall_s``: seconds all the experiment's sessions ran (None: not known here)."""
    layout = Layout(exp_dir)
    doc = summary(state, status, api_stats, wall_s)
    atomic_write_text(
        layout.summary, json.dumps(doc.to_json(), indent=2, ensure_ascii=False) + "\n"
    )
    table = io.StringIO()  # the csv module, not pandas: a run never imports pandas
    writer = csv.DictWriter(table, GenerationRow.COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(g.to_json() for g in state.generations)
    atomic_write_text(layout.generations_csv, table.getvalue())
    lines = [json.dumps(ind.row().to_json(), ensure_ascii=False) for ind in state.scored.values()]
    atomic_write_text(layout.population, "".join(line + "\n" for line in lines))
    return doc
