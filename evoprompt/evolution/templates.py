"""Operator templates: the text that asks an LLM to cross over, mutate or paraphrase prompts.

Two families. ``chat`` templates follow EvoPrompt's step-by-step instructions, each with one
worked example from a *different* task (so the model learns the format, not the answer).
``completion`` templates are few-shot patterns a base model continues; they end with an open
``<prompt>`` tag and the call stops at ``</prompt>``. A user may replace the chat family with a
TOML file holding ``ga``, ``de`` and ``paraphrase`` strings using the same placeholders.
"""

from __future__ import annotations

import difflib
import string
from dataclasses import dataclass
from pathlib import Path

from evoprompt.config import ConfigError, tomllib

_GA_CHAT = """\
Please follow the instruction step-by-step to generate a better prompt.
1. Cross over the following prompts and generate a new prompt:
Prompt 1: Rewrite the input text into simpler text.
Prompt 2: Rewrite my complex sentence in simpler terms, but keep the meaning.
2. Mutate the prompt generated in Step 1 and generate a final prompt bracketed with <prompt> and </prompt>.

1. Crossover prompt: Rewrite the complex text into simpler text while keeping its meaning.
2. <prompt>Transform the provided text into simpler language, keeping its essential meaning.</prompt>

Please follow the instruction step-by-step to generate a better prompt.
1. Cross over the following prompts and generate a new prompt:
Prompt 1: {prompt1}
Prompt 2: {prompt2}
2. Mutate the prompt generated in Step 1 and generate a final prompt bracketed with <prompt> and </prompt>.
"""

_DE_CHAT = """\
Please follow the instruction step-by-step to generate a better prompt.
1. Look at the parts in which Prompt 1 and Prompt 2 differ:
Prompt 1: Summarize the article in one sentence.
Prompt 2: Write a short headline for the news story.
Different parts: "Summarize the article in one sentence" vs "Write a short headline for the news story"
2. Randomly mutate the different parts.
3. Combine the mutated parts with Prompt 3, replacing some of its words, to make a new prompt.
Prompt 3: Give a one-sentence summary of the main event in the article.
4. Cross over the prompt from Step 3 with the basic prompt below and write the final prompt bracketed with <prompt> and </prompt>.
Basic Prompt: Summarize the text.

1. Different parts: "Summarize ... in one sentence" vs "Write a short headline".
2. Mutated parts: "Condense ... into one line", "craft a brief title".
3. New prompt: Condense the main event of the article into one brief line.
4. <prompt>Condense the text into one brief sentence that states its main event.</prompt>

Please follow the instruction step-by-step to generate a better prompt.
1. Look at the parts in which Prompt 1 and Prompt 2 differ:
Prompt 1: {donor1}
Prompt 2: {donor2}
Different parts: {differences}
2. Randomly mutate the different parts.
3. Combine the mutated parts with Prompt 3, replacing some of its words, to make a new prompt.
Prompt 3: {best}
4. Cross over the prompt from Step 3 with the basic prompt below and write the final prompt bracketed with <prompt> and </prompt>.
Basic Prompt: {base}
"""

_PARAPHRASE_CHAT = """\
Generate a variation of the following instruction that keeps its meaning, bracketed with <prompt> and </prompt>.
Instruction: Translate the sentence into German.
Variation: <prompt>Render this sentence in German.</prompt>

Generate a variation of the following instruction that keeps its meaning, bracketed with <prompt> and </prompt>.
Instruction: {prompt}
Variation:"""

_GA_COMPLETION = """\
Two instructions are combined into one better instruction.

Instruction A: Summarize the article in one sentence.
Instruction B: Write a short headline that captures the main point of the story.
Combined: <prompt>Write one short sentence that captures the main point of the article.</prompt>

Instruction A: Translate the sentence into French.
Instruction B: Give the French version of the text and keep its tone.
Combined: <prompt>Translate the text into French, keeping its original tone.</prompt>

Instruction A: {prompt1}
Instruction B: {prompt2}
Combined: <prompt>"""

_DE_COMPLETION = """\
An instruction is improved by borrowing the words in which two other instructions differ.

Differences: "one sentence" vs "a short headline"
Best: Summarize the main event of the article.
Current: Summarize the text.
Improved: <prompt>Summarize the main event of the text in one short sentence.</prompt>

Differences: "formal" vs "polite and clear"
Best: Translate the email into Spanish.
Current: Translate into Spanish.
Improved: <prompt>Translate the email into clear, polite Spanish.</prompt>

Differences: {differences}
Best: {best}
Current: {base}
Improved: <prompt>"""

_PARAPHRASE_COMPLETION = """\
Each instruction is rewritten with different words and the same meaning.

Instruction: Summarize the article in one sentence.
Rewritten: <prompt>Give a one-sentence summary of the article.</prompt>

Instruction: Translate the text into French.
Rewritten: <prompt>Render this text in French.</prompt>

Instruction: {prompt}
Rewritten: <prompt>"""

_PLACEHOLDERS = {
    "ga": {"prompt1", "prompt2"},
    "de": {"donor1", "donor2", "differences", "best", "base"},
    "paraphrase": {"prompt"},
}


@dataclass(frozen=True)
class Templates:
    ga: str
    de: str
    paraphrase: str
    completion: bool = False

    def render(self, operator: str, **values: str) -> str:
        return getattr(self, operator).format(**values)


def load_templates(name: str, *, completion: bool) -> Templates:
    """The built-in family for the backend's mode, or the chat templates in a TOML file."""
    if name == "evoprompt":
        if completion:
            return Templates(_GA_COMPLETION, _DE_COMPLETION, _PARAPHRASE_COMPLETION, True)
        return Templates(_GA_CHAT, _DE_CHAT, _PARAPHRASE_CHAT)
    path = Path(name)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"templates file {path} not found (or use templates = 'evoprompt')"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"templates file {path} is not valid TOML: {exc}") from None
    for operator, wanted in _PLACEHOLDERS.items():
        text = raw.get(operator)
        if not isinstance(text, str):
            raise ConfigError(f"templates file {path} needs a string '{operator}'")
        try:
            # "{}" parses as the field "" (positional): counted, so it is refused below.
            used = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
        except ValueError as exc:  # unbalanced braces; write literal ones as {{ and }}
            raise ConfigError(f"template '{operator}' in {path}: {exc}") from None
        if used != wanted:
            raise ConfigError(
                f"template '{operator}' in {path} must use exactly the placeholders "
                f"{', '.join(sorted('{' + w + '}' for w in wanted))}"
            )
    return Templates(raw["ga"], raw["de"], raw["paraphrase"], completion)


def differing_parts(a: str, b: str) -> str:
    """The word runs in which two prompts differ, shown to the DE operator."""
    left, right = a.split(), b.split()
    pairs = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=left, b=right).get_opcodes():
        if tag != "equal":
            pairs.append(f'"{" ".join(left[i1:i2])}" vs "{" ".join(right[j1:j2])}"')
    return "; ".join(pairs) if pairs else "none (the prompts are identical)"
