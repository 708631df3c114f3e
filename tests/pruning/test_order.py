"""The order pruned prompts are asked in: the prompt that can still reach the highest fitness
next, a share of the slots each, and every pair still yielded exactly once."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Iterator
from typing import Any, cast

import pytest

from evoprompt.checkpoint.schema import RowTally
from evoprompt.data.loader import Dataset
from evoprompt.evaluation import phase as phase_module
from evoprompt.evaluation.evaluator import Evaluator
from evoprompt.evaluation.schedule import BatchMajor, Pair
from evoprompt.llm.client import LLMClient
from evoprompt.metrics.accuracy import Accuracy
from evoprompt.metrics.base import Judged
from evoprompt.pruning.bars import Bar, Hurdle, Seats
from evoprompt.pruning.bound import Pruner
from evoprompt.pruning.order import BestFirst

PENDING = Judged("", "", 0.0)
ROWS = 16
BATCHES = [range(s, s + 4) for s in range(0, ROWS, 4)]
ORDER = [5, 12, 0, 9, 3, 14, 1, 8, 2, 15, 4, 11, 6, 13, 7, 10]  # hardest first
PROMPTS = ["weak", "strong", "middling"]
WRONG = {"weak": {5, 12, 0, 9, 2}, "strong": {15}, "middling": {5, 8}}
OPEN = {p: Bar(0.0, ties=True) for p in PROMPTS}  # bars nothing misses


def todo_rows(todo: list[list[str]], batches: list[range]) -> dict[str, list[int]]:
    """Per prompt, the rows of the batches it is to be asked on, in order."""
    rows: dict[str, list[int]] = {}
    for b, prompts in enumerate(todo):
        for prompt in prompts:
            rows.setdefault(prompt, []).extend(batches[b])
    return rows


def batch_major(todo: list[list[str]], batches: list[range]) -> BatchMajor:
    """A closed batch-major schedule of ``todo`` (per batch, the prompts to ask)."""
    schedule = BatchMajor(batches)
    for prompt, rows in todo_rows(todo, batches).items():
        schedule.add(prompt, rows)
    schedule.close()
    return schedule


def best_first(
    order: list[int],
    prompts: list[str],
    todo: list[list[str]],
    batches: list[range],
    pruner: Pruner,
    concurrency: int,
) -> BestFirst:
    """A closed best-first schedule of ``todo``, prompts joining in the order of ``prompts``."""
    schedule = BestFirst(order, pruner, concurrency)
    rows = todo_rows(todo, batches)
    for prompt in prompts:
        schedule.add(prompt, rows.get(prompt, ()))
    schedule.close()
    return schedule


class Scoring:
    """A pruner over the prompts' rows, and the schedule it steers."""

    def __init__(self, bars: dict[str, Hurdle], todo: list[list[str]], concurrency: int):
        self.judged = {p: [PENDING] * ROWS for p in PROMPTS}
        self.pruner = Pruner(Accuracy(("a", "b")), bars, self.judged, PENDING)
        self.items: Iterator[Pair] = best_first(
            ORDER, PROMPTS, todo, BATCHES, self.pruner, concurrency
        )

    def answer(self, prompt: str, i: int) -> None:
        if prompt not in self.pruner.pruned:
            score = 0.0 if i in WRONG[prompt] else 1.0
            self.judged[prompt][i] = Judged("x", "x", score)
            self.pruner.answered(prompt, score)

    def drain(self) -> list[Pair]:
        """Consume the schedule as one worker would, answering each pair before the next."""
        out = []
        for prompt, i in self.items:
            out.append((prompt, i))
            self.answer(prompt, i)
        return out


def land(pruner: Pruner, item: Pair | None, score: float) -> None:
    """An answer to a pair handed out lands."""
    assert item is not None
    prompt, i = item
    pruner.judged[prompt][i] = Judged("x", "x", score)
    pruner.answered(prompt, score)


def test_the_prompt_that_lost_least_is_asked_next_each_on_its_hardest_rows_first() -> None:
    todo = [list(PROMPTS) for _ in BATCHES]
    items = Scoring(OPEN, todo, concurrency=1).drain()
    assert Counter(items) == Counter(batch_major(todo, BATCHES))  # each pair once, no more
    lost = dict.fromkeys(PROMPTS, 0)
    left = dict.fromkeys(PROMPTS, ROWS)
    for prompt, i in items:
        open_ = [p for p in PROMPTS if left[p]]
        # ties: the prompt asked fewer rows, then the earlier one
        assert prompt == min(open_, key=lambda p: (lost[p], ROWS - left[p]))
        lost[prompt] += i in WRONG[prompt]
        left[prompt] -= 1
    for prompt in PROMPTS:
        assert [i for p, i in items if p == prompt] == ORDER
    finished = [max(n for n, (p, _) in enumerate(items) if p == q) for q in PROMPTS]
    assert finished[1] < finished[2] < finished[0]  # strong, then middling, then weak


