"""The order an evaluation asks its (prompt, row) pairs in.

A schedule hands out each pair still to do exactly once, a pair of a pruned prompt included
(the evaluator skips its call but counts it, to know when a batch is complete). Prompts may
join while it runs (children scored as their operator replies arrive): ``next`` returns None
while nothing is ready but more may join, and stops once the schedule is closed and empty.
Schedules differ only in which calls pruning gets to skip, never in a score.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence

Pair = tuple[str, int]
"""(prompt, row index)."""


def batch_of(batches: Sequence[range]) -> list[int]:
    """Each row's batch index."""
    return [b for b, rows in enumerate(batches) for _ in rows]


class BatchMajor:
    """All prompts on batch 0, then batch 1, ...: batches complete, and are saved, early; a
    prompt that joins later is asked after the others in each batch."""

    def __init__(self, batches: Sequence[range]):
        self.closed = False
        self._batch_of = batch_of(batches)
        self._queues: list[deque[Pair]] = [deque() for _ in batches]
        self._first = 0  # no batch before it has pairs left

    def add(self, prompt: str, rows: Iterable[int]) -> None:
        for i in rows:
            b = self._batch_of[i]
            self._queues[b].append((prompt, i))
            self._first = min(self._first, b)

    def close(self) -> None:
        self.closed = True

    def __iter__(self) -> BatchMajor:
        return self

    def __next__(self) -> Pair | None:
        while self._first < len(self._queues):
            queue = self._queues[self._first]
            if queue:
                return queue.popleft()
            self._first += 1
        if self.closed:
            raise StopIteration
        return None
