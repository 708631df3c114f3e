"""Every JSON document on disk carries a format version: documents written before it existed
(tests/fixtures/format_v1, made by the code of 3d9773d) still load and still serve every
read-only command, and one from a newer evoprompt stops a command with one line, leaving the
folder as it was."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evoprompt.checkpoint.atomic import CHECKSUM_FIELD, write_checked_json
from evoprompt.checkpoint.schema import (
    BatchRecord,
    Descriptor,
    EndpointRecord,
    RollbackRecord,
    SchemaError,
    Summary,
)
from evoprompt.checkpoint.schema.fields import FORMAT, FORMAT_FIELD, NewerFormat
from evoprompt.checkpoint.schema.sweep import SweepRecord
from evoprompt.cli.main import main
from evoprompt.tracking.record import TrackingRecord
from tests.conftest import FORMAT_V1 as FIXTURE
from tests.e2e.conftest import tree_hashes

SWEEP = "sweep_20261206_155309"
EXPERIMENTS = ("fin", "int", "fk", "rb")

# Each kind of document in the fixture and the record that reads it.
KINDS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "summary": ("results/*/summary.json", Summary.from_json),
    "descriptor": ("results/*/checkpoints/*.json", Descriptor.from_json),
    "batch": ("results/*/checkpoints/batches/*.json", BatchRecord.from_json),
    "rollback": ("results/rb/checkpoints/rolled_back/*/rollback.json", RollbackRecord.from_json),
    "sweep": (f"results/{SWEEP}/sweep.json", SweepRecord.from_json),
    "tracking": ("tracking/tracking.json", TrackingRecord.from_json),
}
ENDPOINT = {"base_url": "http://127.0.0.1:1/v1", "model": "m", "loglik": "echo", "probed": 1.0}


def documents(pattern: str) -> list[dict[str, Any]]:
    found = [json.loads(p.read_text()) for p in sorted(FIXTURE.glob(pattern))]
    assert found, pattern
    return found


@pytest.mark.parametrize("kind", KINDS)
def test_documents_written_before_the_format_field_load_and_round_trip(kind: str) -> None:
    pattern, read = KINDS[kind]
    for doc in documents(pattern):
        # sweep.json and tracking.json said format 1 already; the others said nothing.
        assert doc.get(FORMAT_FIELD) == (1 if kind in ("sweep", "tracking") else None)
        record = read(doc)
        written = record.to_json()
        assert next(iter(written)) == FORMAT_FIELD and written[FORMAT_FIELD] == FORMAT
        assert read(written) == record


def test_the_endpoint_record_of_before_the_format_loads() -> None:
    record = EndpointRecord.from_json(ENDPOINT)
    assert record.to_json() == {FORMAT_FIELD: FORMAT, **ENDPOINT}


@pytest.mark.parametrize("kind", [*KINDS, "endpoint"])
def test_a_newer_format_is_refused_not_taken_for_damage(kind: str) -> None:
    pattern, read = KINDS.get(kind, ("", EndpointRecord.from_json))
    doc = ENDPOINT if kind == "endpoint" else documents(pattern)[0]
    with pytest.raises(NewerFormat, match=rf"format {FORMAT + 1}.*upgrade evoprompt"):
        read({**doc, FORMAT_FIELD: FORMAT + 1})
    assert not issubclass(NewerFormat, (SchemaError, OSError))  # no reader's fallback takes it
    with pytest.raises(SchemaError, match="'format' is not a positive integer"):
        read({**doc, FORMAT_FIELD: "1"})


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_every_read_only_command_reads_experiments_written_before_the_format(
    v1_results: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "list", "--result-dir", str(v1_results))
    assert code == 0, err
    assert all(exp_id in out for exp_id in (*EXPERIMENTS, SWEEP))
    for exp_id in (*EXPERIMENTS, SWEEP):
        code, out, err = run(capsys, "status", exp_id, "--result-dir", str(v1_results))
        assert code == 0, err
        assert "unusable" not in out + err
    code, out, err = run(capsys, "verify", "fin", "--result-dir", str(v1_results))
    assert code == 0, out + err
    code, out, err = run(capsys, "report", "fin", "--result-dir", str(v1_results))
    assert code == 0, err
    code, out, err = run(capsys, "sweep-report", SWEEP, "--result-dir", str(v1_results))
    assert code == 0, err


def _bump(path: Path) -> None:
    """Rewrite ``path`` as a newer evoprompt would: the same document, a later format (a
    checked document keeps a valid checksum, as its writer would have made it)."""
    doc = {**json.loads(path.read_text()), FORMAT_FIELD: FORMAT + 1}
    if CHECKSUM_FIELD in doc:
        write_checked_json(path, {k: v for k, v in doc.items() if k != CHECKSUM_FIELD})
    else:
        path.write_text(json.dumps(doc, indent=2))


@pytest.mark.parametrize(
    "where",
    ["fin/summary.json", "fin/config.json", "fin/checkpoints/latest.json", f"{SWEEP}/sweep.json"],
)
def test_a_folder_from_a_newer_evoprompt_gets_one_line_and_is_left_as_is(
    v1_results: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    _bump(v1_results / where)
    folder = v1_results / where.split("/")[0]
    before = tree_hashes(v1_results)
    commands = [["list"], ["status", folder.name]]
    if folder.name == "fin":
        commands += [["verify", "fin"], ["report", "fin"]]
    for command in commands:
        code, out, err = run(capsys, *command, "--result-dir", str(v1_results))
        assert code == 2, (command, out, err)
        assert err.count("\n") == 1 and "written by a newer evoprompt" in err, (command, err)
        assert "upgrade evoprompt" in err and "Traceback" not in err
    assert tree_hashes(v1_results) == before
