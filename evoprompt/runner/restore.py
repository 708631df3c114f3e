"""What a resume restores: the saved state, or one replayed from the journal when state.pkl
is lost or unusable, and the line recovery.log keeps of it.

Apart from the session (which decides when a resume happens) so that what is restored, and
what the user is told about it, reads in one place.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from evoprompt.checkpoint.layout import Layout
from evoprompt.checkpoint.nofollow import append_text
from evoprompt.checkpoint.schema import RecoveryEntry, Stage
from evoprompt.checkpoint.state import ExperimentState
from evoprompt.runner.answers import experiment_gaps
from evoprompt.runner.experiment import Experiment


@dataclass
class Resume:
    """How a resumed experiment got its state back (for recovery.log and the user)."""

    source: str | None
    generation: int
    batch_idx: int
    notes: list[str] = field(default_factory=list)
    rebuilt: bool = False
    stage: Stage | None = None  # the stop recorded by the last save

    @property
    def finished(self) -> bool:
        return self.stage is not None and self.stage.text == "finished"


def restore(experiment: Experiment) -> tuple[ExperimentState, Resume]:
    """The saved state, or a fresh one replayed from the journal when state.pkl is lost."""
    found = experiment.store.recover()
    cursor = found.cursor
    resume = Resume(
        found.source,
        cursor.generation if cursor else 0,
        cursor.batch_idx if cursor else 0,
        list(found.notes),
        stage=cursor.stage if cursor else None,
    )
    gaps = experiment_gaps(experiment)
    if gaps.missing or gaps.differing:
        resume.notes.append(gaps.line())
    state = found.state
    if isinstance(state, ExperimentState) and not state.is_sound():
        resume.notes.append("state.pkl is unusable (it has the wrong shape)")
        state = None
    if not isinstance(state, ExperimentState):
        state = ExperimentState.new(experiment.exp_dir.name, experiment.config.seed)
        lost = cursor.completed_generation if cursor else None
        if lost is not None and lost >= 0:
            resume.rebuilt = True
            answers = int(experiment.journal.totals()["calls"])
            resume.notes.append(
                f"rebuilding generations 0-{lost} by replaying the experiment from its seed "
                f"with the {answers} answers in the journal: no answered call is sent again"
                if answers
                else f"the journal is empty too: generations 0-{lost} are lost and will be "
                "re-run, re-sending their calls"
            )
    return state, resume


def log_recovery(exp_dir: Path, resume: Resume, state: ExperimentState) -> None:
    """One line of recovery.log: where a resumed run got its state and what it noticed."""
    entry = RecoveryEntry(
        timestamp=time.time(),
        restored_from=resume.source,
        state="replayed from journal" if resume.rebuilt else "state.pkl",
        completed_generation=state.generation,
        cursor=(resume.generation, resume.batch_idx),
        notes=resume.notes,
    )
    append_text(Layout(exp_dir).recovery_log, json.dumps(entry.to_json()) + "\n")
