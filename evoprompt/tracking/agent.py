"""The tracking process: ``python -m evoprompt.tracking.agent FOLDER [--sweep]``.

A run's tracker syncs in this child process, not in a thread of the run: importing MLflow and
its SQL store and logging are seconds of Python that would hold the run's GIL and slow its
scoring; and it runs at idle priority until the final sync. It reads one line per request on
stdin (``sync``, or ``final`` for the last sync with artifacts), folds requests that queued up
meanwhile into one sync, answers ``ok`` or ``error REASON`` on stdout, and exits after
``final`` or when stdin closes (the run ended or was killed). The tracking URI comes in
$EVOPROMPT_TRACK_URI (it may hold credentials; argv is visible to every user of the machine).
"""

from __future__ import annotations

import os
import select
import sys
from pathlib import Path

URI_ENV = "EVOPROMPT_TRACK_URI"


def _requests() -> list[str] | None:
    """The next request and any queued behind it; None at end of input."""
    first = sys.stdin.readline()
    if not first:
        return None
    found = [first.strip()]
    while select.select([sys.stdin], [], [], 0)[0]:
        line = sys.stdin.readline()
        if not line:
            break
        found.append(line.strip())
    return found


def reason(exc: BaseException) -> str:
    """The first line of an error, short (MLflow's can run to pages)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def priority(pid: int, *, idle: bool) -> None:
    """Idle scheduling while the run scores (the tracker gets only CPU time nobody else wants,
    so it cannot slow scoring), normal for the final sync, which the run's end waits for (the
    run switches it back: the tracker may be busy in an earlier sync). Where the system
    refuses (not Linux, or no right to leave idle), it stays as it is."""
    try:
        policy = os.SCHED_IDLE if idle else os.SCHED_OTHER
        os.sched_setscheduler(pid, policy, os.sched_param(0))
    except (AttributeError, OSError):
        if idle:
            os.nice(19)


def main(argv: list[str]) -> int:
    folder, sweep = Path(argv[0]), "--sweep" in argv[1:]
    priority(0, idle=True)
    from evoprompt.tracking.sync import sync_experiment, sync_sweep, target

    where = target(os.environ.get(URI_ENV, ""), folder)
    sink = None
    run = os.getppid()
    while (requests := _requests()) is not None:
        if os.getppid() != run:  # the run was killed: its next run syncs (and waits for none)
            break
        final = "final" in requests
        try:
            if sink is None:
                from evoprompt.tracking.mlflow_sink import MlflowSink

                sink = MlflowSink(where.uri, where.artifact_root)
            sync = sync_sweep if sweep else sync_experiment
            sync(folder, sink, where, final=final)
            answer = "ok"
        except Exception as exc:  # reported to the run, which goes on regardless
            answer = f"error {reason(exc)}"
        print(answer, flush=True)
        if final:
            break
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
