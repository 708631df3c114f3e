"""A newcomer at a real terminal (a pty): Ctrl+C, paste the printed resume command into a fresh
shell, answer the resume question, Ctrl+C twice; and what the screen shows meanwhile."""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from evoprompt.testing.server import FakeLLMServer, Faults
from tests.conftest import ROOT
from tests.e2e.terminal import CTRL_C, Terminal

pytestmark = pytest.mark.slow

ARGS = "--population-size 4 --max-generations 1 --dev-size 32 --batch-size 4 --concurrency 2"
BAR = re.compile(r"\d+/\d+ \[|req/s")  # any tqdm bar frame


@pytest.fixture
def shell(tmp_path: Path) -> Iterator[tuple[Terminal, str]]:
    """A fresh shell in the repository, as a new user has it: no virtual environment on PATH,
    and an endpoint to talk to; plus the command that starts a run."""
    with FakeLLMServer(faults=Faults(latency=0.05)) as server:
        venv_bin = str(Path(sys.executable).parent)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "EVOPROMPT_"))}
        env.pop("VIRTUAL_ENV", None)
        env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p != venv_bin)
        env.update(OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=server.url, TERM="xterm", PS1="$ ")
        terminal = Terminal(ROOT, env)
        python = os.path.relpath(sys.executable, ROOT)
        try:
            yield terminal, f"{python} main.py {ARGS} --result-dir {tmp_path}"
        finally:
            terminal.close()


def run(terminal: Terminal, command: str) -> int:
    """Type ``command``; return where its output starts."""
    start = len(terminal.output)
    terminal.type(command + "; echo EXIT=$?\n")
    return start


def exit_code(terminal: Terminal, since: int, timeout: float = 180) -> int:
    return int(terminal.wait_for(r"EXIT=(\d+)", timeout, since).group(1))


def interrupt_while_scoring(terminal: Terminal, since: int) -> None:
    terminal.wait_for(r"scoring \d+ prompts:\s+\d+%", 120, since)
    terminal.read(1.0)
    terminal.type(CTRL_C)


def test_ctrl_c_then_the_printed_command_pasted_in_a_fresh_shell_finishes(
    shell: tuple[Terminal, str],
) -> None:
    terminal, command = shell
    start = run(terminal, command)
    interrupt_while_scoring(terminal, start)
    assert exit_code(terminal, start) == 130
    screen = terminal.text(start)
    stop = screen.index("Interrupted by Ctrl+C")
    assert not BAR.search(screen[stop:]), screen[stop:]  # no bar redrawn after the stop line
    assert "Traceback" not in screen
    printed = re.search(r"Resume with: (.+?)\r?\n", screen)
    assert printed is not None, screen
    # The pasted command runs in a fresh shell with no virtual environment active.
    again = run(terminal, printed.group(1).strip())
    assert exit_code(terminal, again) == 0, terminal.text(again)
    assert re.search(r"Experiment \S+: finished", terminal.text(again))


def test_the_resume_question_answered_yes_resumes(shell: tuple[Terminal, str]) -> None:
    terminal, command = shell
    start = run(terminal, command)
    interrupt_while_scoring(terminal, start)
    assert exit_code(terminal, start) == 130
    again = run(terminal, command)
    terminal.wait_for(r"Resume from checkpoint\? \[y/n\] ", 60, again)
    terminal.type("y\n")
    assert exit_code(terminal, again) == 0, terminal.text(again)
    screen = terminal.text(again)
    assert "Resuming" in screen and re.search(r"Experiment \S+: finished", screen)


def test_ctrl_c_twice_stops_at_once(shell: tuple[Terminal, str]) -> None:
    terminal, command = shell
    start = run(terminal, command)
    interrupt_while_scoring(terminal, start)
    terminal.type(CTRL_C)
    pressed = time.monotonic()
    code = exit_code(terminal, start, timeout=30)
    assert time.monotonic() - pressed < 3.0  # the spec's promise; it takes well under 1 s
    assert code == 130
    screen = terminal.text(start)
    assert "Traceback" not in screen
    stop = screen.index("Interrupted by Ctrl+C")
    assert not BAR.search(screen[stop:]), screen[stop:]
