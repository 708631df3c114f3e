"""The programmatic checkpoint and retry API of spec section 6, kept importable exactly so::

    from evoprompt.utils.checkpoint import (
        CheckpointManager, RetryManager, with_retry, ExperimentRecovery,
    )

A thin facade: files are written and read by :class:`evoprompt.checkpoint.store.CheckpointStore`
(atomic writes, checksums, latest -> backup -> history fallback, the allow-list unpickler).
The retry names live in :mod:`evoprompt.utils.retry` and are re-exported here. Nothing here
has a file format of its own.
"""

from __future__ import annotations

import contextlib
import json
import pickle
from pathlib import Path
from typing import Any

from evoprompt.checkpoint.safe_pickle import UnsafePickle, safe_loads
from evoprompt.checkpoint.schema import MANAGER_FORMAT, is_manager_payload
from evoprompt.checkpoint.state import ExperimentState
from evoprompt.checkpoint.store import CheckpointStore, Position
from evoprompt.utils.retry import RetryManager, is_transient, with_retry

__all__ = [
    "CheckpointManager",
    "ExperimentRecovery",
    "RetryManager",
    "is_transient",
    "with_retry",
]


def _best_fitness(population: Any, best_results: Any) -> float | None:
    """The figure shown as ``best_fitness`` in latest.json, if the caller's data has one."""
    if isinstance(best_results, dict):
        for key in ("best_fitness", "fitness"):
            value = best_results.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
    scores = []
    for item in population if isinstance(population, (list, tuple)) else ():
        value = item.get("fitness") if isinstance(item, dict) else getattr(item, "fitness", None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            scores.append(float(value))
    return max(scores) if scores else None


def _admissible(payload: dict[str, Any]) -> None:
    """Refuse, before anything is written, a state that state.pkl's unpickler would not load."""
    try:
        safe_loads(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
    except UnsafePickle as exc:
        raise TypeError(
            f"cannot checkpoint: {exc.name} is not allowed in state.pkl; keep population and "
            "best_results to builtins (dict, list, str, numbers), numpy arrays or "
            "evoprompt Individuals"
        ) from None
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        raise TypeError(f"cannot checkpoint: the state is not picklable ({exc})") from None


class CheckpointManager:
    """Save and load the checkpoints of one experiment folder.

    ``auto_save=False`` turns saving off (like ``--no-checkpoint``): ``save_checkpoint`` then
    writes nothing and returns None; loading still reads whatever is on disk.
    """

    def __init__(self, exp_dir: str | Path, auto_save: bool = True):
        self.exp_dir = Path(exp_dir)
        self.auto_save = auto_save
        self.store = CheckpointStore(self.exp_dir, enabled=auto_save)
        self._seq_synced = False

    def save_checkpoint(
        self,
        *,
        generation: int,
        batch_idx: int = 0,
        population: Any = None,
        best_results: Any = None,
        metadata: dict[str, Any] | None = None,
    ) -> int | None:
        """Write state.pkl, latest.json (old one kept as backup.json) and gen<N>_batch0.json.

        Returns the checkpoint's sequence number. Raises TypeError, with nothing written, when
        the state holds objects state.pkl may not contain or metadata is not JSON.
        """
        meta = dict(metadata or {})
        meta.setdefault("stage", f"generation_{generation}_batch_{batch_idx}")
        try:
            json.dumps(meta)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"cannot checkpoint: metadata must be JSON ({exc})") from None
        payload = {
            "format": MANAGER_FORMAT,
            "generation": int(generation),
            "batch_idx": int(batch_idx),
            "population": population,
            "best_results": best_results,
            "metadata": meta,
        }
        _admissible(payload)
        if not self.auto_save:
            return None
        if not self._seq_synced:
            # Continue the folder's sequence numbers rather than restart them at 1.
            # (a tampered state.pkl is refused here and replaced below).
            with contextlib.suppress(UnsafePickle):
                self.store.recover()
            self._seq_synced = True
        position = Position(
            generation=int(generation),
            batch_idx=int(batch_idx),
            metadata=meta,
            experiment_id=self.exp_dir.name,
            num_individuals=len(population) if isinstance(population, (list, tuple)) else 0,
            best_fitness=_best_fitness(population, best_results),
        )
        self.store.save_state(payload, position)
        return self.store.seq

    def load_full_state(self) -> dict[str, Any] | None:
        """The newest usable checkpoint, or None when the folder holds none.

        The descriptor is read from latest.json, else backup.json, else the newest valid
        history file (``source`` names it, ``notes`` say why others were skipped). State comes
        from state.pkl, which verifies its own checksum; ``full_state`` is False when it is
        unusable and only the descriptor's figures are known. A tampered state.pkl raises
        :class:`~evoprompt.checkpoint.safe_pickle.UnsafePickle`: it is never loaded nor ignored.
        """
        found = self.store.recover()
        self._seq_synced = True
        if found.cursor is None and found.state is None:
            return None
        cursor = found.cursor
        notes = list(found.notes)
        result: dict[str, Any] = {
            "generation": cursor.generation if cursor else None,
            "batch_idx": cursor.batch_idx if cursor else None,
            "population": None,
            "best_results": None,
            "metadata": cursor.metadata if cursor else {},
            "source": found.source,
            "full_state": False,
            "checkpoint": cursor.to_json() if cursor else None,
            "notes": notes,
        }
        state = found.state
        if is_manager_payload(state):
            result.update({k: state[k] for k in ("population", "best_results", "metadata")})
            result["full_state"] = True
            position = (state["generation"], state["batch_idx"])
            if cursor is not None and position != (cursor.generation, cursor.batch_idx):
                notes.append(
                    f"state.pkl (generation {position[0]}, batch {position[1]}) does not match "
                    f"{found.source}; using state.pkl, which verifies its own checksum"
                )
            result["generation"], result["batch_idx"] = position
        elif isinstance(state, ExperimentState):
            # A checkpoint written by the runner itself: the cursor says where to go on.
            best = state.best()
            result.update(
                population=list(state.population),
                best_results={
                    "best_prompt": best.text if best else None,
                    "best_fitness": best.fitness if best else None,
                    "generations": [g.to_json() for g in state.generations],
                },
                full_state=True,
                state=state,
            )
            if found.cursor is None:
                result["generation"], result["batch_idx"] = state.generation + 1, 0
        elif state is not None:
            notes.append("state.pkl holds a state of an unknown kind; not used")
        if not result["full_state"]:
            notes.append(
                "partial recovery: no usable state.pkl, so population and best results are lost"
            )
        return result


class ExperimentRecovery:
    """Whether an experiment folder can be resumed, and from where."""

    def __init__(self, exp_dir: str | Path):
        self.manager = CheckpointManager(exp_dir, auto_save=False)

    def can_recover(self) -> bool:
        """True when some checkpoint (full or descriptor only) is usable."""
        return self.manager.load_full_state() is not None

    def recover_experiment(self) -> dict[str, Any] | None:
        """``load_full_state()``: generation, batch_idx, source, notes, full_state, ..."""
        return self.manager.load_full_state()
