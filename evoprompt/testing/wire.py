"""The OpenAI-compatible shapes the test endpoint reads and writes: a chat request's text,
the choices of a reply, and the 200 body with the tokens it bills (about four characters a
token). What the reply says is :mod:`evoprompt.testing.answers`' business."""

from __future__ import annotations

import json
from typing import Any


def chat_content(body: dict[str, Any]) -> str:
    """A chat request's messages as one text, the way the answers below read it."""
    return "\n".join(m.get("content", "") for m in body.get("messages", []))


def usage(body: dict[str, Any], completion_chars: int) -> dict[str, int]:
    """Tokens billed for an answered request: about four characters a token."""
    billed = {
        "prompt_tokens": len(json.dumps(body)) // 4 + 1,
        "completion_tokens": completion_chars // 4 + 1,
    }
    billed["total_tokens"] = billed["prompt_tokens"] + billed["completion_tokens"]
    return billed


def message_choices(text: str) -> list[dict[str, Any]]:
    """A chat reply's choices."""
    message = {"role": "assistant", "content": text}
    return [{"index": 0, "message": message, "finish_reason": "stop"}]


def text_choices(text: str) -> list[dict[str, Any]]:
    """A plain completion's choices."""
    return [{"index": 0, "text": text, "finish_reason": "stop"}]


def completion(
    body: dict[str, Any], choices: list[dict[str, Any]], completion_chars: int
) -> dict[str, Any]:
    """The 200 reply to ``body``, billed for its size and ``completion_chars``."""
    return {
        "id": "fake",
        "object": "chat.completion",
        "model": body.get("model", ""),
        "choices": choices,
        "usage": usage(body, completion_chars),
    }
