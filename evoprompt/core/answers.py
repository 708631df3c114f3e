"""Answers the batch files record that the journal no longer holds (its rows deleted).

Each output in a batch file was one scoring call, whose request (and so its journal key) follows
from the prompt, the row's text and the scorer. Recomputing the keys tells ``verify`` and a
resume how many paid answers are gone, so a resume never pays for them again without a word.
A batch whose rows cannot be matched to the data as loaded now (other gold values, other test
inputs) is left out rather than guessed at.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from evoprompt.checkpoint.atomic import CorruptFile
from evoprompt.checkpoint.layout import Layout
from evoprompt.checkpoint.schema import BatchRecord
from evoprompt.checkpoint.store import read_batch
from evoprompt.core.experiment import Experiment
from evoprompt.core.heldout import inputs_digest
from evoprompt.evaluation.scorers import Scorer
from evoprompt.metrics.base import Example


@dataclass(frozen=True)
class Missing:
    recorded: int  # distinct answers the batch files record
    missing: int  # of them, in the journal under no key they could have

    def line(self) -> str:
        return (
            f"{self.missing} of the {self.recorded} answers the batch files record are missing "
            "from the journal (rows deleted?); any of them needed again is asked and paid again"
        )


def _records(layout: Layout, test: bool) -> Iterator[BatchRecord]:
    for _, _, path in layout.batch_files(test=test):
        try:
            yield read_batch(path)
        except CorruptFile:
            continue  # reported by verify as a bad file; nothing to match


def _matches(record: BatchRecord, rows: Sequence[Example], test: bool) -> bool:
    if record.rows[1] > len(rows) or record.rows[0] < 0:
        return False
    if test:
        return record.inputs_sha256 == inputs_digest(rows)
    golds = [e.gold for e in rows]
    return all(p.ground_truths == golds for p in record.prompts)


def count_missing(
    layout: Layout,
    scorer: Scorer,
    dev: Sequence[Example],
    test: Sequence[Example],
    fallback_model: str,
    has: Callable[[str], bool],
) -> Missing:
    """How many answers the batch files record, and how many of them ``has`` lacks."""
    seen: set[str] = set()
    missing = 0
    for is_test, examples in ((False, dev), (True, test)):
        for record in _records(layout, is_test):
            rows = examples[record.rows[0] : record.rows[1]]
            if not _matches(record, rows, is_test):
                continue
            for prompt in record.prompts:
                for example in rows:
                    for request in scorer.requests(prompt.text, example.text):
                        key = request.key()
                        if key in seen:
                            continue
                        seen.add(key)
                        keys = [key]
                        if fallback_model:
                            keys.append(request.with_model(fallback_model).key())
                        if not any(has(k) for k in keys):
                            missing += 1
    return Missing(len(seen), missing)


def experiment_gaps(experiment: Experiment) -> Missing:
    """The gaps in an opened experiment's journal, against its batch files."""
    tester = experiment.test_evaluator
    return count_missing(
        Layout(experiment.exp_dir),
        experiment.evaluator.scorer,
        experiment.evaluator.examples,
        tester.examples if tester is not None else [],
        experiment.config.fallback_model,
        experiment.journal.keys().__contains__,
    )
