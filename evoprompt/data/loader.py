"""Load a dataset (built-in name, CSV, TSV or JSONL) and draw the seeded dev split.

A dataset is a text column and a gold column; what the gold values mean (labels, reference
answers) is the metric's business.
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

BUILTIN = {
    "sentiment": "sentiment.csv",
    "code_vuln": "code_vuln.csv",
    "arith": "arith.csv",
    "summarize": "summarize.csv",
    # public tasks from the EvoPrompt paper's splits (public/README.md), gzipped
    "sst2": "public/sst2.csv.gz",
    "subj": "public/subj.csv.gz",
    "agnews": "public/agnews.csv.gz",
}

# The longest cell (text or gold) a dataset may hold, in characters: about 250k tokens, more
# than a model's context window and far above any benchmark row (long-document summaries run
# to tens of thousands). A longer cell is a broken export, and each would be sent, and paid,
# once per prompt per generation.
MAX_CELL_CHARS = 1_000_000


class DatasetError(ValueError):
    """The dataset cannot be used: the message names the file and the fix."""


@dataclass(frozen=True)
class Dataset:
    texts: tuple[str, ...]
    gold: tuple[str, ...]
    source: str = ""  # as the user named it, for error messages
    folded: int = 0  # rows that repeated an earlier row's text, counted once (see load_dataset)

    def __len__(self) -> int:
        return len(self.texts)


Table = tuple[list[str], list[dict[str, str | None]]]  # column names, rows (None: null)


def _read(source: str) -> Table:
    """The built-in sets are read with the csv module; pandas (about a second to import on a
    loaded machine, before the first request) only for a user's file."""
    if source in BUILTIN:
        path = resources.files(__package__).joinpath(*BUILTIN[source].split("/"))
        raw = path.read_bytes()
        text = gzip.decompress(raw) if BUILTIN[source].endswith(".gz") else raw
        reader = csv.DictReader(io.StringIO(text.decode("utf-8"), newline=""))
        return list(reader.fieldnames or ()), list(reader)
    path = Path(source)
    if not path.is_file():
        names = ", ".join(BUILTIN)
        raise DatasetError(f"dataset {source} not found: give a file path or one of {names}")
    return _read_file(path)


def _read_plain(path: Path, delimiter: str) -> Table | None:
    """A regular CSV/TSV (unique column names, every row as wide as the header) with the csv
    module, as pandas would read it (BOM dropped, blank lines skipped, every cell a string):
    importing pandas costs about half a second before the first request. Anything else
    (ragged rows, duplicate names, bad bytes) is None, for pandas to read or report."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            rows = [row for row in csv.reader(f, delimiter=delimiter, strict=True) if row]
    except (csv.Error, UnicodeDecodeError, ValueError):
        return None
    if not rows or len(rows[0]) < 2 or "" in rows[0] or len(set(rows[0])) < len(rows[0]):
        return None
    header = rows[0]
    if any(len(row) != len(header) for row in rows):
        return None
    return header, [dict(zip(header, row)) for row in rows[1:]]


def _read_file(path: Path) -> Table:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        table = _read_plain(path, "," if suffix == ".csv" else "\t")
        if table is not None:
            return table
    import pandas as pd

    try:
        if suffix == ".csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        elif suffix == ".tsv":
            frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
        elif suffix in (".jsonl", ".ndjson"):
            frame = pd.DataFrame(_read_jsonl(path))
        else:
            raise DatasetError(
                f"dataset {path}: unsupported format '{suffix}' (use .csv, .tsv or .jsonl)"
            )
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        if isinstance(exc, DatasetError):
            raise
        first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise DatasetError(f"dataset {path} cannot be parsed as {suffix[1:]}: {first}") from None
    columns = [str(c) for c in frame.columns]
    return columns, [
        {c: _cell(v) for c, v in zip(columns, row)} for row in frame.itertuples(index=False)
    ]


def _cell(value: object) -> str | None:
    """A null or missing cell stays None (load_dataset names it), never the text "nan"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """One JSON object per line; a bad line is reported by its number, as an editor shows it."""
    rows = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(
                    f"dataset {path} line {number} is not valid JSON: {exc.msg} "
                    f"(column {exc.colno})"
                ) from None
            if not isinstance(row, dict):
                raise DatasetError(f"dataset {path} line {number} is not a JSON object")
            rows.append(row)
    return rows


def column_of(source: str, text_column: str, column: str) -> dict[str, str]:
    """Each text's non-empty value in ``column`` (none when the data has no such column): the
    worked answers exemplars show for a reasoning task (``worked_column``)."""
    columns, rows = _read(source)
    if column not in columns or text_column not in columns:
        return {}
    found: dict[str, str] = {}
    for row in rows:
        text, value = row[text_column], str(row[column] or "").strip()
        if text is not None and value:
            found.setdefault(str(text), value)
    return found


