"""The manual prompts of the built-in public tasks, and where a run's seed prompts come from.

The public tasks (SST-2, Subj, AG News) ship the paper's hand-written prompts beside their
rows (``public/TASK.prompts.txt``, see ``public/README.md``). A run on one of them starts from
those prompts unless the config names its own; ``seed_prompts_from`` names a source
explicitly: ``manual`` (the task's prompts) or a text file, one prompt per line.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

PUBLIC = ("sst2", "subj", "agnews")
MANUAL = "manual"


class PromptsError(ValueError):
    """The seed prompts cannot be read: the message says what to fix (a ConfigError once
    :func:`evoprompt.config.resolve` has it)."""


def manual_prompts(dataset: str) -> list[str] | None:
    """The paper's manual prompts of a built-in public task, in file order; None otherwise."""
    if dataset not in PUBLIC:
        return None
    path = resources.files(__package__) / "public" / f"{dataset}.prompts.txt"
    return _lines(path.read_text(encoding="utf-8"))


def _lines(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def read_prompts(source: str, dataset: str) -> list[str]:
    """The prompts ``seed_prompts_from`` names; PromptsError (one line) when there are none."""
    if source == MANUAL:
        found = manual_prompts(dataset)
        if found is None:
            raise PromptsError(
                f"seed_prompts_from 'manual': dataset {dataset} has no manual prompts (the "
                f"built-in public tasks have: {', '.join(PUBLIC)}); give a prompts file instead"
            )
        return found
    try:
        found = _lines(Path(source).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise PromptsError(
            f"seed_prompts_from {source}: cannot read it ({reason}); give 'manual' or a text "
            "file with one prompt per line"
        ) from None
    if not found:
        raise PromptsError(f"seed_prompts_from {source}: the file holds no prompt (one per line)")
    return found


def seed_prompts(
    dataset: str, base: dict[str, Any] | None, layers: Sequence[dict[str, Any]]
) -> list[str] | None:
    """The seed prompts asked for, or None to keep the resolved ``seed_prompts``.

    The highest of ``layers`` (lowest first) that sets either key decides; one that sets both
    is an error. ``base``, a stored config, already holds its prompts: its
    ``seed_prompts_from`` is never read again. With neither key anywhere, a public task starts
    from its manual prompts.
    """
    for layer in reversed(layers):
        source = layer.get("seed_prompts_from")
        if "seed_prompts" in layer and source:
            raise PromptsError("set seed_prompts or seed_prompts_from, not both")
        if "seed_prompts" in layer:
            return None
        if source:
            return read_prompts(str(source), dataset)
    if base is not None and "seed_prompts" in base:
        return None
    return manual_prompts(dataset)
