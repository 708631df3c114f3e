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
            # not astype(str) here: a null or missing value would become the text "nan"
            return pd.read_json(path, lines=True, dtype=False)
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
    frame = frame[[text_column, label_column]]
    unlabelled = frame[label_column].isna().to_numpy()
    if unlabelled.any():
        row = int(unlabelled.argmax())
        raise DatasetError(
            f"dataset {source}: row {row + 1} has no {label_column} (null or missing)"
        )
    frame = frame[frame[text_column].notna()].astype(str)  # no text: dropped like blank text
    frame = frame[frame[text_column].str.strip() != ""]
    if frame.empty:
        raise DatasetError(f"dataset {source} has no rows with text")
    gold = frame[label_column].str.strip()
    if (gold == "").any():
        row = int((gold == "").to_numpy().argmax())
        raise DatasetError(f"dataset {source}: row {row + 1} has an empty label")
    return Dataset(tuple(frame[text_column]), tuple(gold), source)


def dev_split(data: Dataset, size: int, seed: int) -> Dataset:
    """The first ``size`` rows of a seeded permutation (a separate stream from evolution's RNG)."""
    if size > len(data):
        raise DatasetError(f"--dev-size {size} is larger than the dataset ({len(data)} rows)")
    order = np.random.default_rng([seed, 0xDE5]).permutation(len(data))[:size]
    return Dataset(
        tuple(data.texts[i] for i in order), tuple(data.gold[i] for i in order), data.source
    )
