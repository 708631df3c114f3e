"""The order an evaluation asks its (prompt, row) pairs in.

Every schedule yields each pair still to do exactly once, a pair of a pruned prompt included
(the evaluator skips its call but counts it, to know when a batch is complete). Schedules
differ only in which calls pruning gets to skip, never in a score.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator, Sequence

from evoprompt.evaluation.prune import Pruner

Item = tuple[int, str, int]
"""(batch index, prompt, row index)."""

RACE = 0.25  # share of the rows every pruned prompt is asked before any is asked further
PER_PROMPT = 8  # about this many of a prompt's rows on the wire at once after the race


def batch_major(todo: Sequence[Sequence[str]], batches: Sequence[range]) -> Iterator[Item]:
    """All prompts on batch 0, then batch 1, ...: batches complete, and are saved, early."""
    return ((b, p, i) for b, ps in enumerate(todo) for p in ps for i in batches[b])


def raced(
    order: Sequence[int],
    todo: Sequence[Sequence[str]],
    batches: Sequence[range],
    pruner: Pruner,
    concurrency: int,
) -> Iterator[Item]:
    """Rows in ``order`` (hardest first), in two stages, for prompts scored against bars.

    First every prompt is asked the first ``RACE`` of the rows, row by row. Then the prompts
    are finished a few at a time, those that lost least in the race first, about
    ``PER_PROMPT`` rows of each on the wire: the likely survivors finish early, and a bar
    that finished siblings raise (GA's seats) is then high while the rest are asked, so they
    are pruned sooner; fewer rows on the wire per prompt means fewer answers arrive after
    their prompt is pruned. A prompt pruned mid-stage has its remaining pairs yielded at once.
    """
    batch_of = [b for b, rows in enumerate(batches) for _ in rows]
    asked = [frozenset(ps) for ps in todo]
    prompts = list(dict.fromkeys(p for ps in todo for p in ps))
    head = math.ceil(RACE * len(order))
    for i in order[:head]:
        for p in todo[batch_of[i]]:
            yield batch_of[i], p, i
    ranked = sorted(prompts, key=pruner.lost)  # stable: plan order on equal losses
    waiting = deque((p, iter([i for i in order[head:] if p in asked[batch_of[i]]])) for p in ranked)
    window = max(1, math.ceil(concurrency / PER_PROMPT))
    active: list[tuple[str, Iterator[int]]] = []
    while active or waiting:
        while len(active) < window and waiting:
            active.append(waiting.popleft())
        for entry in list(active):
            prompt, rows = entry
            if prompt in pruner.pruned:
                active.remove(entry)
                yield from ((batch_of[i], prompt, i) for i in rows)
                continue
            i = next(rows, None)
            if i is None:
                active.remove(entry)
            else:
                yield batch_of[i], prompt, i
