"""The local model's thread count follows the measured pace: the faster count runs, the other
is tried again less and less often while it keeps losing, and a change of load is followed."""

from __future__ import annotations

import itertools

from evoprompt.llm.thread_pace import FIRST_GAP, MOST_GAP, ThreadPace


def drive(pace: ThreadPace, cost: dict[int, float], decodes: int) -> list[int]:
    """Run ``decodes`` decodes of 24 units, each count taking ``cost`` seconds per unit."""
    picks = []
    for _ in range(decodes):
        threads = pace.pick()
        pace.record(threads, cost[threads] * 24, 24)
        picks.append(threads)
    return picks


def test_each_count_is_timed_then_the_faster_runs() -> None:
    pace = ThreadPace([1, 2])
    picks = drive(pace, {1: 0.01, 2: 0.1}, FIRST_GAP)
    assert picks[:2] == [2, 1]  # every core first, then one
    assert set(picks[2:]) == {1}
    assert pace.best() == 1


def test_the_slower_count_is_tried_less_often_each_time_it_loses() -> None:
    pace = ThreadPace([1, 2])
    picks = drive(pace, {1: 0.01, 2: 0.1}, 3000)
    tries = [i for i, n in enumerate(picks) if n == 2][1:]  # after the first timing
    gaps = [b - a for a, b in itertools.pairwise(tries)]
    assert gaps == sorted(gaps)
    assert gaps[0] <= 2 * FIRST_GAP
    assert gaps[-1] == MOST_GAP  # never given up: a change of load is still seen
    assert len(tries) < 25


def test_a_change_of_load_moves_the_choice_both_ways() -> None:
    pace = ThreadPace([1, 2])
    drive(pace, {1: 0.02, 2: 0.01}, 50)  # free cores: two threads win
    assert pace.best() == 2
    drive(pace, {1: 0.02, 2: 0.2}, 10)  # the cores get busy: two threads now stall
    assert pace.best() == 1
    picks = drive(pace, {1: 0.02, 2: 0.01}, 2 * MOST_GAP + 1)  # free again
    assert pace.best() == 2
    assert picks[-FIRST_GAP:] == [2] * FIRST_GAP


def test_a_single_count_is_never_changed() -> None:
    pace = ThreadPace([3])
    assert set(drive(pace, {3: 0.5}, 100)) == {3}
