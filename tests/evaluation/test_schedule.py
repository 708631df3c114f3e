"""The order pruned prompts are asked in: the race on the hardest rows, then the likely
survivors finished first, every pair still yielded once."""

from __future__ import annotations

import math
from collections import Counter

from evoprompt.evaluation.prune import Pruner
from evoprompt.evaluation.schedule import RACE, Item, batch_major, raced
from evoprompt.metrics.accuracy import Accuracy
from evoprompt.metrics.base import Judged
from evoprompt.strategies.bars import Bar, Hurdle

PENDING = Judged("", "", 0.0)
ROWS = 16
BATCHES = [range(s, s + 4) for s in range(0, ROWS, 4)]
ORDER = [5, 12, 0, 9, 3, 14, 1, 8, 2, 15, 4, 11, 6, 13, 7, 10]  # hardest first
PROMPTS = ["weak", "strong", "middling"]
# Which rows each prompt gets wrong: "strong" loses least on the race, so it is finished first.
WRONG = {"weak": {5, 12, 0, 9, 2}, "strong": {15}, "middling": {5, 8}}


def drain(bars: dict[str, Hurdle], todo: list[list[str]]) -> list[Item]:
    """Consume the schedule as one worker would, answering each pair before the next."""
    judged = {p: [PENDING] * ROWS for p in PROMPTS}
    pruner = Pruner(Accuracy(("a", "b")), bars, judged, PENDING)
    items = []
    for b, prompt, i in raced(ORDER, todo, BATCHES, pruner, concurrency=8):
        items.append((b, prompt, i))
        if prompt not in pruner.pruned:
            score = 0.0 if i in WRONG[prompt] else 1.0
            judged[prompt][i] = Judged("x", "x", score)
            pruner.answered(prompt, score)
    return items


def test_every_prompt_races_on_the_hardest_rows_then_the_best_finishes_first() -> None:
    todo = [list(PROMPTS) for _ in BATCHES]
    items = drain({p: Bar(0.0, ties=True) for p in PROMPTS}, todo)
    assert Counter(items) == Counter(batch_major(todo, BATCHES))  # each pair once, no more
    head = math.ceil(RACE * ROWS)
    race = items[: head * len(PROMPTS)]
    assert [i for _, _, i in race] == [i for i in ORDER[:head] for _ in PROMPTS]
    rest = items[len(race) :]
    assert [p for _, p, _ in rest[: ROWS - head]] == ["strong"] * (ROWS - head)  # window of 1
    assert [i for _, p, i in rest if p == "weak"] == ORDER[head:]  # hardest first still
    assert [p for _, p, _ in rest[-(ROWS - head) :]] == ["weak"] * (ROWS - head)


def test_a_pruned_prompt_is_not_asked_again_but_its_pairs_are_all_yielded() -> None:
    todo = [list(PROMPTS) for _ in BATCHES]
    todo[1] = ["strong"]  # batch 1 recovered from disk for the others: not theirs to ask
    bars: dict[str, Hurdle] = {p: Bar(0.0, ties=True) for p in PROMPTS}
    bars["weak"] = Bar(0.8, ties=True)  # four misses in 16 rows rule it out
    items = drain(bars, todo)
    assert Counter(items) == Counter(batch_major(todo, BATCHES))
    assert not any(p != "strong" and b == 1 for b, p, _ in items)
    head = math.ceil(RACE * ROWS)
    assert set(ORDER[:head]) <= WRONG["weak"]  # so it is pruned in the race...
    rest = items[len(PROMPTS) * head - 2 :]  # (row 5 is in batch 1: "strong" alone)
    at = [n for n, (_, p, _) in enumerate(rest) if p == "weak"]
    assert at == list(range(at[0], at[0] + len(at)))  # ...and its other pairs come at once
    assert at[-1] == len(rest) - 1  # (it lost most in the race, so it is finished last)
