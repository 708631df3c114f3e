"""Pull the child prompt out of an operator's reply."""

from __future__ import annotations

OPEN, CLOSE = "<prompt>", "</prompt>"
MAX_CHARS = 2000


def extract_prompt(reply: str) -> str | None:
    """The text of the last ``<prompt>...</prompt>`` pair, or None if there is no usable one.

    The last pair, because operators show the worked example's tags (and often think aloud)
    before the final answer. Unusable: no pair, empty, or absurdly long.
    """
    end = reply.rfind(CLOSE)
    if end < 0:
        return None
    start = reply.rfind(OPEN, 0, end)
    if start < 0:
        return None
    child = " ".join(reply[start + len(OPEN) : end].split())
    if not child or len(child) > MAX_CHARS:
        return None
    return child
