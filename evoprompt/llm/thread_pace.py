"""How many threads llama.cpp gets for the next decode, chosen by the pace measured.

llama.cpp's CPU threads meet at a spinning barrier after every node of the graph (hundreds
per decode). On free cores two threads beat one, but where other processes keep the cores
busy, a thread taken off its core leaves its partner spinning through whole time slices: on
the project's 2-core machine at load 14, a 24-token decode took 3.8 s on 2 threads and
0.36 s on 1; at load 7, 2 threads were 1.3x faster. Which wins changes with the machine's
load, so the local backend times its decodes under each and keeps the faster, trying the
other again now and then (less often each time it loses). The thread count changes no
result: llama.cpp splits a decode's work by output rows, so logprobs and samples are
bit-identical on 1 thread and on 2.
"""

from __future__ import annotations

from collections.abc import Collection

FIRST_GAP = 8  # decodes on the faster count before the other is tried again
MOST_GAP = 256  # the gap doubles each time the other loses, up to this
SMOOTHING = 0.3  # weight of a new timing in the faster count's running cost


class ThreadPace:
    """Picks one of ``counts`` threads for each decode; :meth:`record` feeds back its timing."""

    def __init__(self, counts: Collection[int]) -> None:
        self.counts = sorted(set(counts))
        self._cost: dict[int, float] = {}  # seconds per unit of work, per thread count
        self._gap = FIRST_GAP
        self._since = 0  # decodes since the slower count was last tried

    def best(self) -> int:
        """The count with the lowest known cost (untried counts first, most threads first)."""
        untried = [n for n in self.counts if n not in self._cost]
        if untried:
            return untried[-1]
        return min(self.counts, key=self._cost.__getitem__)

    def pick(self) -> int:
        best = self.best()
        if best not in self._cost or len(self.counts) == 1:
            return best
        self._since += 1
        if self._since < self._gap:
            return best
        self._since = 0
        others = [n for n in self.counts if n != best]
        return min(others, key=self._cost.__getitem__)

    def record(self, threads: int, seconds: float, work: int) -> None:
        """A decode on ``threads`` took ``seconds`` for ``work`` units (tokens, rows out)."""
        cost = seconds / max(1, work)
        known = self._cost.get(threads)
        if known is None or threads != self.best():  # a first timing or a try of the slower
            self._cost[threads] = cost
            if len(self._cost) == len(self.counts):
                won = self.best() == threads
                self._gap = FIRST_GAP if won else min(self._gap * 2, MOST_GAP)
        else:
            self._cost[threads] = known + SMOOTHING * (cost - known)
