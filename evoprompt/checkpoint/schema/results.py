"""What users read beside the checkpoints: summary.json, generations.csv, population.jsonl and
recovery.log lines."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from evoprompt.checkpoint.schema.fields import (
    NUMBER,
    JsonDict,
    as_object,
    document,
    get,
    opt,
    versioned,
)
from evoprompt.checkpoint.schema.heldout import TestReport

T = TypeVar("T", int, float)


def _figure(doc: JsonDict, key: str, cast: type[T]) -> T | None:
    """An optional figure; absent, null or an empty CSV cell (NaN) is None."""
    value = opt(doc, key, NUMBER, "a number")
    return None if value is None or value != value else cast(value)


@dataclass(frozen=True)
class GenerationRow:
    """One generation's figures: a row of generations.csv and of ``summary.generations``.

    The figures after ``duration_s`` are taken when the generation ends and saved with it, so
    whatever reads them later (the MLflow tracking, a resumed run) sees that moment: the
    population's ``diversity`` (mean pairwise word-set distance), the journal's ``calls``,
    ``tokens`` and ``cost_usd`` paid so far, and the share of the generation's new prompts
    that pruning stopped early. None in rows saved by versions that did not record them.
    """

    generation: int
    best_fitness: float
    mean_fitness: float
    best_prompt: str
    evaluated: int
    duration_s: float
    diversity: float | None = None
    calls: int | None = None
    tokens: int | None = None
    cost_usd: float | None = None
    pruned_share: float | None = None

    COLUMNS = (
        "generation",
        "best_fitness",
        "mean_fitness",
        "best_prompt",
        "evaluated",
        "duration_s",
        "diversity",
        "calls",
        "tokens",
        "cost_usd",
        "pruned_share",
    )

    def to_json(self) -> JsonDict:
        return {name: getattr(self, name) for name in self.COLUMNS}

    @classmethod
    def from_json(cls, raw: Any) -> GenerationRow:
        doc = as_object(raw, "a generation")
        return cls(
            generation=int(get(doc, "generation", NUMBER, "a number")),
            best_fitness=float(get(doc, "best_fitness", NUMBER, "a number")),
            mean_fitness=float(get(doc, "mean_fitness", NUMBER, "a number")),
            best_prompt=str(get(doc, "best_prompt", str, "a string")),
            evaluated=int(get(doc, "evaluated", NUMBER, "a number")),
            duration_s=float(get(doc, "duration_s", NUMBER, "a number")),
            diversity=_figure(doc, "diversity", float),
            calls=_figure(doc, "calls", int),
            tokens=_figure(doc, "tokens", int),
            cost_usd=_figure(doc, "cost_usd", float),
            pruned_share=_figure(doc, "pruned_share", float),
        )


@dataclass(frozen=True)
class PopulationRow:
    """One scored prompt: a line of population.jsonl. A ``pruned`` prompt's scoring stopped
    once it provably could not survive; its ``fitness`` is then that upper bound (``bound``)."""

    text: str
    fitness: float
    generation: int | None = None
    parents: tuple[str, ...] = ()
    operator: str | None = None
    analysis: JsonDict = field(default_factory=dict)
    pruned: bool = False

    def to_json(self) -> JsonDict:
        doc = {
            "text": self.text,
            "fitness": self.fitness,
            "generation": self.generation,
            "parents": list(self.parents),
            "operator": self.operator,
            "analysis": self.analysis,
        }
        if self.pruned:
            doc.update(pruned=True, bound=self.fitness)
        return doc

    @classmethod
    def from_json(cls, raw: Any) -> PopulationRow:
        doc = as_object(raw, "a population row")
        parents = opt(doc, "parents", list, "a list") or []
        return cls(
            text=get(doc, "text", str, "a string"),
            fitness=float(get(doc, "fitness", NUMBER, "a number")),
            generation=opt(doc, "generation", int, "an integer"),
            parents=tuple(str(p) for p in parents),
            operator=opt(doc, "operator", str, "a string"),
            analysis=opt(doc, "analysis", dict, "an object") or {},
            pruned=bool(opt(doc, "pruned", bool, "true or false")),
        )


@dataclass(frozen=True)
class Summary:
    """summary.json: the run's status, best prompt, generations, population, API stats, and
    the held-out ``test`` (the newest test phase; earlier ones in ``test_history``)."""

    experiment_id: str
    status: str
    best_prompt: str | None
    best_fitness: float | None
    generations: list[GenerationRow]
    population: list[PopulationRow]
    api_stats: JsonDict
    best_analysis: JsonDict = field(default_factory=dict)
    test: TestReport | None = None
    test_history: list[TestReport] = field(default_factory=list)
    wall_s: float | None = None  # seconds all its sessions ran, killed ones up to their last save

    def to_json(self) -> JsonDict:
        return versioned(
            {
                "experiment_id": self.experiment_id,
                "status": self.status,
                "best_prompt": self.best_prompt,
                "best_fitness": self.best_fitness,
                "best_analysis": self.best_analysis,
                "generations": [g.to_json() for g in self.generations],
                "population": [{"text": p.text, "fitness": p.fitness} for p in self.population],
                "api_stats": self.api_stats,
                "test": None if self.test is None else self.test.to_json(),
                "test_history": [t.to_json() for t in self.test_history],
                "wall_s": self.wall_s,
            }
        )

    @classmethod
    def from_json(cls, raw: Any) -> Summary:
        doc = document(raw, "summary.json")
        return cls(
            experiment_id=str(get(doc, "experiment_id", str, "a string")),
            status=str(get(doc, "status", str, "a string")),
            best_prompt=opt(doc, "best_prompt", str, "a string"),
            best_fitness=opt(doc, "best_fitness", NUMBER, "a number"),
            generations=[GenerationRow.from_json(g) for g in doc.get("generations") or []],
            population=[PopulationRow.from_json(p) for p in doc.get("population") or []],
            api_stats=opt(doc, "api_stats", dict, "an object") or {},
            best_analysis=opt(doc, "best_analysis", dict, "an object") or {},
            test=None if doc.get("test") is None else TestReport.from_json(doc["test"]),
            test_history=[TestReport.from_json(t) for t in doc.get("test_history") or []],
            wall_s=opt(doc, "wall_s", NUMBER, "a number"),
        )


@dataclass(frozen=True)
class RecoveryEntry:
    """One line of recovery.log: a resume, what it restored from, and where it went on."""

    timestamp: float
    restored_from: str | None
    state: str
    completed_generation: int
    cursor: tuple[int, int]
    notes: list[str]

    def to_json(self) -> JsonDict:
        return {
            "timestamp": self.timestamp,
            "restored_from": self.restored_from,
            "state": self.state,
            "completed_generation": self.completed_generation,
            "cursor": {"generation": self.cursor[0], "batch_idx": self.cursor[1]},
            "notes": self.notes,
        }

    @classmethod
    def from_json(cls, raw: Any) -> RecoveryEntry:
        doc = as_object(raw, "a recovery.log line")
        cursor = get(doc, "cursor", dict, "an object")
        return cls(
            timestamp=float(get(doc, "timestamp", NUMBER, "a number")),
            restored_from=opt(doc, "restored_from", str, "a string"),
            state=str(get(doc, "state", str, "a string")),
            completed_generation=int(get(doc, "completed_generation", int, "an integer")),
            cursor=(
                int(get(cursor, "generation", int, "an integer")),
                int(get(cursor, "batch_idx", int, "an integer")),
            ),
            notes=[str(n) for n in get(doc, "notes", list, "a list")],
        )
