"""Where a save happened, and the one mapping from that stage to the status users see."""

from __future__ import annotations

from dataclasses import dataclass

_STOP_STATUS = {
    "finished": "finished",
    "interrupted": "interrupted",
    "budget_exhausted": "interrupted",
}


@dataclass(frozen=True)
class Stage:
    """Where a save happened (``metadata.stage``): mid-generation, in a test phase, or why the
    run stopped.

    The one mapping from a stage to the status users see lives here: in-progress stages are
    ``running``; ``finished`` and ``interrupted`` are themselves; a budget stop is
    ``interrupted`` (resumable with a larger budget); anything else is ``error``.
    """

    text: str

    @classmethod
    def batch(cls, generation: int, batch_idx: int) -> Stage:
        return cls(f"generation_{generation}_batch_{batch_idx}")

    @classmethod
    def complete(cls, generation: int) -> Stage:
        return cls(f"generation_{generation}_complete")

    @classmethod
    def test_batch(cls, phase: int, batch_idx: int) -> Stage:
        """A batch of held-out test phase ``phase`` (1, 2, ... over the experiment's life)."""
        return cls(f"test_{phase}_batch_{batch_idx}")

    @classmethod
    def test_complete(cls, phase: int) -> Stage:
        return cls(f"test_{phase}_complete")

    @property
    def in_progress(self) -> bool:
        return self.text.startswith(("generation_", "test_"))

    @property
    def status(self) -> str:
        return "running" if self.in_progress else _STOP_STATUS.get(self.text, "error")

    def __str__(self) -> str:
        return self.text


FINISHED = Stage("finished")
INTERRUPTED = Stage("interrupted")
BUDGET_EXHAUSTED = Stage("budget_exhausted")
ERROR = Stage("error")
