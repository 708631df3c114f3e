"""The console: notices print above the bar, never into it; the bar says what it counts."""

from __future__ import annotations

import io
import time

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


def _wait_for_lines(screen: io.StringIO, needle: str, count: int) -> list[str]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        lines = [line for line in screen.getvalue().splitlines() if needle in line]
        if len(lines) >= count:
            return lines
        time.sleep(0.01)
    raise AssertionError(f"fewer than {count} lines with {needle!r}: {screen.getvalue()!r}")


def test_off_a_terminal_progress_is_plain_lines_at_a_steady_pace_even_when_nothing_lands() -> None:
    screen = io.StringIO()  # not a terminal: no bar, no carriage returns
    console = Console(stream=screen, every_s=0.05)
    title = "test: scoring 2 prompts on 10 held-out rows"
    console.phase(title, 20)
    assert screen.getvalue() == f"{title}: started, 20 requests\n"
    console.advance(5)
    # no answer lands after these 5, yet the lines keep coming, each with done/total and ETA
    lines = _wait_for_lines(screen, "5/20 (25%)", 3)
    assert all("req/s" in line and "ETA" in line and "elapsed" in line for line in lines)
    console.close()
    console.line("Results: somewhere")
    text = screen.getvalue()
    assert "\r" not in text
    assert f"{title}: 5/20 in " in text
    time.sleep(0.2)  # a closed phase prints nothing more
    assert screen.getvalue() == text and text.endswith("Results: somewhere\n")
