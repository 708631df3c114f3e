"""The order children scored against bars are asked their rows in: hardest rows first, the
child that can still reach the highest fitness first."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence

from evoprompt.checkpoint.schema.tally import RowTally
from evoprompt.pruning.bound import Pruner

SHARE = 2  # at most 1/SHARE of the slots on one prompt's rows while others can be asked
PRIOR = 1.0  # asks' worth of the mean miss rate a row starts from (one miss is not a verdict)


def hardest_first(tally: RowTally) -> list[int]:
    """Every row index once, the highest share of score lost first (ties by index); a row
    few prompts were asked is pulled towards the mean of all rows.

    A child that will miss its bar usually misses the rows others missed, so asking those first
    prunes it after fewer calls. The tally counts every prompt judged so far, the rows of pruned
    prompts included: the more prompts, the closer the order is to the rows' true difficulty.
    """
    mean = sum(tally.lost) / max(1, sum(tally.asked))
    rate = [(lost + PRIOR * mean) / (asked + PRIOR) for lost, asked in zip(tally.lost, tally.asked)]
    return sorted(range(len(rate)), key=lambda i: (-rate[i], i))


class BestFirst:
    """Rows in ``order`` (hardest first), for prompts scored against bars (``pruner`` has
    them): each next pair goes to the open prompt that can still reach the highest fitness
    (its bound, rows on the wire counted perfect), ties to the one asked fewer rows, then to
    the one that joined first, preferring one with fewer than ``concurrency / SHARE`` rows on
    the wire.

    A prompt that will survive keeps a high bound, so it is asked on and finishes early; one
    that misses the hard rows waits, and is asked the rest only once it is the best open
    prompt, by which time the prompts ahead of it have earned or finished their scores and
    raised any bar those raise (GA's seats): it is pruned after about as many rows as if that
    bar had been known from the start. Where bounds tie, every prompt is asked the hardest
    rows before any is asked easier ones, so the weak ones fall behind early.

    A row goes out only if it is *safe* (it cannot be answered after its prompt is pruned,
    against the bar as it stands): a slot waits rather than pay for a row pruning may not
    need. Once no more can join, the leader (the highest bound; on a tie, the one that joined
    first, a revived one last) is exempt up to its share, or to the end as the last open
    prompt: it is the likely survivor whose score raises the others' bars, and throttling it
    too leaves the slots to weaker prompts. So is a prompt whose bar no rival can raise
    (DE's): waiting cannot cut it off sooner, only slow the run. (What this throttle saves
    over a free best-first order: docs/pruning.md, with the figures in benchmarks/RESULTS.md.)
    A pruned prompt's remaining pairs come at once.
    """

    def __init__(self, order: Sequence[int], pruner: Pruner, concurrency: int):
        self.closed = False
        self._place = {row: k for k, row in enumerate(order)}
        self._pruner = pruner
        self._cap = max(1, concurrency // SHARE)
        self._rows: dict[str, deque[int]] = {}
        self._waiting: dict[str, int] = {}  # rows not answered when the prompt joined
        self._sent: dict[str, int] = {}
        self._flush: deque[tuple[str, int]] = deque()  # pruned prompts' pairs, handed out at once

    def add(self, prompt: str, rows: Iterable[int]) -> None:
        """A prompt joins, or one revived (its bar fell) goes on with the rows it skipped,
        and those of its pairs not handed out yet."""
        unsent = [i for p, i in self._flush if p == prompt]
        if unsent:
            self._flush = deque(pair for pair in self._flush if pair[0] != prompt)
        everything = [*self._rows.get(prompt, ()), *unsent, *rows]
        left = deque(sorted(everything, key=self._place.__getitem__))
        if left:
            self._rows[prompt] = left
            self._waiting.setdefault(prompt, self._pruner.waiting(prompt))  # kept on a revival:
            self._sent.setdefault(prompt, 0)  # rows still on the wire count against it

    def close(self) -> None:
        self.closed = True

    def __iter__(self) -> BestFirst:
        return self

    def _wire(self, prompt: str) -> int:
        return self._sent[prompt] - (self._waiting[prompt] - self._pruner.waiting(prompt))

    def _key(self, prompt: str) -> tuple[bool, float, int]:
        return self._wire(prompt) < self._cap, -self._pruner.lost(prompt), -self._sent[prompt]

    def _safe(self, prompt: str) -> bool:
        """Another row on the wire cannot be answered after the prompt is pruned, against its
        bar as it stands (a sibling answered meanwhile may still raise it)."""
        return self._wire(prompt) < max(1.0, self._pruner.leeway(prompt))

    def _ready(self) -> list[str]:
        """The open prompts another row may go to now: while more can join, the safe ones;
        once closed, also any whose bar cannot rise (a fixed bar gains nothing by waiting),
        and the leader up to its share (to the end as the last open prompt)."""
        rows = self._rows
        if not self.closed:
            return [p for p in rows if self._safe(p)]
        ready = [p for p in rows if not self._pruner.rises(p) or self._safe(p)]
        lead = min(rows, key=self._pruner.lost)  # of equal bounds, the first in the queue
        if self._wire(lead) < self._cap or len(rows) == 1:
            ready.append(lead)
        return ready

    def __next__(self) -> tuple[str, int] | None:
        rows, pruned = self._rows, self._pruner.pruned
        for prompt in [p for p in rows if p in pruned]:
            self._flush.extend((prompt, i) for i in rows.pop(prompt))
        if self._flush:
            return self._flush.popleft()
        if not rows:
            if self.closed:
                raise StopIteration
            return None
        ready = self._ready()
        if not ready:  # every row that could go out now may be paid for nothing: wait
            return None
        best = max(ready, key=self._key)
        i = rows[best].popleft()
        if not rows[best]:
            del rows[best]
        self._sent[best] += 1
        return best, i