def test_one_prompt_gets_a_share_of_the_slots_while_others_can_be_asked() -> None:
    scoring = Scoring(OPEN, [list(PROMPTS) for _ in BATCHES], concurrency=4)  # 2 slots each
    on_the_wire = [next(scoring.items) for _ in range(7)]  # nothing answered yet
    # equal bounds: each in turn (fewest rows first); all at their share: in turn again
    assert [p for p, _ in on_the_wire] == ["weak", "strong", "middling"] * 2 + ["weak"]
    for prompt, i in on_the_wire:
        scoring.answer(prompt, i)  # weak missed all three, middling one, strong none
    assert [next(scoring.items)[0] for _ in range(3)] == ["strong", "strong", "middling"]


def test_a_pruned_prompt_waits_for_its_turn_then_yields_its_other_pairs_at_once() -> None:
    todo = [list(PROMPTS) for _ in BATCHES]
    todo[1] = ["strong"]  # batch 1 recovered from disk for the others: not theirs to ask
    bars: dict[str, Hurdle] = {**OPEN, "weak": Bar(0.8, ties=True)}  # 4 misses rule it out
    scoring = Scoring(bars, todo, concurrency=1)
    items = scoring.drain()
    assert Counter(items) == Counter(batch_major(todo, BATCHES))
    assert "weak" in scoring.pruner.pruned
    weak = [n for n, (p, _) in enumerate(items) if p == "weak"]
    asked = [i for p, i in items if p == "weak" and i in WRONG["weak"]]
    pruned_at = items.index(("weak", asked[3]))  # its fourth miss
    rest = [n for n in weak if n > pruned_at]
    assert rest == list(range(rest[0], rest[0] + len(rest)))  # the rest come at once
    assert len(rest) == len(weak) - weak.index(pruned_at) - 1 > 0


@pytest.mark.parametrize("seed", range(40))
def test_many_workers_answering_out_of_order_still_prune_exactly_and_ask_each_pair_once(
    seed: int,
) -> None:
    """Random right/wrong answers, bars (fixed, and seats that finished siblings raise),
    batches recovered from disk for some prompts, and up to 8 workers whose answers land in
    any order: every pair is yielded once, every prompt left open is answered on all its
    rows, and a pruned prompt would have missed its bar with every other prompt's true score
    known."""
    rng = random.Random(seed)
    rows, size = 24, 4
    batches = [range(s, s + size) for s in range(0, rows, size)]
    prompts = [f"prompt {k}" for k in range(6)]
    truth = {
        p: [float(rng.random() < rng.uniform(0.5, 0.95)) for _ in range(rows)] for p in prompts
    }
    fitness = {p: sum(s) / rows for p, s in truth.items()}
    todo = [[p for p in prompts if rng.random() < 0.8] for _ in batches]
    judged = {p: [PENDING] * rows for p in prompts}
    for b, asked in enumerate(todo):
        for p in set(prompts) - set(asked):  # recovered from a batch file
            for i in batches[b]:
                judged[p][i] = Judged("x", "x", truth[p][i])
    bars: dict[str, Hurdle] = {}
    for k, p in enumerate(prompts):
        if k % 2:
            bars[p] = Bar(rng.uniform(0.4, 0.95), ties=rng.random() < 0.5)
        else:
            parents = (rng.uniform(0.5, 0.9), rng.uniform(0.5, 0.9))
            bars[p] = Seats(3, parents, frozenset(prompts[:k]))
    pruner = Pruner(Accuracy(("a", "b")), bars, judged, PENDING)
    order = rng.sample(range(rows), rows)
    concurrency = rng.randint(1, 8)
    schedule = best_first(order, prompts, todo, batches, pruner, concurrency)
    yielded: list[Pair] = []
    wire: list[Pair] = []
    while True:
        if wire and (len(wire) >= concurrency or rng.random() < 0.5):
            prompt, i = wire.pop(rng.randrange(len(wire)))  # an answer lands
            judged[prompt][i] = Judged("x", "x", truth[prompt][i])
            pruner.answered(prompt, truth[prompt][i])
            continue
        item = next(schedule, None)
        if item is None:
            if not wire:
                break
            continue
        yielded.append(item)
        if item[0] not in pruner.pruned:  # as a worker does: a pruned prompt is not asked
            wire.append(item)
    assert Counter(yielded) == Counter(batch_major(todo, batches))
    for p in prompts:
        if p in pruner.pruned:
            rivals = {q: f for q, f in fitness.items() if q != p}
            assert not bars[p].clears(fitness[p], rivals)
        else:
            assert all(j is not PENDING for j in judged[p])
            assert pruner.finished[p] == fitness[p]


