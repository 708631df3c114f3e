"""The console: notices print above the bar, never into it; the bar says what it counts."""

from __future__ import annotations

import io

from evoprompt.display import Console


class Screen(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_notices_never_break_into_the_bar_and_retries_say_what_they_count() -> None:
    screen = Screen()
    console = Console(quiet_s=0, stream=screen)
    console.phase("gen 1: scoring", 10)
    console.advance(3)
    console.retry(1, 3, "HTTP 503", 0.5)
    console.retry(1, 3, "HTTP 503", 0.5)  # a second call's first retry
    console.line("error: something")
    console.close()
    console.line("Interrupted by Ctrl+C")
    text = screen.getvalue()
    # each notice starts on a line of its own (the bar is cleared before, redrawn after)
    for notice in ("API call failed (attempt 1/3): HTTP 503", "error: something"):
        before = text[: text.index(notice)]
        assert before.endswith(("\r", "\n")), repr(before[-40:])
    assert "retries=2 (all calls)" in text  # two calls' retries; each notice counts its call's
    after = text[text.index("Interrupted by Ctrl+C") :]
    assert "3/10" not in after  # nothing redrawn after the last words
