"""A prompt with exemplars is still one string: its identity everywhere (journal keys, batch
files, the population) is the instruction plus its ordered exemplar rows.

The string is the instruction, a record separator (``\\x1e``) and the exemplars as JSON. The
separator is whitespace to ``str.split``, and every instruction (a seed, an operator's child)
is whitespace-normalized before it is used, so no instruction can contain one: a prompt
without it is a bare instruction, exactly as before few-shot existed (``--shots 0``).

Rendering is one text block for every backend mode (chat, completion, log-likelihood): the
instruction, then each exemplar as ``Input: ...`` / ``Answer: ...``, then the query in the same
form (see docs/few-shot.md for why a block and not chat turns).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evoprompt.data.loader import Dataset

SEPARATOR = "\x1e"


@dataclass(frozen=True)
class Exemplar:
    """One train row shown to the model: its input, its gold answer and, for a reasoning task
    whose data has one, the worked answer shown in place of the bare gold value."""

    text: str
    gold: str
    worked: str = ""

    @property
    def answer(self) -> str:
        return self.worked or self.gold


def exemplars(
    pool: Dataset | None, worked: Mapping[str, str] | None = None
) -> tuple[Exemplar, ...]:
    """The train pool's rows as exemplars, in the pool's (seeded) order, each with its worked
    answer where ``worked`` (text -> worked answer) has one."""
    if pool is None:
        return ()
    worked = worked or {}
    return tuple(
        Exemplar(text, gold, worked.get(text, "")) for text, gold in zip(pool.texts, pool.gold)
    )


def compose(instruction: str, exemplars: Sequence[Exemplar]) -> str:
    """The prompt string of ``instruction`` with ``exemplars`` in this order (the bare
    instruction when there are none)."""
    if not exemplars:
        return instruction
    rows = [[e.text, e.gold, e.worked] if e.worked else [e.text, e.gold] for e in exemplars]
    return instruction + SEPARATOR + json.dumps(rows, ensure_ascii=False)


def split(prompt: str) -> tuple[str, tuple[Exemplar, ...]]:
    """The instruction and the exemplars of a prompt string made by :func:`compose`."""
    instruction, marked, rows = prompt.partition(SEPARATOR)
    if not marked:
        return prompt, ()
    return instruction, tuple(Exemplar(*row) for row in json.loads(rows))


def instruction_of(prompt: str) -> str:
    return prompt.partition(SEPARATOR)[0]


def shown(exemplar: Exemplar) -> str:
    """One exemplar as the model sees it."""
    return f"Input: {exemplar.text}\nAnswer: {exemplar.answer}"


def render(prompt: str, hint: str = "") -> str:
    """What the model reads before the query: the instruction (and the metric's ``hint``),
    then the exemplars; a bare instruction renders exactly as it always has."""
    instruction, exemplars = split(prompt)
    head = f"{instruction}\n{hint}" if hint else instruction
    return "\n\n".join([head, *(shown(e) for e in exemplars)])


def brief(prompt: str) -> str:
    """One line for people: the instruction and how many exemplars it carries."""
    instruction, exemplars = split(prompt)
    if not exemplars:
        return instruction
    return f"{instruction} [+{len(exemplars)} exemplar{'s' if len(exemplars) > 1 else ''}]"


def readable(prompt: str) -> str:
    """The prompt for people: the instruction, then its exemplars numbered."""
    instruction, exemplars = split(prompt)
    lines = [instruction]
    lines += [f"[{i}] {e.text} -> {e.answer}" for i, e in enumerate(exemplars, 1)]
    return "\n".join(lines)
