"""What ``checkpoints/`` holds: descriptors (latest, backup, history), batch files, and the
state.pkl payload the programmatic API writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evoprompt.checkpoint.schema.fields import (
    NUMBER,
    JsonDict,
    SchemaError,
    as_object,
    document,
    get,
    opt,
    versioned,
)
from evoprompt.checkpoint.schema.stage import Stage


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
        return versioned(doc)

    @classmethod
    def from_json(cls, raw: Any) -> Descriptor:
        doc = document(raw, "the checkpoint")
        metadata = get(doc, "metadata", dict, "an object")
        if not isinstance(metadata.get("stage"), str):
            raise SchemaError("field 'metadata.stage' is missing")
        return cls(
            seq=int(get(doc, "seq", NUMBER, "a number")),
            timestamp=float(get(doc, "timestamp", NUMBER, "a number")),
            generation=int(get(doc, "generation", NUMBER, "a number")),
            batch_idx=int(get(doc, "batch_idx", NUMBER, "a number")),
            metadata=metadata,
            experiment_id=opt(doc, "experiment_id", str, "a string"),
            num_individuals=int(opt(doc, "num_individuals", NUMBER, "a number") or 0),
            best_fitness=opt(doc, "best_fitness", NUMBER, "a number"),
            state_seq=opt(doc, "state_seq", int, "an integer"),
            state_sha256=opt(doc, "state_sha256", str, "a string"),
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
        doc = as_object(raw, "a prompt entry")
        if not isinstance(doc.get("text"), str):
            raise SchemaError("a prompt entry has no text")
        columns = {
            key: get(doc, key, list, "a list")
            for key in ("outputs", "predictions", "ground_truths", "scores")
        }
        if len(columns["predictions"]) != len(columns["ground_truths"]):
            raise SchemaError("predictions and ground truths differ in length")
        if len({len(column) for column in columns.values()}) != 1:
            raise SchemaError("outputs, predictions, ground truths and scores differ in length")
        scores = columns["scores"]
        if not all(isinstance(v, NUMBER) and not isinstance(v, bool) for v in scores):
            raise SchemaError("field 'scores' holds a value that is not a number")
        if any(not 0.0 <= v <= 1.0 for v in scores):
            raise SchemaError("field 'scores' holds a value outside [0, 1]")
        return cls(
            text=doc["text"],
            outputs=[str(v) for v in columns["outputs"]],
            predictions=[str(v) for v in columns["predictions"]],
            ground_truths=[str(v) for v in columns["ground_truths"]],
            scores=[float(v) for v in scores],
            analysis=opt(doc, "analysis", dict, "an object") or {},
        )


@dataclass(frozen=True)
class BatchRecord:
    """One evaluated batch: which rows, and every prompt's results on them.

    A held-out test batch (``batches/test<K>_batch<B>.json``) holds its test phase K in
    ``generation`` and the sha256 of its input texts in ``inputs_sha256``: test sets can come
    from other files, so a batch is reused only for exactly the same inputs.
    """

    generation: int
    batch_idx: int
    rows: tuple[int, int]
    prompts: list[PromptResult]
    inputs_sha256: str | None = None

    def to_json(self) -> JsonDict:
        doc: JsonDict = {
            "generation": self.generation,
            "batch_idx": self.batch_idx,
            "rows": list(self.rows),
            "prompts": [p.to_json() for p in self.prompts],
        }
        if self.inputs_sha256 is not None:
            doc["inputs_sha256"] = self.inputs_sha256
        return versioned(doc)

    @classmethod
    def from_json(cls, raw: Any) -> BatchRecord:
        doc = document(raw, "the batch")
        prompts = get(doc, "prompts", list, "a list")
        rows = get(doc, "rows", list, "a list")
        if len(rows) != 2 or not all(isinstance(r, int) for r in rows):
            raise SchemaError("field 'rows' is not a [start, stop] pair")
        return cls(
            generation=get(doc, "generation", int, "an integer"),
            batch_idx=get(doc, "batch_idx", int, "an integer"),
            rows=(rows[0], rows[1]),
            prompts=[PromptResult.from_json(p) for p in prompts],
            inputs_sha256=opt(doc, "inputs_sha256", str, "a string"),
        )


MANAGER_FORMAT = "evoprompt.utils.checkpoint/1"


def is_manager_payload(payload: Any) -> bool:
    """A state.pkl payload written by ``evoprompt.utils.checkpoint.CheckpointManager``."""
    return isinstance(payload, dict) and payload.get("format") == MANAGER_FORMAT
