"""Dataset loading (built-in, CSV, TSV, JSONL), its errors, and the seeded dev split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evoprompt.data.loader import (
    MAX_CELL_CHARS,
    Dataset,
    DatasetError,
    dev_split,
    load_dataset,
)

ROWS = [
    {"review": "great stuff", "verdict": "pos", "extra": "1"},
    {"review": "awful, broke at once", "verdict": "neg", "extra": "2"},
    {"review": "works as promised", "verdict": " pos ", "extra": "3"},
]


def write_csv(path: Path, rows: list[dict[str, str]], sep: str = ",") -> Path:
    header = sep.join(rows[0]) if rows else "review,verdict"
    lines = [header] + [sep.join(f'"{v}"' if sep == "," else v for v in r.values()) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def check(data: Dataset) -> None:
    assert data.texts == ("great stuff", "awful, broke at once", "works as promised")
    assert data.gold == ("pos", "neg", "pos")  # gold values are stripped
    assert len(data) == 3


def test_csv_with_custom_columns(tmp_path: Path) -> None:
    check(load_dataset(str(write_csv(tmp_path / "d.csv", ROWS)), "review", "verdict"))


def test_tsv(tmp_path: Path) -> None:
    check(load_dataset(str(write_csv(tmp_path / "d.tsv", ROWS, sep="\t")), "review", "verdict"))


@pytest.mark.parametrize("suffix", [".jsonl", ".ndjson", ".JSONL"])
def test_jsonl(tmp_path: Path, suffix: str) -> None:
    check(load_dataset(str(write_jsonl(tmp_path / f"d{suffix}", ROWS)), "review", "verdict"))


def test_jsonl_numbers_become_text(tmp_path: Path) -> None:
    rows = [{"t": "a", "y": 0}, {"t": "b", "y": 1}]
    data = load_dataset(str(write_jsonl(tmp_path / "n.jsonl", rows)), "t", "y")  # type: ignore[arg-type]
    assert data.gold == ("0", "1")


def test_a_single_gold_value_loads(tmp_path: Path) -> None:
    """Whether one label is enough is the metric's rule, not the loader's."""
    rows = [r for r in ROWS if r["verdict"].strip() == "pos"]
    path = str(write_csv(tmp_path / "d.csv", rows))
    assert load_dataset(path, "review", "verdict") == Dataset(
        ("great stuff", "works as promised"), ("pos", "pos"), path
    )


def test_rows_with_blank_text_are_dropped(tmp_path: Path) -> None:
    rows = [*ROWS, {"review": "   ", "verdict": "pos", "extra": "4"}]
    assert len(load_dataset(str(write_csv(tmp_path / "d.csv", rows)), "review", "verdict")) == 3


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"not found.*sentiment, code_vuln"):
        load_dataset(str(tmp_path / "nope.csv"), "text", "label")


def test_unsupported_extension(tmp_path: Path) -> None:
    path = tmp_path / "d.xlsx"
    path.write_text("x")
    with pytest.raises(DatasetError, match=r"unsupported format '\.xlsx'"):
        load_dataset(str(path), "text", "label")


def test_missing_columns_are_named(tmp_path: Path) -> None:
    path = str(write_csv(tmp_path / "d.csv", ROWS))
    with pytest.raises(DatasetError) as err:
        load_dataset(path, "text", "label")
    message = str(err.value)
    assert "no column text, label" in message
    assert "columns: review, verdict, extra" in message and "--text-column" in message
    with pytest.raises(DatasetError, match="no column label "):
        load_dataset(path, "review", "label")


def test_empty_dataset(tmp_path: Path) -> None:
    header_only = tmp_path / "h.csv"
    header_only.write_text("text,label\n")
    with pytest.raises(DatasetError, match="no rows with text"):
        load_dataset(str(header_only), "text", "label")
    blank = tmp_path / "blank.csv"
    blank.write_text("")
    with pytest.raises(DatasetError, match="cannot be parsed"):
        load_dataset(str(blank), "text", "label")


def test_empty_label_names_the_row(tmp_path: Path) -> None:
    rows = [*ROWS[:2], {"review": "no label here", "verdict": "  ", "extra": "x"}]
    with pytest.raises(DatasetError, match="row 3 has an empty label"):
        load_dataset(str(write_csv(tmp_path / "d.csv", rows)), "review", "verdict")


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_an_absurdly_long_cell_is_refused_by_row(tmp_path: Path, suffix: str) -> None:
    """A 50 MB row is a broken export, not a sample: every prompt would send (and pay) it."""
    huge = "word " * (MAX_CELL_CHARS // 5 + 1)
    rows = [*ROWS, {"review": huge, "verdict": "pos", "extra": "4"}]
    path = tmp_path / f"d{suffix}"
    (write_csv if suffix == ".csv" else write_jsonl)(path, rows)
    with pytest.raises(DatasetError) as caught:
        load_dataset(str(path), "review", "verdict")
    message = str(caught.value)
    assert f"row 4 has a review of {len(huge):,} characters" in message
    assert f"limit of {MAX_CELL_CHARS:,}" in message and "\n" not in message
    rows[3] = {"review": "long gold", "verdict": huge, "extra": "4"}
    (write_csv if suffix == ".csv" else write_jsonl)(path, rows)
    with pytest.raises(DatasetError, match="row 4 has a verdict of"):
        load_dataset(str(path), "review", "verdict")
    rows[3] = {"review": huge[:MAX_CELL_CHARS], "verdict": "pos", "extra": "4"}
    (write_csv if suffix == ".csv" else write_jsonl)(path, rows)
    assert len(load_dataset(str(path), "review", "verdict")) == 4  # at the limit: kept


def test_malformed_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"t": "a", "y": "b"}\n\n{not json\n')
    # reported by line number (as an editor shows it), not by character offset
    with pytest.raises(DatasetError, match=r"bad.jsonl line 3 is not valid JSON"):
        load_dataset(str(path), "t", "y")
    path.write_text('{"t": "a", "y": "b"}\n["t", "y"]\n')
    with pytest.raises(DatasetError, match="line 2 is not a JSON object"):
        load_dataset(str(path), "t", "y")


# -- dev split --------------------------------------------------------------------------------


def test_dev_split_is_sized_and_reproducible() -> None:
    data = load_dataset("sentiment", "text", "label")
    first = dev_split(data, 40, seed=3)
    assert len(first) == 40 and first.source == data.source == "sentiment"
    assert first == dev_split(data, 40, seed=3)
    assert first != dev_split(data, 40, seed=4)
    assert len(set(first.texts)) == 40  # drawn without replacement
    pairs = dict(zip(data.texts, data.gold))
    assert all(pairs[t] == y for t, y in zip(first.texts, first.gold))
    # A smaller split is a prefix of the same permutation.
    assert dev_split(data, 10, seed=3).texts == first.texts[:10]


def test_dev_split_larger_than_the_data() -> None:
    data = load_dataset("sentiment", "text", "label")
    assert len(dev_split(data, len(data), seed=0)) == len(data)
    with pytest.raises(DatasetError, match="larger than the dataset"):
        dev_split(data, len(data) + 1, seed=0)


# -- built-in datasets ----------------------------------------------------------------------


def test_builtin_sentiment() -> None:
    data = load_dataset("sentiment", "text", "label")
    assert len(data) >= 150
    assert set(data.gold) == {"negative", "positive"}
    assert all(t.strip() for t in data.texts)


def test_builtin_code_vuln() -> None:
    data = load_dataset("code_vuln", "text", "label")
    assert len(data) >= 120
    assert len(set(data.gold)) >= 4 and "Benign" in data.gold


def test_jsonl_null_or_missing_values_are_named_not_scored_as_nan(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"text": "good", "label": "pos"}\n{"text": "bad", "label": null}\n')
    with pytest.raises(DatasetError, match="row 2 has no label"):
        load_dataset(str(path), "text", "label")
    path.write_text('{"text": "good", "label": "pos"}\n{"text": "bad"}\n')
    with pytest.raises(DatasetError, match="row 2 has no label"):
        load_dataset(str(path), "text", "label")
    rows = ['{"text": "good", "label": "pos"}', '{"label": "neg"}']
    rows.append('{"text": null, "label": "neg"}')
    path.write_text("\n".join(rows) + "\n")
    data = load_dataset(str(path), "text", "label")
    assert data.texts == ("good",) and "nan" not in data.texts


@pytest.mark.parametrize(
    "content",
    [
        '\ufefftext,label\n"a, quoted\nline",pos\n\n  spaced ,neg\n007,1.50\n,\n',
        "text,label\r\nx,pos\r\ny,neg\r\n",
        "text,label\nragged,pos,extra\n",  # not regular: read by pandas
        "text,text\nx,pos\n",  # duplicate names: pandas mangles them
        "text,\nx,pos\n",  # an unnamed column
    ],
)
def test_plain_csv_reads_as_pandas_would(tmp_path: Path, content: str) -> None:
    """The csv-module fast path (no pandas import before the first request) gives pandas'
    table, and leaves to pandas what it would read differently."""
    import pandas as pd

    from evoprompt.data.loader import _read_file, _read_plain

    path = tmp_path / "d.csv"
    path.write_text(content, encoding="utf-8")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except ValueError:
        assert _read_plain(path, ",") is None
        return
    columns = [str(c) for c in frame.columns]
    expected = (columns, [dict(zip(columns, row)) for row in frame.itertuples(index=False)])
    assert _read_file(path) == expected
    plain = _read_plain(path, ",")
    assert plain is None or plain == expected


def test_repeated_texts_are_folded_into_their_first_row(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("text,label\na,x\nb,y\na,z\nc,x\nb,y\n", encoding="utf-8")
    data = load_dataset(str(path), "text", "label")
    assert data.texts == ("a", "b", "c") and data.gold == ("x", "y", "x")
    assert data.folded == 2
