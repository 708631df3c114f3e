"""What the tracker reads from a folder, and the figures a generation now records (no MLflow
needed: these run everywhere)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pandas as pd

from evoprompt.checkpoint.schema import GenerationRow
from evoprompt.config import Config
from evoprompt.evolution.diversity import diversity
from evoprompt.tracking.content import ExperimentFiles, aggregate_series
from evoprompt.tracking.record import TrackingRecord, read_record, write_record
from tests.conftest import run_cli


def test_diversity_is_the_mean_pairwise_word_set_distance() -> None:
    assert diversity(["a b", "a b", "B A"]) == 0.0
    assert diversity(["a b", "c d"]) == 1.0
    assert diversity(["a b", "a c"]) == round(1 - 1 / 3, 6)
    assert diversity(["alone"]) == 0.0


def test_generation_rows_keep_their_new_figures_and_read_old_ones(tmp_path: Path) -> None:
    row = GenerationRow(2, 0.75, 0.5, "Classify it.", 3, 1.25, 0.4, 120, 9000, 0.0125, 0.25)
    assert GenerationRow.from_json(json.loads(json.dumps(row.to_json()))) == row
    old = {k: v for k, v in row.to_json().items() if k in GenerationRow.COLUMNS[:6]}
    assert GenerationRow.from_json(old).calls is None
    path = tmp_path / "generations.csv"
    pd.DataFrame([old, row.to_json()], columns=list(GenerationRow.COLUMNS)).to_csv(
        path, index=False
    )
    rows = [GenerationRow.from_json(r) for r in pd.read_csv(path).to_dict("records")]
    assert rows[0].diversity is None and rows[0].calls is None
    assert rows[1] == row


def test_params_carry_no_credentials_and_no_lineage(tmp_path: Path) -> None:
    config = Config(
        base_url="https://user:pw-1x9@llm.example/v1",
        track_uri="https://bob:tok-7q2@mlflow.example",
    )
    stored = {**config.to_dict(), "parent": "src", "forked_at": 1, "changed": {}}
    (tmp_path / "config.json").write_text(json.dumps(stored))
    params = ExperimentFiles.read(tmp_path).params()
    assert params["base_url"] == "https://llm.example/v1"
    assert params["track_uri"] == "https://mlflow.example"
    assert "parent" not in params and params["seed_prompts"] == json.dumps(config.seed_prompts)
    assert "1x9" not in json.dumps(params) and "7q2" not in json.dumps(params)


def test_a_damaged_tracking_record_reads_as_none(tmp_path: Path) -> None:
    path = tmp_path / "tracking.json"
    record = TrackingRecord.new("").with_run("abc")
    write_record(path, record)
    assert read_record(path) == record
    path.write_text(path.read_text().replace("abc", "abd"))
    assert read_record(path) is None


def test_a_bad_track_setting_is_one_line_and_exit_2(tmp_path: Path) -> None:
    for flags, words in (
        (["--track", "wandb"], "argument --track: invalid choice"),
        (["--track", "mlflow", "--track-uri", "localhost:5000"], "'track_uri' must be a tracking"),
    ):
        done = run_cli([*flags, "--result-dir", str(tmp_path)], {})
        assert done.returncode == 2 and words in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    assert not any(tmp_path.iterdir())


def test_the_tracker_reads_no_link_and_no_fifo(tmp_path: Path) -> None:
    """The tracker reads through the same rule as every command: a FIFO planted at
    config.json or population.jsonl is a damaged file (it used to block forever), a linked
    summary.json is never followed."""
    exp = tmp_path / "exp"
    exp.mkdir()
    os.mkfifo(exp / "config.json")
    os.mkfifo(exp / "population.jsonl")
    outside = tmp_path / "outside.json"
    outside.write_text('{"status": "finished"}')
    (exp / "summary.json").symlink_to(outside)

    def stuck(signum: int, frame: object) -> None:
        raise RuntimeError("blocked on a FIFO")  # no OSError: a reader catches those

    previous = signal.signal(signal.SIGALRM, stuck)
    signal.alarm(10)  # a blocked read becomes a failure, not a stuck test run
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    os.mkfifo(sweep / "aggregate.csv")
    try:
        files = ExperimentFiles.read(exp)
        assert aggregate_series(sweep) == {}
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert files.config == {} and files.summary is None and files.scored == []
