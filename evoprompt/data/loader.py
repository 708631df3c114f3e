"""Load a dataset (built-in name, CSV, TSV or JSONL) and draw the seeded dev split.

A dataset is a text column and a gold column; what the gold values mean (labels, reference
answers) is the metric's business.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

BUILTIN = {"sentiment": "sentiment.csv", "code_vuln": "code_vuln.csv"}


class DatasetError(ValueError):
    """The dataset cannot be used: the message names the file and the fix."""


@dataclass(frozen=True)
class Dataset:
    texts: tuple[str, ...]
    gold: tuple[str, ...]
    source: str = ""  # as the user named it, for error messages

    def __len__(self) -> int:
        return len(self.texts)


def _read(source: str) -> pd.DataFrame:
    if source in BUILTIN:
        with resources.as_file(resources.files(__package__) / BUILTIN[source]) as path:
            return pd.read_csv(path, dtype=str, keep_default_na=False)
    path = Path(source)
    if not path.is_file():
        names = ", ".join(BUILTIN)
        raise DatasetError(f"dataset {source} not found: give a file path or one of {names}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False)
        if suffix == ".tsv":
            return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
        if suffix in (".jsonl", ".ndjson"):
            return pd.read_json(path, lines=True, dtype=False).astype(str)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise DatasetError(f"dataset {path} cannot be parsed as {suffix[1:]}: {first}") from None
    raise DatasetError(f"dataset {path}: unsupported format '{suffix}' (use .csv, .tsv or .jsonl)")


def load_dataset(source: str, text_column: str, label_column: str) -> Dataset:
    frame = _read(source)
    missing = [c for c in (text_column, label_column) if c not in frame.columns]
    if missing:
        have = ", ".join(map(str, frame.columns)) or "none"
        raise DatasetError(
            f"dataset {source} has no column {', '.join(missing)} (columns: {have}); "
            "set --text-column / --label-column"
        )
    frame = frame[[text_column, label_column]].astype(str)
    frame = frame[frame[text_column].str.strip() != ""]
    if frame.empty:
        raise DatasetError(f"dataset {source} has no rows with text")
    gold = frame[label_column].str.strip()
    if (gold == "").any():
        row = int((gold == "").to_numpy().argmax())
        raise DatasetError(f"dataset {source}: row {row + 1} has an empty label")
    return Dataset(tuple(frame[text_column]), tuple(gold), source)


def _order(data: Dataset, seed: int, stream: int) -> list[int]:
    return [int(i) for i in np.random.default_rng([seed, stream]).permutation(len(data))]


def _rows(data: Dataset, rows: list[int]) -> Dataset:
    return Dataset(
        tuple(data.texts[i] for i in rows), tuple(data.gold[i] for i in rows), data.source
    )


def dev_split(data: Dataset, size: int, seed: int) -> Dataset:
    """The first ``size`` rows of a seeded permutation (a separate stream from evolution's RNG)."""
    if size > len(data):
        raise DatasetError(f"--dev-size {size} is larger than the dataset ({len(data)} rows)")
    return _rows(data, _order(data, seed, 0xDE5)[:size])


@dataclass(frozen=True)
class HeldOut:
    """The test set and how many candidate rows were dropped for repeating a dev text."""

    test: Dataset
    dropped: int


def held_out_split(
    data: Dataset, dev_size: int, size: int, seed: int, other: Dataset | None = None
) -> HeldOut:
    """At most ``size`` rows disjoint from the dev split by row and by text.

    Without ``other`` they are the rows after the dev rows in the dev split's permutation (the
    dev set is unchanged); with it, the first rows of a seeded permutation of ``other``. A
    candidate whose text is also a dev text is dropped (counted in ``dropped``), so a prompt is
    never judged on an input it was selected on.
    """
    dev_order = _order(data, seed, 0xDE5)
    dev_texts = {data.texts[i] for i in dev_order[:dev_size]}
    source = data if other is None else other
    pool = dev_order[dev_size:] if other is None else _order(other, seed, 0x7E57)
    kept: list[int] = []
    dropped = 0
    for i in pool:
        if len(kept) >= size:
            break
        if source.texts[i] in dev_texts:
            dropped += 1
        else:
            kept.append(i)
    return HeldOut(_rows(source, kept), dropped)
