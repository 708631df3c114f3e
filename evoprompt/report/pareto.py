"""Score against length: the Pareto front over every scored prompt, and its plot.

A prompt is on the front when no other prompt scores at least as well with at most as many
tokens, better on one of the two. A user who pays for every use often wants the cheapest
prompt within a point of the best rather than the best itself: the report names it.
Scores are the metric's (before any length penalty); pruned prompts, whose score is only a
bound, are left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from evoprompt.checkpoint.schema import PopulationRow
from evoprompt.fewshot.length import prompt_tokens
from evoprompt.report.plot import new_axes, png_bytes

WITHIN = 0.01  # "within a point of the best"


@dataclass(frozen=True)
class Point:
    prompt: str
    score: float
    tokens: int


def points(scored: Sequence[PopulationRow]) -> list[Point]:
    """Every fully scored prompt's score and tokens."""
    found = []
    for row in scored:
        if not row.pruned:
            score = row.analysis.get("score", row.fitness)
            found.append(Point(row.text, float(score), prompt_tokens(row.text)))
    return found


def dominated(p: Point, by: Point) -> bool:
    return (
        by.tokens <= p.tokens
        and by.score >= p.score
        and (by.tokens < p.tokens or by.score > p.score)
    )


def front(found: Sequence[Point]) -> list[Point]:
    """The prompts no other prompt dominates, fewest tokens first."""
    kept = [p for p in found if not any(dominated(p, q) for q in found)]
    return sorted(kept, key=lambda p: (p.tokens, -p.score, p.prompt))


def cheapest_near_best(found: Sequence[Point], margin: float = WITHIN) -> Point | None:
    """The prompt with the fewest tokens among those within ``margin`` of the best score."""
    if not found:
        return None
    best = max(p.score for p in found)
    return min((p for p in found if p.score >= best - margin), key=lambda p: (p.tokens, -p.score))


def front_png(found: Sequence[Point], title: str = "") -> bytes:
    """Every scored prompt (tokens, score), the front drawn as a step line (800x400 px)."""
    edge = front(found)
    figure, axes = new_axes()
    axes.scatter([p.tokens for p in found], [p.score for p in found], alpha=0.4, label="scored")
    axes.step(
        [p.tokens for p in edge],
        [p.score for p in edge],
        where="post",
        marker="o",
        color="C3",
        label="Pareto front",
    )
    axes.set_xlabel("prompt tokens (instruction + exemplars, estimated)")
    axes.set_ylabel("dev score")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    if title:
        axes.set_title(title)
    return png_bytes(figure)
