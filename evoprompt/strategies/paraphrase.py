"""The paraphrase operators that top up the seed prompts: owned by no algorithm.

``paraphrase`` asks for a rewording of one prompt. When its answers repeat (a model that ignores
the sampling seed answers the same request the same way), ``paraphrase_again`` re-asks with the
prompts already found listed, so the request itself differs and asks for something new.
"""

from __future__ import annotations

from collections.abc import Sequence

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

_AGAIN_CHAT = """\
Generate a variation of the following instruction that keeps its meaning and is worded unlike every instruction already found, bracketed with <prompt> and </prompt>.
Already found:
- Translate the sentence into German.
- Render this sentence in German.
Instruction: Translate the sentence into German.
Variation: <prompt>Give the German version of this sentence.</prompt>

Generate a variation of the following instruction that keeps its meaning and is worded unlike every instruction already found, bracketed with <prompt> and </prompt>.
Already found:
{found}
Instruction: {prompt}
Variation:"""

_AGAIN_COMPLETION = """\
Each instruction is rewritten with different words and the same meaning, unlike every rewrite already found.

Already found:
- Summarize the article in one sentence.
- Give a one-sentence summary of the article.
Instruction: Summarize the article in one sentence.
Rewritten: <prompt>State the gist of the article in a single sentence.</prompt>

Already found:
{found}
Instruction: {prompt}
Rewritten: <prompt>"""

PARAPHRASE = Operator("paraphrase", frozenset({"prompt"}), _CHAT, _COMPLETION)
PARAPHRASE_AGAIN = Operator(
    "paraphrase_again", frozenset({"prompt", "found"}), _AGAIN_CHAT, _AGAIN_COMPLETION
)


def paraphrase(prompt: str, site: str) -> Offspring:
    """The plan for one rewording of ``prompt``."""
    return Offspring(PARAPHRASE.name, {"prompt": prompt}, (prompt,), site)


def paraphrase_again(prompt: str, found: Sequence[str], site: str) -> Offspring:
    """The plan for a rewording of ``prompt`` unlike each of ``found`` (a re-ask)."""
    listed = "\n".join(f"- {text}" for text in found)
    return Offspring(PARAPHRASE_AGAIN.name, {"prompt": prompt, "found": listed}, (prompt,), site)