@pytest.mark.parametrize("fault", ["drops a pair", "repeats a pair"])
def test_a_schedule_that_loses_or_repeats_a_pair_stops_the_evaluation(
    fault: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A schedule's bug must not pass as a score: an unasked row would count as a miss, a
    repeated one would finish a prompt early. (The broken schedule is a stand-in: no real one
    is broken.)"""
    data = Dataset(tuple(f"text {i}" for i in range(ROWS)), ("a",) * ROWS, "dev")

    class Broken(BestFirst):
        def __next__(self) -> Pair | None:
            if not hasattr(self, "broken"):
                items = list(iter(super().__next__, None))  # closed: every pair, then the end
                self.broken = iter(items[:-1] if fault == "drops a pair" else [*items, items[-1]])
            return next(self.broken)

    class Always:
        async def answer(self, client: LLMClient, instruction: str, text: str) -> str:
            return "a"

        def forget(self, instruction: str) -> None:
            pass

    async def save(*_: object) -> None:
        pass

    monkeypatch.setattr(phase_module, "BestFirst", Broken)
    evaluator = Evaluator(
        cast(LLMClient, None), Always(), Accuracy(("a", "b")), data, batch_size=4, concurrency=2
    )
    with pytest.raises(RuntimeError, match="schedule"):
        asyncio.run(evaluator.evaluate(PROMPTS, {}, save, dict(OPEN), RowTally.empty(data.texts)))


def test_while_more_can_join_a_prompt_gets_no_more_rows_on_the_wire_than_it_can_miss() -> None:
    """Against 0.8 on 16 rows a prompt is out once it has lost more than 3.2: with at most
    that many rows on the wire, none can be answered after it is pruned. A slot waits for
    now (None); once nothing more can join, rows are handed out freely again."""
    judged = {"weak": [PENDING] * ROWS}
    pruner = Pruner(Accuracy(("a", "b")), {"weak": Bar(0.8, ties=True)}, judged, PENDING)
    schedule = BestFirst(ORDER, pruner, concurrency=16)
    schedule.add("weak", range(ROWS))
    wire = [next(schedule) for _ in range(4)]
    assert None not in wire and next(schedule) is None

    land(pruner, wire[0], 0.0)  # lost 1 of 3.2, three on the wire
    assert next(schedule) is None
    land(pruner, wire[1], 1.0)  # lost 1, two on the wire: a third is safe
    assert next(schedule) is not None and next(schedule) is None
    schedule.close()
    assert next(schedule) is not None


def closed(bar: Hurdle, *prompts: str) -> tuple[Pruner, BestFirst]:
    """``prompts``, each against ``bar`` on 16 rows, 16 slots shared among them, closed."""
    judged = {p: [PENDING] * ROWS for p in prompts}
    pruner = Pruner(Accuracy(("a", "b")), dict.fromkeys(judged, bar), judged, PENDING)
    schedule = BestFirst(ORDER, pruner, concurrency=16)
    for prompt in judged:
        schedule.add(prompt, range(ROWS))
    schedule.close()
    return pruner, schedule


def test_once_closed_only_the_leader_gets_rows_it_may_not_need() -> None:
    """Both against a bar their rivals can raise (two seats, both parents at 0.8: out after
    losing more than 3.2 of 16). Once nothing more can join, the prompt that can reach the
    highest fitness goes on up to its share even past what it can miss (its score raises the
    others' bars); another gets no more rows on the wire than it can miss, and a slot waits
    (None) rather than ask it."""
    pruner, schedule = closed(Seats(2, (0.8, 0.8), frozenset()), "strong", "weak")
    wire = [next(schedule) for _ in range(12)]
    assert [item[0] for item in wire if item] == ["strong", "weak"] * 4 + ["strong"] * 4
    assert next(schedule) is None  # the leader at its share, the other past what it can miss

    land(pruner, wire[1], 0.0)  # weak lost 1 of 3.2 with three on the wire: still waits
    assert next(schedule) is None
    land(pruner, wire[0], 1.0)  # the leader has a slot of its share again
    item = next(schedule)
    assert item is not None and item[0] == "strong"
    assert next(schedule) is None


def test_once_closed_the_last_open_prompt_is_not_held_to_a_share() -> None:
    """Its share is of the slots others could use: alone, it gets every row at once."""
    _, schedule = closed(Seats(2, (0.8, 0.8), frozenset()), "last")
    assert None not in [next(schedule) for _ in range(ROWS)]


def test_once_closed_a_fixed_bar_gains_nothing_by_waiting() -> None:
    """Against a bar no rival can raise (DE's), waiting for other answers cannot cut a
    prompt off sooner: once closed, each is asked up to its share."""
    _, schedule = closed(Bar(0.8, ties=True), "strong", "weak")
    wire = [next(schedule) for _ in range(16)]
    assert Counter(item[0] for item in wire if item) == {"strong": 8, "weak": 8}


def test_a_revived_prompt_goes_on_with_every_row_it_skipped_or_had_not_been_handed() -> None:
    """Pruned after two misses against 0.9; four of its other rows counted done unasked, the
    rest not handed out yet. Its bar falls (another plan bred it): it is asked every row not
    asked before, once, and the row still on the wire still counts against its share."""
    judged = {"weak": [PENDING] * ROWS}
    bars: dict[str, Hurdle] = {"weak": Bar(0.9, ties=True)}
    pruner = Pruner(Accuracy(("a", "b")), bars, judged, PENDING)
    schedule = BestFirst(ORDER, pruner, concurrency=16)
    schedule.add("weak", range(ROWS))
    schedule.close()
    wire = [next(schedule) for _ in range(3)]
    for item in wire[:2]:
        assert item is not None
        judged["weak"][item[1]] = Judged("x", "x", 0.0)
        pruner.answered("weak", 0.0)
    assert pruner.pruned == {"weak"}
    skipped = [next(schedule) for _ in range(4)]
    bars["weak"] = Bar(0.0, ties=True)
    assert pruner.rebar() == ["weak"]
    schedule.add("weak", [item[1] for item in skipped if item is not None])
    rest = list(schedule)
    asked = [item[1] for item in wire if item is not None]
    assert sorted(i for _, i in rest) == sorted(set(range(ROWS)) - set(asked))
    assert [i for _, i in rest] == [i for i in ORDER if i not in asked]  # hardest first
    assert schedule._wire("weak") == 1 + len(rest)  # wire[2] has not landed


def test_workers_waiting_in_a_closed_schedule_are_woken_and_the_result_is_exact(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Eight prompts of differing skill against GA seats, eight workers whose answers land in
    a random order: once closed, rows of prompts near their cut wait for answers (the workers
    wait), every waiting worker is woken, and the result is that of full scoring.

    Answers are held until the loop has run dry and then released one at a time, drawn from a
    seeded generator; no wall-clock timer decides the order, so a loaded machine runs the very
    same schedule (random sleeps once let answers bunch up there and no worker ever waited)."""
    rows, rng = 24, random.Random(3)
    data = Dataset(tuple(f"text {i}" for i in range(rows)), ("a",) * rows, "dev")
    prompts = [f"prompt {k}" for k in range(8)]
    right = {
        p: {i for i in range(rows) if rng.random() < 0.45 + 0.07 * k} for k, p in enumerate(prompts)
    }
    waits = Counter[bool]()

    class Counted(phase_module.Wakeup):
        async def wait(self) -> None:
            waits[self.over] += 1
            await super().wait()

    class Held:
        """Parks every request; ``land`` answers a random parked one once nothing else can run."""

        def __init__(self) -> None:
            self.parked: list[tuple[asyncio.Future[str], str]] = []

        async def answer(self, client: LLMClient, instruction: str, text: str) -> str:
            landed = asyncio.get_running_loop().create_future()
            self.parked.append((landed, "a" if int(text.split()[1]) in right[instruction] else "b"))
            return await landed

        def forget(self, instruction: str) -> None:
            pass

        async def land(self) -> None:
            while True:
                for _ in range(20):  # let every woken worker run to its next request or wait
                    await asyncio.sleep(0)
                if self.parked:
                    landed, output = self.parked.pop(rng.randrange(len(self.parked)))
                    landed.set_result(output)

    async def save(*_: object) -> None:
        pass

    def run(bars: dict[str, Hurdle] | None) -> dict[str, Any]:
        held = Held()
        evaluator = Evaluator(
            cast(LLMClient, None), held, Accuracy(("a", "b")), data, batch_size=8, concurrency=8
        )

        async def scoring() -> dict[str, Any]:
            landing = asyncio.create_task(held.land())
            try:
                return await evaluator.evaluate(prompts, {}, save, bars, RowTally.empty(data.texts))
            finally:
                landing.cancel()

        return asyncio.run(asyncio.wait_for(scoring(), timeout=60))

    full = {p: score.fitness for p, score in run(None).items()}
    monkeypatch.setattr(phase_module, "Wakeup", Counted)
    bars: dict[str, Hurdle] = {
        p: Seats(4, (0.75, 0.75, 0.7), frozenset(prompts[:k])) for k, p in enumerate(prompts)
    }
    scores = run(bars)
    assert waits[True] > 0  # workers did wait once nothing more could join
    pruned = {p for p, score in scores.items() if score.pruned}
    assert pruned and pruned != set(prompts)
    for p in prompts:
        rivals = {q: f for q, f in full.items() if q != p}
        if p in pruned:
            assert full[p] <= scores[p].fitness and not bars[p].clears(full[p], rivals)
        else:
            assert scores[p].fitness == full[p]
