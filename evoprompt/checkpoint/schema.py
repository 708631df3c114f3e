"""One typed schema for every document an experiment folder holds.

Each record converts to the plain JSON users read (spec section 4, unchanged) with
``to_json`` and back with ``from_json``, which validates and raises :class:`SchemaError`
naming the first bad field. Writers (engine, store, results, the programmatic API) and
readers (resume, inspect, verify, report) all go through these records, so a field is spelled
once and a stage means the same thing everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JsonDict = dict[str, Any]


class SchemaError(ValueError):
    """A document that parses as JSON but lacks a field, or has one of the wrong type."""


_NUMBER = (int, float)


def _get(doc: JsonDict, key: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = doc.get(key)
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        value = None  # JSON true is not a number here
    if not isinstance(value, kind):
        raise SchemaError(f"field '{key}' is missing or not {what}")
    return value


def _opt(doc: JsonDict, key: str, kind: type | tuple[type, ...], what: str) -> Any:
    return None if doc.get(key) is None else _get(doc, key, kind, what)


def _object(doc: Any, what: str) -> JsonDict:
    if not isinstance(doc, dict):
        raise SchemaError(f"{what} is not a JSON object")
    return doc


# -- stages --------------------------------------------------------------------------------

_STOP_STATUS = {
    "finished": "finished",
    "interrupted": "interrupted",
    "budget_exhausted": "interrupted",
}


@dataclass(frozen=True)
class Stage:
    """Where a save happened (``metadata.stage``): mid-generation, or why the run stopped.

    The one mapping from a stage to the status users see lives here: in-progress stages are
    ``running``; ``finished`` and ``interrupted`` are themselves; a budget stop is
    ``interrupted`` (resumable with a larger budget); anything else is ``error``.
    """

    text: str

    @classmethod
    def batch(cls, generation: int, batch_idx: int) -> Stage:
        return cls(f"generation_{generation}_batch_{batch_idx}")

    @classmethod
    def complete(cls, generation: int) -> Stage:
        return cls(f"generation_{generation}_complete")

    @property
    def in_progress(self) -> bool:
        return self.text.startswith("generation_")

    @property
    def status(self) -> str:
        return "running" if self.in_progress else _STOP_STATUS.get(self.text, "error")

    def __str__(self) -> str:
        return self.text


FINISHED = Stage("finished")
INTERRUPTED = Stage("interrupted")
BUDGET_EXHAUSTED = Stage("budget_exhausted")
ERROR = Stage("error")


# -- latest.json, backup.json, gen<N>_batch0.json --------------------------------------------


@dataclass(frozen=True)
class Descriptor:
    """A checkpoint's own record of its moment: sequence, time, cursor, stage, and the
    checksum of the state.pkl it describes (absent before the first state save)."""

    seq: int
    timestamp: float
    generation: int
    batch_idx: int
    metadata: JsonDict
    experiment_id: str | None = None
    num_individuals: int = 0
    best_fitness: float | None = None
    state_seq: int | None = None
    state_sha256: str | None = None

    @property
    def stage(self) -> Stage:
        return Stage(str(self.metadata.get("stage", "")))

    @property
    def completed_generation(self) -> int | None:
        """Last generation completed when this was saved (the runner records it)."""
        value = self.metadata.get("completed_generation")
        return value if isinstance(value, int) else None

    @property
    def history_of(self) -> int:
        """The generation a history copy of this descriptor is named after."""
        done = self.completed_generation
        return self.generation if done is None else done

    def to_json(self) -> JsonDict:
        doc: JsonDict = {
            "seq": self.seq,
            "timestamp": self.timestamp,
            "experiment_id": self.experiment_id,
            "generation": self.generation,
            "batch_idx": self.batch_idx,
            "num_individuals": self.num_individuals,
            "best_fitness": self.best_fitness,
            "metadata": self.metadata,
        }
        if self.state_sha256 is not None:
            doc.update(state_seq=self.state_seq, state_sha256=self.state_sha256)
        return doc

    @classmethod
    def from_json(cls, raw: Any) -> Descriptor:
        doc = _object(raw, "the checkpoint")
        metadata = _get(doc, "metadata", dict, "an object")
        if not isinstance(metadata.get("stage"), str):
            raise SchemaError("field 'metadata.stage' is missing")
        return cls(
            seq=int(_get(doc, "seq", _NUMBER, "a number")),
            timestamp=float(_get(doc, "timestamp", _NUMBER, "a number")),
            generation=int(_get(doc, "generation", _NUMBER, "a number")),
            batch_idx=int(_get(doc, "batch_idx", _NUMBER, "a number")),
            metadata=metadata,
            experiment_id=_opt(doc, "experiment_id", str, "a string"),
            num_individuals=int(_opt(doc, "num_individuals", _NUMBER, "a number") or 0),
            best_fitness=_opt(doc, "best_fitness", _NUMBER, "a number"),
            state_seq=_opt(doc, "state_seq", int, "an integer"),
            state_sha256=_opt(doc, "state_sha256", str, "a string"),
        )


# -- batches/gen<G>_batch<B>.json -----------------------------------------------------------


@dataclass(frozen=True)
class PromptResult:
    """One prompt on one batch of dev rows: per example the raw output, what the metric read
    from it, the gold value and the score in [0, 1]; and the metric's figures for the batch."""

    text: str
    outputs: list[str]
    predictions: list[str]
    ground_truths: list[str]
    scores: list[float]
    analysis: JsonDict = field(default_factory=dict)

    def to_json(self) -> JsonDict:
        return {
            "text": self.text,
            "outputs": self.outputs,
            "predictions": self.predictions,
            "ground_truths": self.ground_truths,
            "scores": self.scores,
            "analysis": self.analysis,
        }

    @classmethod
    def from_json(cls, raw: Any) -> PromptResult:
        doc = _object(raw, "a prompt entry")
        if not isinstance(doc.get("text"), str):
            raise SchemaError("a prompt entry has no text")
        columns = {
            key: _get(doc, key, list, "a list")
            for key in ("outputs", "predictions", "ground_truths", "scores")
        }
        if len(columns["predictions"]) != len(columns["ground_truths"]):
            raise SchemaError("predictions and ground truths differ in length")
        if len({len(column) for column in columns.values()}) != 1:
            raise SchemaError("outputs, predictions, ground truths and scores differ in length")
        scores = columns["scores"]
        if not all(isinstance(v, _NUMBER) and not isinstance(v, bool) for v in scores):
            raise SchemaError("field 'scores' holds a value that is not a number")
        if any(not 0.0 <= v <= 1.0 for v in scores):
            raise SchemaError("field 'scores' holds a value outside [0, 1]")
        return cls(
            text=doc["text"],
            outputs=[str(v) for v in columns["outputs"]],
            predictions=[str(v) for v in columns["predictions"]],
            ground_truths=[str(v) for v in columns["ground_truths"]],
            scores=[float(v) for v in scores],
            analysis=_opt(doc, "analysis", dict, "an object") or {},
        )


