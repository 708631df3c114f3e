"""The order pruned prompts are asked in: the prompt that can still reach the highest fitness
next, a share of the slots each, and every pair still yielded exactly once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from evoprompt.evaluation.prune import Pruner
from evoprompt.evaluation.schedule import Item, batch_major, best_first
from evoprompt.metrics.accuracy import Accuracy
from evoprompt.metrics.base import Judged
from evoprompt.strategies.bars import Bar, Hurdle

PENDING = Judged("", "", 0.0)
ROWS = 16
BATCHES = [range(s, s + 4) for s in range(0, ROWS, 4)]
ORDER = [5, 12, 0, 9, 3, 14, 1, 8, 2, 15, 4, 11, 6, 13, 7, 10]  # hardest first
PROMPTS = ["weak", "strong", "middling"]
WRONG = {"weak": {5, 12, 0, 9, 2}, "strong": {15}, "middling": {5, 8}}
OPEN = {p: Bar(0.0, ties=True) for p in PROMPTS}  # bars nothing misses


class Scoring:
    """A pruner over the prompts' rows, and the schedule it steers."""

    def __init__(self, bars: dict[str, Hurdle], todo: list[list[str]], concurrency: int):
        self.judged = {p: [PENDING] * ROWS for p in PROMPTS}
        self.pruner = Pruner(Accuracy(("a", "b")), bars, self.judged, PENDING)
        self.items: Iterator[Item] = best_first(ORDER, todo, BATCHES, self.pruner, concurrency)

    def answer(self, prompt: str, i: int) -> None:
        if prompt not in self.pruner.pruned:
            score = 0.0 if i in WRONG[prompt] else 1.0
            self.judged[prompt][i] = Judged("x", "x", score)
            self.pruner.answered(prompt, score)

    def drain(self) -> list[Item]:
        """Consume the schedule as one worker would, answering each pair before the next."""
        out = []
        for b, prompt, i in self.items:
            out.append((b, prompt, i))
            self.answer(prompt, i)
        return out


def test_the_prompt_that_lost_least_is_asked_next_each_on_its_hardest_rows_first() -> None:
    todo = [list(PROMPTS) for _ in BATCHES]
    items = Scoring(OPEN, todo, concurrency=1).drain()
    assert Counter(items) == Counter(batch_major(todo, BATCHES))  # each pair once, no more
    lost = dict.fromkeys(PROMPTS, 0)
    left = dict.fromkeys(PROMPTS, ROWS)
    for _, prompt, i in items:
        open_ = [p for p in PROMPTS if left[p]]
        assert prompt == min(open_, key=lambda p: lost[p])  # ties: the earlier prompt
        lost[prompt] += i in WRONG[prompt]
        left[prompt] -= 1
    for prompt in PROMPTS:
        assert [i for _, p, i in items if p == prompt] == ORDER
    finished = [max(n for n, (_, p, _) in enumerate(items) if p == q) for q in PROMPTS]
    assert finished[1] < finished[2] < finished[0]  # strong, then middling, then weak


def test_one_prompt_gets_a_share_of_the_slots_while_others_can_be_asked() -> None:
    scoring = Scoring(OPEN, [list(PROMPTS) for _ in BATCHES], concurrency=4)  # 2 slots each
    on_the_wire = [next(scoring.items) for _ in range(7)]  # nothing answered yet
    assert [p for _, p, _ in on_the_wire] == ["weak"] * 2 + ["strong"] * 2 + ["middling"] * 2 + [
        "weak"  # every prompt at its share: the best bound again (a tie: the earliest)
    ]
    for _, prompt, i in on_the_wire:
        scoring.answer(prompt, i)  # weak missed all three, middling one, strong none
    assert [next(scoring.items)[1] for _ in range(3)] == ["strong", "strong", "middling"]


def test_a_pruned_prompt_waits_for_its_turn_then_yields_its_other_pairs_at_once() -> None:
    todo = [list(PROMPTS) for _ in BATCHES]
    todo[1] = ["strong"]  # batch 1 recovered from disk for the others: not theirs to ask
    bars: dict[str, Hurdle] = {**OPEN, "weak": Bar(0.8, ties=True)}  # 4 misses rule it out
    scoring = Scoring(bars, todo, concurrency=1)
    items = scoring.drain()
    assert Counter(items) == Counter(batch_major(todo, BATCHES))
    assert "weak" in scoring.pruner.pruned
    weak = [n for n, (_, p, _) in enumerate(items) if p == "weak"]
    asked = [i for _, p, i in items if p == "weak" and i in WRONG["weak"]]
    pruned_at = items.index((0, "weak", asked[3]))  # its fourth miss
    rest = [n for n in weak if n > pruned_at]
    assert rest == list(range(rest[0], rest[0] + len(rest)))  # the rest come at once
    assert len(rest) == len(weak) - weak.index(pruned_at) - 1 > 0
