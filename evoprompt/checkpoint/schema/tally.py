"""The row tally ``state.pkl`` holds when pruning: what prompts lost on each dev row so far."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


def rows_key(texts: Sequence[str]) -> str:
    """Which dev rows a tally counts: a digest of their texts, in order."""
    return hashlib.sha256("\x1f".join(texts).encode()).hexdigest()


@dataclass
class RowTally:
    """Per dev row (those ``rows`` names, see :func:`rows_key`), the score prompts lost on it
    and how many times a prompt was judged on it; the order children are asked rows in
    against their bars comes from it (:func:`~evoprompt.pruning.order.hardest_first`).
    Every scoring phase adds the rows it judged, so a pruned prompt scored again later counts
    again on the rows it had answered (they come back from the journal): the order leans a
    little more towards rows that prompt missed, never a score."""

    rows: str
    lost: list[float]
    asked: list[int]

    @classmethod
    def empty(cls, texts: Sequence[str]) -> RowTally:
        return cls(rows_key(texts), [0.0] * len(texts), [0] * len(texts))

    def __len__(self) -> int:
        return len(self.lost)

    def add(self, judged: Iterable[tuple[int, float]]) -> None:
        """Count one prompt's judged rows: (row index, its score in [0, 1])."""
        for row, score in judged:
            self.lost[row] += 1.0 - score
            self.asked[row] += 1


def is_sound(value: object) -> bool:
    """Whether a loaded state.pkl's tally has the shape the runner relies on (the unpickler
    checks only which types it holds): exactly its three fields (a tampered one may lack one,
    or shadow a method), no count below zero and no loss that is not a number."""
    fields = vars(value) if isinstance(value, RowTally) else {}
    lost, asked, rows = fields.get("lost"), fields.get("asked"), fields.get("rows")
    return (
        fields.keys() == {"rows", "lost", "asked"}
        and isinstance(rows, str)
        and isinstance(lost, list)
        and isinstance(asked, list)
        and len(lost) == len(asked)
        and all(type(x) is float and math.isfinite(x) and x >= 0.0 for x in lost)
        and all(type(n) is int and n >= 0 for n in asked)
    )
