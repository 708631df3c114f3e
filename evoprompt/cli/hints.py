"""Commands the program prints for the user to run next (kept import-light for ``inspect``).

Every printed command must work pasted into a fresh shell in the same folder, where no virtual
environment is active: so it names the interpreter that is running (``.venv/bin/python``)
unless that is a plain ``python`` found on PATH.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

from evoprompt.checkpoint.layout import Layout
from evoprompt.config import Config


def _short(path: Path) -> str:
    """``path`` relative to the working folder when it is inside it (still a path: has a /)."""
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def program() -> str:
    """How to invoke this program again: ``<interpreter> main.py`` (or ``-m evoprompt``)."""
    exe = Path(sys.executable)
    found = shutil.which("python")
    in_venv = sys.prefix != sys.base_prefix
    same = found is not None and os.path.realpath(found) == os.path.realpath(exe)
    python = "python" if same and not in_venv else shlex.quote(_short(exe))
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if script is not None and script.name == "main.py" and script.is_file():
        return f"{python} {shlex.quote(_short(script))}"
    return f"{python} -m evoprompt"


def _command(config: Config, *words: str) -> str:
    """Quoted: an id or folder with spaces or shell metacharacters stays one argument."""
    where = ["--result-dir", config.result_dir] if config.result_dir != "result" else []
    return f"{program()} {shlex.join([*words, *where])}"


def resume_command(exp_id: str, config: Config) -> str:
    return _command(config, "--experiment-id", exp_id)


def _listed(steps: list[tuple[str, str]]) -> list[str]:
    """``Next:`` and each step's description above its command (a trailing ``# comment``
    would be taken as arguments by zsh), so every command can be pasted as printed."""
    return ["Next:"] + [
        line for text, command in steps for line in (f"  {text}:", f"    {command}")
    ]


def next_steps(exp_dir: Path, config: Config, tested: bool) -> list[str]:
    """What to look at once a run has finished."""
    exp_id = exp_dir.name
    steps = [
        ("the HTML report: fitness plot, lineage, every prompt, the verdict",
         _command(config, "report", exp_id)),
    ]  # fmt: skip
    if not tested:
        steps.append(
            ("score the finalists on held-out rows (none were tested)",
             _command(config, "test", exp_id))
        )  # fmt: skip
    kept = Layout(exp_dir).snapshot_files()
    if kept:
        other = "de" if config.algorithm == "ga" else "ga"
        at = ["--at-generation", str(kept[0][0]), "--algorithm", other]
        steps.append(
            (f"the same start bred by {other.upper()} (a fork reuses every paid answer)",
             _command(config, "fork", exp_id, *at))
        )  # fmt: skip
    return _listed(steps)


def sweep_next_steps(sweep_id: str, config: Config) -> list[str]:
    """What to look at once a sweep has finished."""
    return _listed(
        [
            ("the sweep report: the aggregate table, the score per grid point, every cell",
             _command(config, "sweep-report", sweep_id)),
            ("each cell's figures and verdict", _command(config, "status", sweep_id)),
        ]
    )  # fmt: skip


def retest_next_steps(exp_id: str, config: Config) -> list[str]:
    """What to look at once ``main.py test`` has recorded a verdict."""
    return _listed([("the HTML report with this verdict", _command(config, "report", exp_id))])
