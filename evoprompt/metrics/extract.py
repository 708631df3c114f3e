"""Answer extraction: the part of a model's reply that a reference metric compares.

Reasoning prompts make models think aloud before answering, so the whole reply is rarely the
answer. ``answer_pattern`` (a regex) names the answer: its group 1 (or the whole match when it
has no group), the last match winning, since replies restate the question's figures before
concluding. Without a pattern, metrics that want an answer rather than a text use the default
rule: the last ``\\boxed{...}``, else the text after the last "answer is" / "Answer:" up to the
end of its sentence, else the whole reply.
"""

from __future__ import annotations

import re

_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
_ANSWER_IS = re.compile(r"answer(?:\s+is|\s*:)[ \t]*:?", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")


def compile_pattern(pattern: str) -> re.Pattern[str] | None:
    """The compiled ``answer_pattern`` (None for ""; config validation checked that it compiles)."""
    return re.compile(pattern, re.DOTALL) if pattern else None


def by_pattern(reply: str, pattern: re.Pattern[str]) -> str:
    """Group 1 (or the whole match) of the last match; "" when nothing matches."""
    matches = list(pattern.finditer(reply))
    if not matches:
        return ""
    last = matches[-1]
    return ((last.group(1) if pattern.groups else last.group(0)) or "").strip()


def by_default(reply: str) -> str:
    """The last boxed answer, else the sentence after the last "answer is", else the reply."""
    boxed = _BOXED.findall(reply)
    if boxed:
        return str(boxed[-1]).strip()
    said = list(_ANSWER_IS.finditer(reply))
    if said:
        line = reply[said[-1].end() :].split("\n", 1)[0].strip()
        end = _SENTENCE_END.search(line)
        answer = line[: end.start()] if end else line
        if answer.strip():
            return answer.strip()
    return reply.strip()


def extract(reply: str, pattern: re.Pattern[str] | None, default: bool) -> str:
    """What a metric compares: by ``pattern`` when given, else the default rule or the reply."""
    if pattern is not None:
        return by_pattern(reply, pattern)
    return by_default(reply) if default else reply
