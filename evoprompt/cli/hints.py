"""Commands the program prints for the user to run next (kept import-light for ``inspect``)."""

from __future__ import annotations

import shlex

from evoprompt.config import Config


def resume_command(exp_id: str, config: Config) -> str:
    """Quoted: an id or folder with spaces or shell metacharacters stays one argument."""
    words = ["python", "main.py", "--experiment-id", exp_id]
    if config.result_dir != "result":
        words += ["--result-dir", config.result_dir]
    return shlex.join(words)
