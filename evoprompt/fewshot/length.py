"""The price of a prompt's length: its tokens, their cost per 1,000 uses, and the length
penalty selection runs on (CAPO's: score - L * tokens / mean tokens of the seed prompts).

Tokens are estimated from the rendered text (about four characters a token, as the limiter and
the bill estimate), not read from an endpoint's usage: a child's penalty must be known before
its first row is asked, because exact pruning sets its bar on the penalised fitness, and it
must be the same on a resume, before any call is replayed.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from evoprompt.fewshot.prompt import render

CHARS_PER_TOKEN = 4


@functools.lru_cache(maxsize=4096)  # asked on every answer while pruning
def prompt_tokens(prompt: str) -> int:
    """Estimated tokens of the instruction and its exemplars as the model reads them."""
    return len(render(prompt)) // CHARS_PER_TOKEN + 1


def cost_per_1000(tokens: int, price: float) -> float:
    """USD for 1,000 uses of a prompt of ``tokens`` at ``price`` USD per million prompt
    tokens (the sample's own tokens and the reply are the same whichever prompt is used)."""
    return round(tokens * price / 1000, 6)


@dataclass(frozen=True)
class LengthPenalty:
    """``weight`` L and the mean tokens of the seed prompts (generation 0, exemplars
    included), the scale that makes L comparable across tasks."""

    weight: float = 0.0
    seed_tokens: float = 1.0

    @classmethod
    def of(cls, weight: float, seeds: Iterable[str]) -> LengthPenalty:
        counts = [prompt_tokens(p) for p in seeds]
        return cls(weight, sum(counts) / len(counts) if counts else 1.0)

    def __call__(self, prompt: str) -> float:
        """What ``prompt``'s length takes off its score (0.0 without a penalty)."""
        if not self.weight:
            return 0.0
        return self.weight * prompt_tokens(prompt) / self.seed_tokens

    def fitness(self, score: float, prompt: str) -> float:
        """The fitness selection (and every pruning bar) runs on."""
        return score - self(prompt) if self.weight else score


def price_list(finalists: Iterable[tuple[str, str]], price: float | None) -> list[dict[str, Any]]:
    """Per (role, prompt): its tokens and what 1,000 uses of it cost at ``price`` USD per
    million prompt tokens (None: no price configured for the task model)."""
    return [
        {
            "role": role,
            "prompt": prompt,
            "tokens": prompt_tokens(prompt),
            "cost_per_1000_uses": None
            if price is None
            else cost_per_1000(prompt_tokens(prompt), price),
        }
        for role, prompt in finalists
    ]
