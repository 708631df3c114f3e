"""The paraphrase operator that tops up the seed prompts: owned by no algorithm."""

from __future__ import annotations

from evoprompt.strategies.base import Offspring, Operator

_CHAT = """\
Generate a variation of the following instruction that keeps its meaning, bracketed with <prompt> and </prompt>.
Instruction: Translate the sentence into German.
Variation: <prompt>Render this sentence in German.</prompt>

Generate a variation of the following instruction that keeps its meaning, bracketed with <prompt> and </prompt>.
Instruction: {prompt}
Variation:"""

_COMPLETION = """\
Each instruction is rewritten with different words and the same meaning.

Instruction: Summarize the article in one sentence.
Rewritten: <prompt>Give a one-sentence summary of the article.</prompt>

Instruction: Translate the text into French.
Rewritten: <prompt>Render this text in French.</prompt>

Instruction: {prompt}
Rewritten: <prompt>"""

PARAPHRASE = Operator("paraphrase", frozenset({"prompt"}), _CHAT, _COMPLETION)


def paraphrase(prompt: str, site: str) -> Offspring:
    """The plan for one rewording of ``prompt``."""
    return Offspring(PARAPHRASE.name, {"prompt": prompt}, (prompt,), site)
