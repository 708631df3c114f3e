"""Child prompt extraction from an operator's reply."""

from __future__ import annotations

import pytest

from evoprompt.evolution.extract import MAX_CHARS, extract_prompt


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("<prompt>Classify the text.</prompt>", "Classify the text."),
        ("1. x\n2. <prompt>first</prompt> then <prompt>second</prompt> done", "second"),
        ("<prompt>a <prompt>b</prompt>", "b"),
        ("<prompt>a</prompt> <prompt>b", "a"),
        ("<prompt>\n  Read   the\tinput\n carefully.  </prompt>", "Read the input carefully."),
        ("Sure! <prompt>Decide the label.</prompt>\nHope this helps.", "Decide the label."),
    ],
)
def test_last_usable_pair_wins(reply: str, expected: str) -> None:
    assert extract_prompt(reply) == expected


@pytest.mark.parametrize(
    "reply",
    [
        "no tags at all",
        "<prompt>never closed",
        "never opened</prompt>",
        "</prompt>backwards<prompt>",
        "<prompt></prompt>",
        "<prompt>   \n\t </prompt>",
        "",
    ],
)
def test_unusable_replies_give_none(reply: str) -> None:
    assert extract_prompt(reply) is None


def test_length_limit() -> None:
    assert extract_prompt(f"<prompt>{'x' * MAX_CHARS}</prompt>") == "x" * MAX_CHARS
    assert extract_prompt(f"<prompt>{'x' * (MAX_CHARS + 1)}</prompt>") is None
    # The limit applies after whitespace is collapsed.
    padded = "word" + " " * (MAX_CHARS * 2) + "end"
    assert extract_prompt(f"<prompt>{padded}</prompt>") == "word end"
