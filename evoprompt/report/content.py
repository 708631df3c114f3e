"""What a report says, independent of its format, so HTML and Markdown never disagree."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evoprompt.checkpoint.schema import PopulationRow, TestReport
from evoprompt.metrics import DEFAULT_METRIC, analysis_table
from evoprompt.report.details import Details
from evoprompt.report.experiment import Snapshot, when
from evoprompt.report.lineage import describe_rollback, forks_of, lineage_of, rollbacks
from evoprompt.report.verdict import detail_lines, verdict_line

LINEAGE_LIMIT = 300


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)


@dataclass
class Ancestor:
    depth: int
    text: str
    row: PopulationRow | None
    repeated: bool = False


def lineage(scored: list[PopulationRow], text: str) -> tuple[list[Ancestor], bool]:
    """Ancestry of ``text`` back to the seeds, depth first; (entries, truncated).

    A prompt reached twice (GA parents often share ancestors) is expanded once and later only
    referenced, which bounds the walk by the number of scored prompts.
    """
    by_text = {row.text: row for row in scored}
    entries: list[Ancestor] = []
    seen: set[str] = set()
    stack = [(text, 0)]
    while stack:
        if len(entries) >= LINEAGE_LIMIT:
            return entries, True
        current, depth = stack.pop()
        row = by_text.get(current)
        entries.append(Ancestor(depth, current, row, current in seen))
        if row is None or current in seen:
            continue
        seen.add(current)
        stack.extend((parent, depth + 1) for parent in reversed(row.parents))
    return entries, False


@dataclass
class LineageLine:
    depth: int
    label: str  # "gen 2 · ga · 0.6250", or why there is nothing to add
    text: str


@dataclass
class HeldOutSection:
    """The held-out test: the verdict, dev vs test per prompt, and the best prompt's test
    figures (per class, and the metric's analysis of its test outputs)."""

    verdict: str
    notes: list[str]
    prompts: Table
    per_class: Table
    analysis_title: str
    analysis: Table


@dataclass
class ReportData:
    title: str
    overview: list[tuple[str, str]]
    notes: list[str]
    best_prompt: str | None
    generations: Table
    population: Table
    lineage: list[LineageLine]
    lineage_truncated: bool
    analysis_title: str  # the metric's name for its analysis of the best prompt
    analysis: Table
    api: list[tuple[str, str]]
    has_plot: bool
    scored: Table  # every prompt ever scored (population.jsonl), best first
    test: HeldOutSection | None = None


def fmt(value: object, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, dict):  # e.g. concurrency: "limit 8, peak 12", not a Python dict
        return ", ".join(f"{key} {fmt(item, digits)}" for key, item in value.items()) or "-"
    return str(value)


def _lineage_line(entry: Ancestor) -> LineageLine:
    if entry.row is None:
        return LineageLine(entry.depth, "not in population.jsonl", entry.text)
    row = entry.row
    label = f"gen {row.generation} · {row.operator} · {fmt(row.fitness)}"
    if entry.repeated:
        label += " · shown above"
    return LineageLine(entry.depth, label, entry.text)


def _branching(snap: Snapshot) -> list[tuple[str, str]]:
    """Overview rows for the experiment's lineage: its parent, its forks, its rollbacks."""
    rows = []
    if (parent := lineage_of(snap)) is not None:
        rows.append(("lineage", parent.describe()))
    forks = forks_of(snap.exp_dir)
    if forks:
        rows.append(("forks", ", ".join(f"{i} (at generation {g})" for i, g in forks)))
    rows += [("rolled back", describe_rollback(*found)) for found in rollbacks(snap.exp_dir)]
    return rows


def _interval(low: float, high: float) -> str:
    return f"[{low:.3f}, {high:.3f}]"


def held_out(test: TestReport, metric: str) -> HeldOutSection:
    prompts = Table(["role", "dev", "test", "95% interval", "dev - test", "prompt"])
    for r in test.results:
        prompts.rows.append(
            [
                r.role,
                fmt(r.dev_fitness),
                fmt(r.test_fitness),
                _interval(r.ci_low, r.ci_high),
                "-" if r.gap is None else f"{r.gap:+.4f}",
                r.prompt,
            ]
        )
    notes = [f"test set: {test.size} rows of {test.source}"]
    notes += [line.strip() for line in detail_lines(test)[len(test.results) :]]  # baselines
    if test.comparison is not None and test.results:
        c = test.comparison
        notes.append(
            f"{test.results[0].role} - best seed: {c.delta:+.4f} "
            f"{_interval(c.ci_low, c.ci_high)} (the interval that inverts the test), "
            f"p={c.p_value:.4g} ({c.method})"
        )
    per_class = Table(["class", "test rows", "test score"])
    for label, figures in test.per_class.items():
        per_class.rows.append([label, fmt(figures.get("n")), fmt(figures.get("test_fitness"))])
    analysis = analysis_table(metric, test.best_analysis)
    return HeldOutSection(
        verdict_line(test),
        notes,
        prompts,
        per_class,
        analysis.title,
        Table(analysis.headers, analysis.rows),
    )


def build(
    snap: Snapshot, det: Details, stats: dict[str, Any] | None, stats_source: str
) -> ReportData:
    config, done = snap.config, snap.completed_generation
    metric = str(config.get("metric", DEFAULT_METRIC))  # experiments before metrics: accuracy
    overview = [
        ("experiment", snap.id),
        ("status", snap.status),
        ("algorithm", str(config.get("algorithm", "-"))),
        ("model", str(config.get("model", "-"))),
        ("dataset", str(config.get("dataset", "-"))),
        ("metric", metric),
        ("population size", fmt(config.get("population_size"))),
        (
            "last completed generation",
            f"{done} of {fmt(config.get('max_generations'))}" if done >= 0 else "none yet",
        ),
        ("last checkpoint", when(snap.updated)),
        ("best fitness", fmt(det.best_fitness)),
        ("figures from", det.source),
    ]
    overview += _branching(snap)
    generations = Table(["generation", "best", "mean", "scored", "seconds", "best prompt"])
    for g in det.generations:
        generations.rows.append(
            [
                fmt(g.generation),
                fmt(g.best_fitness),
                fmt(g.mean_fitness),
                fmt(g.evaluated),
                fmt(g.duration_s, 2),
                g.best_prompt,
            ]
        )
    origin = {row.text: row for row in det.scored}
    population = Table(["rank", "fitness", "born", "operator", "prompt"])
    for rank, row in enumerate(det.population, 1):
        known = origin.get(row.text, row)
        population.rows.append(
            [str(rank), fmt(row.fitness), fmt(known.generation), known.operator or "-", row.text]
        )
    entries, truncated = lineage(det.scored, det.best_prompt) if det.best_prompt else ([], False)
    analysis = analysis_table(metric, det.analysis)
    scored = Table(["rank", "fitness", "born", "operator", "prompt"])
    for rank, row in enumerate(sorted(det.scored, key=lambda r: -r.fitness), 1):
        scored.rows.append(
            [str(rank), fmt(row.fitness), fmt(row.generation), row.operator or "-", row.text]
        )
    api = [(key, fmt(value)) for key, value in (stats or {}).items()]
    if stats is not None:
        api.append(("source", stats_source))
    return ReportData(
        title=f"evoprompt report: {snap.id}",
        overview=overview,
        notes=list(dict.fromkeys(snap.notes)),
        best_prompt=det.best_prompt,
        generations=generations,
        population=population,
        lineage=[_lineage_line(e) for e in entries],
        lineage_truncated=truncated,
        analysis_title=analysis.title,
        analysis=Table(analysis.headers, analysis.rows),
        api=api,
        has_plot=bool(det.generations),
        scored=scored,
        test=None if det.test is None else held_out(det.test, metric),
    )


def report_parts(exp_dir: Path) -> tuple[ReportData, bytes | None]:
    """What a report of ``exp_dir`` shows and its fitness plot (PNG; None before a generation
    is done): the ``report`` command and the tracker render it. Needs matplotlib."""
    from evoprompt.report.details import api_stats, details
    from evoprompt.report.experiment import snapshot
    from evoprompt.report.plot import fitness_png

    snap = snapshot(exp_dir)
    det = details(snap)
    stats, source = api_stats(snap)
    data = build(snap, det, stats, source)
    rows = [g.to_json() for g in det.generations]
    return data, fitness_png(rows, title=snap.id) if data.has_plot else None