@dataclass(frozen=True)
class BatchRecord:
    """One evaluated batch: which dev rows, and every prompt's results on them."""

    generation: int
    batch_idx: int
    rows: tuple[int, int]
    prompts: list[PromptResult]

    def to_json(self) -> JsonDict:
        return {
            "generation": self.generation,
            "batch_idx": self.batch_idx,
            "rows": list(self.rows),
            "prompts": [p.to_json() for p in self.prompts],
        }

    @classmethod
    def from_json(cls, raw: Any) -> BatchRecord:
        doc = _object(raw, "the batch")
        prompts = _get(doc, "prompts", list, "a list")
        rows = _get(doc, "rows", list, "a list")
        if len(rows) != 2 or not all(isinstance(r, int) for r in rows):
            raise SchemaError("field 'rows' is not a [start, stop] pair")
        return cls(
            generation=_get(doc, "generation", int, "an integer"),
            batch_idx=_get(doc, "batch_idx", int, "an integer"),
            rows=(rows[0], rows[1]),
            prompts=[PromptResult.from_json(p) for p in prompts],
        )


# -- summary.json, generations.csv, population.jsonl -----------------------------------------


@dataclass(frozen=True)
class GenerationRow:
    """One generation's figures: a row of generations.csv and of ``summary.generations``."""

    generation: int
    best_fitness: float
    mean_fitness: float
    best_prompt: str
    evaluated: int
    duration_s: float

    COLUMNS = (
        "generation",
        "best_fitness",
        "mean_fitness",
        "best_prompt",
        "evaluated",
        "duration_s",
    )

    def to_json(self) -> JsonDict:
        return {name: getattr(self, name) for name in self.COLUMNS}

    @classmethod
    def from_json(cls, raw: Any) -> GenerationRow:
        doc = _object(raw, "a generation")
        return cls(
            generation=int(_get(doc, "generation", _NUMBER, "a number")),
            best_fitness=float(_get(doc, "best_fitness", _NUMBER, "a number")),
            mean_fitness=float(_get(doc, "mean_fitness", _NUMBER, "a number")),
            best_prompt=str(_get(doc, "best_prompt", str, "a string")),
            evaluated=int(_get(doc, "evaluated", _NUMBER, "a number")),
            duration_s=float(_get(doc, "duration_s", _NUMBER, "a number")),
        )


