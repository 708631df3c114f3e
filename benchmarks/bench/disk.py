"""Measurement 6: bytes on disk (journal, checkpoints/) per 1,000 answered requests."""

from __future__ import annotations

from pathlib import Path

from .workload import Run


def size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return 0


def disk_per_1000(run: Run) -> dict[str, float]:
    journal = size_of(run.exp_dir / "journal.sqlite") + size_of(run.exp_dir / "journal.sqlite-wal")
    checkpoints = size_of(run.exp_dir / "checkpoints")
    per = 1000 / max(run.requests, 1)
    return {
        "requests": run.requests,
        "journal_bytes": journal,
        "checkpoints_bytes": checkpoints,
        "journal_per_1000": journal * per,
        "checkpoints_per_1000": checkpoints * per,
    }
