"""How a run ends, as the user sees it: the exit codes, the line a stop prints and the summary
of a finished run. Shared by every command that runs an experiment (run, test, sweep, branch).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from evoprompt.checkpoint.layout import Layout
from evoprompt.checkpoint.nofollow import read_text
from evoprompt.checkpoint.schema import Summary
from evoprompt.checkpoint.state import ExperimentState
from evoprompt.cli.hints import next_steps
from evoprompt.cli.signals import SAFE, StopSignals, signal_exit_code, signal_name
from evoprompt.config import Config
from evoprompt.report.verdict import detail_lines, verdict_line
from evoprompt.runner.session import Outcome, Session

EXIT_OK, EXIT_USAGE, EXIT_TEMPFAIL, EXIT_INTERRUPTED = 0, 2, 75, 130
EXIT_CODES = {
    "finished": EXIT_OK,
    "budget": EXIT_TEMPFAIL,
    "endpoint": EXIT_TEMPFAIL,
    "quota": EXIT_TEMPFAIL,
    "disk_full": EXIT_TEMPFAIL,
    "fatal": EXIT_USAGE,
    "population": EXIT_USAGE,
    "unsafe": EXIT_USAGE,
}


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def exit_code(outcome: Outcome, session: Session) -> int:
    if outcome.kind == "interrupted":
        return signal_exit_code(session.stop_reason)
    return EXIT_CODES[outcome.kind]


async def drive(
    session: Session, state: ExperimentState, next_step: str, retest: list[str] | None = None
) -> Outcome:
    """Run the session with Ctrl+C and SIGTERM turned into stop requests; say how it ended.
    ``next_step``: the resume line, printed by a stop that user code keeps from completing;
    ``retest``: run only a test phase (see :meth:`Session.run`)."""
    farewell = f"{SAFE} {next_step}" if session.config.checkpoint else next_step
    with StopSignals(session.request_stop, session.grace_s, farewell):
        outcome = await session.run(state, retest=retest)
    if outcome.kind == "interrupted":
        line = f"\nInterrupted by {signal_name(session.stop_reason)}"
    else:
        line = outcome.line
    if outcome.kind in ("disk_full", "unsafe", "population"):
        say(line)
    elif outcome.kind != "finished":
        say(
            f"{line}. Progress saved (generation {outcome.cursor.generation}, "
            f"batch {outcome.cursor.batches_done})."
        )
    return outcome


def print_summary(exp_dir: Path, config: Config) -> None:
    """The end of a finished run on stdout: the best prompt, each generation, the calls and
    their cost, the held-out verdict, and what to do next."""
    doc = Summary.from_json(json.loads(read_text(Layout(exp_dir).summary)))
    stats = doc.api_stats
    rate = stats["retry_success_rate"]
    print(f"\nExperiment {doc.experiment_id}: {doc.status}")
    print(f"Best fitness {doc.best_fitness:.4f}: {doc.best_prompt}")
    for gen in doc.generations:
        print(
            f"  gen {gen.generation:>3}  best {gen.best_fitness:.4f}  "
            f"mean {gen.mean_fitness:.4f}  scored {gen.evaluated}"
        )
    print(
        f"API calls {stats['calls']} (succeeded {stats['succeeded']}, failed {stats['failed']}, "
        f"retries {stats['retried']}, retry success "
        f"{'n/a' if rate is None else f'{rate:.0%}'}), cache hits {stats['cache_hits']}, "
        f"tokens {stats['prompt_tokens']} in / {stats['completion_tokens']} out, "
        f"cost ${stats['cost_usd']:.4f}"
    )
    if doc.test is not None:
        print(verdict_line(doc.test))
        print("\n".join(detail_lines(doc.test)))
    print(f"Results: {exp_dir}/summary.json")
    print("\n".join(next_steps(exp_dir, config, doc.test is not None)))