def load_dataset(source: str, text_column: str, label_column: str) -> Dataset:
    """The dataset, read once per process for each version of the file: a sweep's cells load
    the same one (reading it again for each of 2,000 cells took 5 s before the first call)."""
    return _load(source, text_column, label_column, _version(source))


def _version(source: str) -> tuple[int, int] | None:
    """What tells a changed file from the one read before (a built-in set never changes)."""
    if source in BUILTIN:
        return None
    try:
        stat = Path(source).stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


@functools.lru_cache(maxsize=8)
def _load(
    source: str, text_column: str, label_column: str, version: tuple[int, int] | None
) -> Dataset:
    columns, rows = _read(source)
    missing = [c for c in (text_column, label_column) if c not in columns]
    if missing:
        have = ", ".join(columns) or "none"
        raise DatasetError(
            f"dataset {source} has no column {', '.join(missing)} (columns: {have}); "
            "set --text-column / --label-column"
        )
    for number, row in enumerate(rows, 1):
        if row[label_column] is None:  # a JSONL null, or a key missing from that line
            raise DatasetError(
                f"dataset {source}: row {number} has no {label_column} (null or missing)"
            )
        for column in (text_column, label_column):
            size = len(row[column] or "")
            if size > MAX_CELL_CHARS:
                raise DatasetError(
                    f"dataset {source}: row {number} has a {column} of {size:,} characters, "
                    f"over the limit of {MAX_CELL_CHARS:,} per cell; shorten or remove that row"
                )
    # no text (null or missing): dropped like blank text, never scored as "None"
    kept = [row for row in rows if str(row[text_column] or "").strip() != ""]
    if not kept:
        raise DatasetError(f"dataset {source} has no rows with text")
    gold = [str(row[label_column]).strip() for row in kept]
    if "" in gold:
        raise DatasetError(f"dataset {source}: row {gold.index('') + 1} has an empty label")
    return _distinct(tuple(str(row[text_column]) for row in kept), tuple(gold), source)


def _distinct(texts: tuple[str, ...], gold: tuple[str, ...], source: str) -> Dataset:
    """The rows with a text not seen before (the first one's gold kept). A repeated text is
    one input: scored twice it would be one answer counted twice, inflating n and narrowing
    every interval and test; the number folded is reported with the verdict."""
    first: dict[str, str] = {}
    for text, label in zip(texts, gold):
        first.setdefault(text, label)
    folded = len(texts) - len(first)
    return Dataset(tuple(first), tuple(first.values()), source, folded)


def _order(data: Dataset, seed: int, stream: int) -> list[int]:
    return [int(i) for i in np.random.default_rng([seed, stream]).permutation(len(data))]


def dev_order(data: Dataset, seed: int) -> list[int]:
    """The seeded permutation the dev split takes its first rows from."""
    return _order(data, seed, 0xDE5)


def rows_of(data: Dataset, rows: list[int]) -> Dataset:
    return Dataset(
        tuple(data.texts[i] for i in rows), tuple(data.gold[i] for i in rows), data.source
    )


def dev_split(data: Dataset, size: int, seed: int) -> Dataset:
    """The first ``size`` rows of a seeded permutation (a separate stream from evolution's RNG)."""
    if size > len(data):
        raise DatasetError(f"--dev-size {size} is larger than the dataset ({len(data)} rows)")
    return rows_of(data, dev_order(data, seed)[:size])


@dataclass(frozen=True)
class HeldOut:
    """The test set and how many candidate rows were dropped for repeating a dev text."""

    test: Dataset
    dropped: int


def held_out_split(
    data: Dataset,
    dev_size: int,
    size: int,
    seed: int,
    other: Dataset | None = None,
    exclude: Dataset | None = None,
) -> HeldOut:
    """At most ``size`` rows disjoint from the dev split by row and by text.

    Without ``other`` they are the rows after the dev rows in the dev split's permutation (the
    dev set is unchanged); with it, the first rows of a seeded permutation of ``other``. A
    candidate whose text is also a dev text is dropped (counted in ``dropped``), so a prompt is
    never judged on an input it was selected on. ``exclude`` (the train pool) is left out the
    same way, its texts counted in ``dropped``, its rows of ``data`` not at all (they were
    never candidates).
    """
    order = dev_order(data, seed)
    dev_texts = {data.texts[i] for i in order[:dev_size]}
    train = set(exclude.texts) if exclude is not None else set()
    source = data if other is None else other
    pool = order[dev_size:] if other is None else _order(other, seed, 0x7E57)
    if other is None:
        pool = [i for i in pool if data.texts[i] not in train]
    kept: list[int] = []
    dropped = 0
    for i in pool:
        if len(kept) >= size:
            break
        if source.texts[i] in dev_texts or source.texts[i] in train:
            dropped += 1
        else:
            kept.append(i)
    return HeldOut(rows_of(source, kept), dropped)