@dataclass(frozen=True)
class PopulationRow:
    """One scored prompt: a line of population.jsonl."""

    text: str
    fitness: float
    generation: int | None = None
    parents: tuple[str, ...] = ()
    operator: str | None = None
    analysis: JsonDict = field(default_factory=dict)

    def to_json(self) -> JsonDict:
        return {
            "text": self.text,
            "fitness": self.fitness,
            "generation": self.generation,
            "parents": list(self.parents),
            "operator": self.operator,
            "analysis": self.analysis,
        }

    @classmethod
    def from_json(cls, raw: Any) -> PopulationRow:
        doc = _object(raw, "a population row")
        parents = _opt(doc, "parents", list, "a list") or []
        return cls(
            text=_get(doc, "text", str, "a string"),
            fitness=float(_get(doc, "fitness", _NUMBER, "a number")),
            generation=_opt(doc, "generation", int, "an integer"),
            parents=tuple(str(p) for p in parents),
            operator=_opt(doc, "operator", str, "a string"),
            analysis=_opt(doc, "analysis", dict, "an object") or {},
        )


@dataclass(frozen=True)
class Summary:
    """summary.json: the run's status, best prompt, generations, population and API stats."""

    experiment_id: str
    status: str
    best_prompt: str | None
    best_fitness: float | None
    generations: list[GenerationRow]
    population: list[PopulationRow]
    api_stats: JsonDict
    best_analysis: JsonDict = field(default_factory=dict)

    def to_json(self) -> JsonDict:
        return {
            "experiment_id": self.experiment_id,
            "status": self.status,
            "best_prompt": self.best_prompt,
            "best_fitness": self.best_fitness,
            "best_analysis": self.best_analysis,
            "generations": [g.to_json() for g in self.generations],
            "population": [{"text": p.text, "fitness": p.fitness} for p in self.population],
            "api_stats": self.api_stats,
        }

    @classmethod
    def from_json(cls, raw: Any) -> Summary:
        doc = _object(raw, "summary.json")
        return cls(
            experiment_id=str(_get(doc, "experiment_id", str, "a string")),
            status=str(_get(doc, "status", str, "a string")),
            best_prompt=_opt(doc, "best_prompt", str, "a string"),
            best_fitness=_opt(doc, "best_fitness", _NUMBER, "a number"),
            generations=[GenerationRow.from_json(g) for g in doc.get("generations") or []],
            population=[PopulationRow.from_json(p) for p in doc.get("population") or []],
            api_stats=_opt(doc, "api_stats", dict, "an object") or {},
            best_analysis=_opt(doc, "best_analysis", dict, "an object") or {},
        )


# -- state.pkl written by the programmatic API ---------------------------------------------

MANAGER_FORMAT = "evoprompt.utils.checkpoint/1"


def is_manager_payload(payload: Any) -> bool:
    """A state.pkl payload written by ``evoprompt.utils.checkpoint.CheckpointManager``."""
    return isinstance(payload, dict) and payload.get("format") == MANAGER_FORMAT


# -- recovery.log ----------------------------------------------------------------------------


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
        doc = _object(raw, "a recovery.log line")
        cursor = _get(doc, "cursor", dict, "an object")
        return cls(
            timestamp=float(_get(doc, "timestamp", _NUMBER, "a number")),
            restored_from=_opt(doc, "restored_from", str, "a string"),
            state=str(_get(doc, "state", str, "a string")),
            completed_generation=int(_get(doc, "completed_generation", int, "an integer")),
            cursor=(
                int(_get(cursor, "generation", int, "an integer")),
                int(_get(cursor, "batch_idx", int, "an integer")),
            ),
            notes=[str(n) for n in _get(doc, "notes", list, "a list")],
        )
