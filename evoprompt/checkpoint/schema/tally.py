"""The row tally ``state.pkl`` holds when pruning: what prompts lost on each dev row so far."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass
class RowTally:
    """Per dev row, the score prompts lost on it and how many prompts were judged on it; the
    order children are asked rows in against their bars comes from it
    (:func:`~evoprompt.evaluation.schedule.hardest_first`)."""

    lost: list[float]
    asked: list[int]

    @classmethod
    def empty(cls, rows: int) -> RowTally:
        return cls([0.0] * rows, [0] * rows)

    def __len__(self) -> int:
        return len(self.lost)

    def add(self, judged: Iterable[tuple[int, float]]) -> None:
        """Count one prompt's judged rows: (row index, its score in [0, 1])."""
        for row, score in judged:
            self.lost[row] += 1.0 - score
            self.asked[row] += 1

    def is_sound(self) -> bool:
        """The shape a loaded state.pkl must hold (the unpickler checks only types)."""
        return (
            isinstance(self.lost, list)
            and isinstance(self.asked, list)
            and len(self.lost) == len(self.asked)
            and all(isinstance(x, float) for x in self.lost)
            and all(isinstance(n, int) for n in self.asked)
        )
