"""The journal checked against the checkpoints: answers gone (rows deleted) or changed.

Each output in a batch file was one scoring call, whose request (and so its journal key) follows
from the prompt, the row's text and the scorer. Recomputing the keys tells ``verify`` and a
resume how many paid answers are gone, so a resume never pays for them again without a word,
and, for the generate scorer (whose output is the answer's text), which journaled answers say
something else than the batch recorded: an edit with a recomputed checksum shows up there. A
batch whose rows cannot be matched to the data as loaded now (other gold values, other test
inputs) is left out rather than guessed at. ``population.jsonl`` adds every prompt scored on
all dev rows (not pruned): with the batch files deleted too, the journal's missing answers
still show, and a fork or resume does not re-pay them silently.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from evoprompt.checkpoint.atomic import CorruptFile
from evoprompt.checkpoint.layout import Layout
from evoprompt.checkpoint.nofollow import PathRefused, read_text
from evoprompt.checkpoint.schema import BatchRecord, PopulationRow, SchemaError
from evoprompt.checkpoint.store import read_batch
from evoprompt.core.heldout import inputs_digest
from evoprompt.evaluation.scorers import GenerateScorer, Scorer
from evoprompt.metrics.base import Example
from evoprompt.runner.experiment import Experiment


@dataclass(frozen=True)
class Gaps:
    recorded: int  # distinct answers the batch files and population.jsonl record
    missing: int  # of them, in the journal under no key they could have
    differing: int  # of them, journaled with another text than the batch recorded

    def line(self) -> str:
        parts = []
        if self.missing:
            parts.append(
                f"{self.missing} of the {self.recorded} answers the checkpoints record are "
                "missing from the journal (rows deleted?); any of them needed again is asked "
                "and paid again"
            )
        if self.differing:
            parts.append(
                f"{self.differing} journaled answers differ from what the batch files recorded "
                "(the journal was edited?)"
            )
        return "; ".join(parts)


def _records(layout: Layout, test: bool) -> Iterator[BatchRecord]:
    for _, _, path in layout.batch_files(test=test):
        try:
            yield read_batch(path)
        except CorruptFile:
            continue  # reported by verify as a bad file; nothing to match


def _matches(record: BatchRecord, rows: Sequence[Example], test: bool) -> bool:
    if record.rows[0] < 0 or len(rows) != record.rows[1] - record.rows[0]:
        return False
    if test:
        return record.inputs_sha256 == inputs_digest(rows)
    golds = [e.gold for e in rows]
    return all(p.ground_truths == golds for p in record.prompts)


def _fully_scored(layout: Layout) -> list[str]:
    """Prompts population.jsonl records as scored on every dev row (a pruned one was not)."""
    try:
        lines = read_text(layout.population).splitlines()
    except (OSError, PathRefused):
        return []
    found = []
    for line in lines:
        try:
            row = PopulationRow.from_json(json.loads(line))
        except (ValueError, SchemaError):
            continue  # a garbled line: verify reports the file
        if not row.pruned:
            found.append(row.text)
    return found


def _text(payload: str | None) -> str | None:
    try:
        text = json.loads(payload)["text"] if payload is not None else None
    except (ValueError, KeyError, TypeError):
        return None  # a garbled row: the checksum check reports it
    return text if isinstance(text, str) else None


def count_missing(
    layout: Layout,
    scorer: Scorer,
    dev: Sequence[Example],
    test: Sequence[Example],
    fallback_model: str,
    answers: Mapping[str, str | None],
) -> Gaps:
    """How many answers the batch files and population.jsonl record, how many of them
    ``answers`` (journal key to answer, None for a row set aside) lacks, and how many it holds
    with another text."""
    compare = isinstance(scorer, GenerateScorer)
    seen: set[str] = set()
    missing = differing = 0

    def check(prompt: str, example: Example, output: str | None) -> None:
        nonlocal missing, differing
        for request in scorer.requests(prompt, example.text):
            key = request.key()
            if key in seen:
                continue
            seen.add(key)
            keys = [key]
            if fallback_model:
                keys.append(request.with_model(fallback_model).key())
            held = [k for k in keys if k in answers]
            if not held:
                missing += 1
            elif compare and output is not None and answers[held[0]] is not None:
                differing += _text(answers[held[0]]) != output

    covered: Counter[str] = Counter()  # dev rows of each prompt the batch files cover
    for is_test, examples in ((False, dev), (True, test)):
        for record in _records(layout, is_test):
            rows = examples[record.rows[0] : record.rows[1]]
            if not _matches(record, rows, is_test):
                continue
            for scored in record.prompts:
                covered[scored.text] += 0 if is_test else len(rows)
                for example, output in zip(rows, scored.outputs):
                    check(scored.text, example, output)
    for prompt in _fully_scored(layout):
        if covered[prompt] < len(dev):  # its batch files (some or all) are gone: check it all
            for example in dev:
                check(prompt, example, None)
    return Gaps(len(seen), missing, differing)


def experiment_gaps(experiment: Experiment) -> Gaps:
    """The gaps in an opened experiment's journal, against its batch files."""
    tester = experiment.test_evaluator
    return count_missing(
        Layout(experiment.exp_dir),
        experiment.evaluator.scorer,
        experiment.evaluator.examples,
        tester.examples if tester is not None else [],
        experiment.config.fallback_model,
        experiment.journal.answers(),
    )
