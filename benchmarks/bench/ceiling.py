"""The ceiling of exact pruning on a GA run: the calls it would save if every child that lost
its seat had known its final bar from its first row. Part of the pruning section.

Read from an unpruned run's files: every prompt's per-row scores (its batch files) and every
scored prompt in order (population.jsonl). Each generation's parents are rebuilt with GA's own
selection, rows are taken hardest first as the runner orders them (the score every earlier
prompt lost on each row; here every earlier child counts in full, the most the runner could
know), and a losing child is cut at the first row where even perfect answers on the rest could
not clear GA's own bar (a seat) against the parents and all its siblings' final scores. No
schedule can prune exactly and save more, except by luck of the row order; it is an upper
bound (a cut-off child bred again later pays for its other rows then, counted here as saved).
A prompt bred again in a later generation is listed only under its first, so the rebuilt
parents are checked against each generation's recorded mean fitness: where they differ, there
is no ceiling (None).
"""

from __future__ import annotations

import json
from pathlib import Path

from evoprompt.checkpoint.schema import RowTally
from evoprompt.checkpoint.state import Individual
from evoprompt.pruning.order import hardest_first
from evoprompt.strategies.ga import GeneticAlgorithm


def _rows(exp: Path) -> dict[str, list[float]]:
    """Every prompt's score on each dev row, from the batch files."""
    rows: dict[str, dict[int, float]] = {}
    for path in (exp / "checkpoints" / "batches").glob("gen*_batch*.json"):
        doc = json.loads(path.read_text())
        start = doc["rows"][0]
        for entry in doc["prompts"]:
            found = rows.setdefault(entry["text"], {})
            found.update((start + k, s) for k, s in enumerate(entry["scores"]))
    return {t: [found[i] for i in range(len(found))] for t, found in rows.items()}


def ceiling(exp: Path, population: int) -> int | None:
    """Calls a known final bar would save on the unpruned GA run in ``exp`` (None: its
    selection could not be rebuilt from the files)."""
    rows = _rows(exp)
    scored = [json.loads(line) for line in (exp / "population.jsonl").read_text().splitlines()]
    people = [Individual(p["text"], p["fitness"], p["generation"]) for p in scored]
    recorded = json.loads((exp / "summary.json").read_text())["generations"]
    ga = GeneticAlgorithm()
    parents = [ind for ind in people if ind.generation == 0]
    dev = len(rows[parents[0].text])
    tally = RowTally("", [0.0] * dev, [0] * dev)  # which rows: only ever this run's
    for ind in parents:
        tally.add(enumerate(rows[ind.text]))
    saved = 0
    for generation in range(1, len(recorded)):
        children = [ind for ind in people if ind.generation == generation]
        order = hardest_first(tally)
        bars = ga.threshold(parents, [], [c.text for c in children], population)
        for child, bar in zip(children, bars):
            rivals = {c.text: c.fitness for c in children if c is not child}
            if bar.clears(child.fitness, rivals):
                continue  # a survivor: scored in full by any exact schedule
            missed = 0.0
            for asked, i in enumerate(order, 1):
                missed += 1.0 - rows[child.text][i]
                if not bar.clears((dev - missed) / dev, rivals):
                    saved += dev - asked
                    break
        for child in children:
            tally.add(enumerate(rows[child.text]))
        parents = ga.select(parents, [], children, population)
        mean = sum(p.fitness for p in parents) / len(parents)
        if abs(mean - recorded[generation]["mean_fitness"]) > 1e-6:
            return None
    return saved
