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


def resume_command(exp_id: str, config: Config) -> str:
    """Quoted: an id or folder with spaces or shell metacharacters stays one argument."""
    words = ["--experiment-id", exp_id]
    if config.result_dir != "result":
        words += ["--result-dir", config.result_dir]
    return f"{program()} {shlex.join(words)}"
