"""How different a population's prompts are from each other: one number per generation.

The mean over every pair of prompts of the Jaccard distance of their word sets (0: all the same
words, 1: no word shared). Cheap, deterministic and independent of any model, so a curve of it
shows a population collapsing onto one wording, which the fitness curves alone do not.
"""

from __future__ import annotations

from itertools import combinations


def diversity(texts: list[str]) -> float:
    """Mean pairwise word-set Jaccard distance of ``texts`` (0.0 for fewer than two)."""
    words = [frozenset(text.lower().split()) for text in texts]
    pairs = list(combinations(words, 2))
    if not pairs:
        return 0.0
    total = sum(1.0 - len(a & b) / len(a | b) if a | b else 0.0 for a, b in pairs)
    return round(total / len(pairs), 6)
