"""Commands the program prints for the user to run next (kept import-light for ``inspect``)."""

from __future__ import annotations

from evoprompt.config import Config


def resume_command(exp_id: str, config: Config) -> str:
    extra = f" --result-dir {config.result_dir}" if config.result_dir != "result" else ""
    return f"python main.py --experiment-id {exp_id}{extra}"
