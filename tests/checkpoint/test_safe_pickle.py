"""state.pkl's allow-list unpickler: tampered pickles cannot run code; real state round-trips."""

from __future__ import annotations

import collections
import datetime
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from evoprompt.checkpoint.atomic import CorruptFile
from evoprompt.checkpoint.safe_pickle import UnsafePickle, safe_loads
from evoprompt.checkpoint.schema import RowTally
from evoprompt.checkpoint.state import ExperimentState, Individual
from evoprompt.checkpoint.store import decode_state, encode_state
from tests.conftest import TouchFile


def test_code_running_pickle_is_refused_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    blob = pickle.dumps({"population": [TouchFile(marker)]})
    with pytest.raises(UnsafePickle) as err:
        safe_loads(blob)
    assert err.value.name.endswith(".system")
    assert "disallowed" in str(err.value)
    assert not marker.exists()
    # Control: the payload is real, a plain unpickler would have run it.
    pickle.loads(blob)
    assert marker.exists()


def test_tampered_state_file_is_refused_not_reported_corrupt(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "state.pkl"
    path.write_bytes(encode_state(TouchFile(marker), seq=1))  # a valid checksum, a bad payload
    with pytest.raises(UnsafePickle):
        decode_state(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "value",
    [
        datetime.datetime(2024, 1, 1),
        collections.OrderedDict(a=1),
        Path("x"),
        np.random.default_rng(0),
    ],
    ids=lambda v: type(v).__name__,
)
def test_objects_outside_the_allow_list_are_refused(value: object) -> None:
    with pytest.raises(UnsafePickle):
        safe_loads(pickle.dumps(value))


def test_builtins_and_numpy_are_admitted() -> None:
    value = {
        "list": [1, 2.5, "x", None, True],
        "tuple": (1, (2, 3)),
        "set": {1, 2},
        "frozen": frozenset({"a"}),
        "bytes": b"\x00\x01",
        "complex": 1 + 2j,
        "array": np.arange(6, dtype=np.float32).reshape(2, 3),
        "scalar": np.float64(0.25),
        "int": np.int64(7),
    }
    loaded = safe_loads(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))  # as state.pkl
    assert np.array_equal(loaded.pop("array"), value["array"])
    assert loaded == {k: v for k, v in value.items() if k != "array"}


@pytest.mark.parametrize(
    "array",
    [np.arange(6.0), np.arange(12).reshape(3, 4).T, np.arange(6.0)[::2], np.zeros((0, 2))],
    ids=["contiguous", "fortran", "strided", "empty"],
)
def test_numpy_arrays_load_under_state_pkl_protocol(array: np.ndarray) -> None:
    """Protocol 5 rebuilds contiguous arrays with ``_frombuffer``, others with ``_reconstruct``."""
    loaded = safe_loads(pickle.dumps(array, protocol=pickle.HIGHEST_PROTOCOL))
    assert np.array_equal(loaded, array) and loaded.dtype == array.dtype


def test_object_arrays_cannot_smuggle_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    array = np.array([TouchFile(marker), 1], dtype=object)
    with pytest.raises(UnsafePickle):
        safe_loads(pickle.dumps(array, protocol=pickle.HIGHEST_PROTOCOL))
    assert not marker.exists()


def test_experiment_state_round_trips(tmp_path: Path) -> None:
    state = ExperimentState.new("exp_1", seed=11)
    parent = Individual(
        "Classify the text.",
        0.5,
        0,
        analysis={"accuracy": 0.5, "error_patterns": {"pos -> neg": 2}},
    )
    child = Individual("Classify carefully.", 0.75, 1, (parent.text,), "ga", {})
    state.population = [parent, child]
    state.scored = {p.text: p for p in state.population}
    state.generations = [{"generation": 0, "best_fitness": 0.5, "duration_s": 1.5}]
    state.generation = 1
    state.row_tally = RowTally.empty(["a", "b", "c"])
    state.row_tally.add([(1, 0.0), (2, 0.5)])
    rng = state.rng()
    rng.random(5)
    state.rng_state = rng.bit_generator.state

    path = tmp_path / "state.pkl"
    path.write_bytes(encode_state(state, seq=4))
    header, loaded = decode_state(path)
    assert header["seq"] == 4
    assert isinstance(loaded, ExperimentState) and loaded == state
    assert loaded.best() == child
    assert np.array_equal(loaded.rng().random(3), state.rng().random(3))
    assert loaded.row_tally == state.row_tally


def test_a_state_from_before_the_row_tally_loads_without_one(tmp_path: Path) -> None:
    state = ExperimentState.new("exp_1", seed=11)
    del state.__dict__["row_tally"]  # what an earlier version pickled
    path = tmp_path / "state.pkl"
    path.write_bytes(encode_state(state, seq=1))
    _, loaded = decode_state(path)
    assert isinstance(loaded, ExperimentState) and loaded.row_tally is None and loaded.is_sound()


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: {"lost": t.lost},
        lambda t: t.__dict__.pop("lost"),
        lambda t: t.__dict__.update(add=None),
        lambda t: t.__dict__.update(asked=t.asked[1:]),
        lambda t: t.__dict__.update(asked=[-1, 0, 0]),
        lambda t: t.__dict__.update(lost=[float("nan"), 0.0, 0.0]),
        lambda t: t.__dict__.update(lost=["x", 0.0, 0.0]),
        lambda t: t.__dict__.update(rows=None),
    ],
    ids=[
        "not a tally",
        "a field missing",
        "methods shadowed",
        "lengths differ",
        "a count below zero",
        "a loss that is not a number",
        "a loss that is text",
        "no rows key",
    ],
)
def test_a_state_pkl_with_a_misshapen_row_tally_is_refused_as_unsound(
    tmp_path: Path, tamper: Callable[[RowTally], object]
) -> None:
    """The shape check reads the tally's fields, never its (maybe shadowed) methods, so a
    tampered one is reported as the wrong shape instead of crashing the resume."""
    state = ExperimentState.new("exp_1", seed=11)
    tally = RowTally.empty(["a", "b", "c"])
    swapped = tamper(tally)
    state.row_tally = swapped if isinstance(swapped, dict) else tally  # type: ignore[assignment]
    path = tmp_path / "state.pkl"
    path.write_bytes(encode_state(state, seq=1))
    _, loaded = decode_state(path)
    assert isinstance(loaded, ExperimentState) and not loaded.is_sound()


def test_truncated_or_garbled_state_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "state.pkl"
    blob = encode_state({"a": 1}, seq=1)
    path.write_bytes(blob[:-2])
    with pytest.raises(CorruptFile, match="checksum mismatch"):
        decode_state(path)
    path.write_bytes(b"garbage without a header")
    with pytest.raises(CorruptFile, match="unreadable header"):
        decode_state(path)
    with pytest.raises(CorruptFile, match="missing"):
        decode_state(tmp_path / "absent.pkl")


def test_a_state_pkl_naming_the_old_module_path_loads() -> None:
    """Written by the version whose state types lived in ``evoprompt.core.state`` (a real
    generation-0 snapshot of a GA run): every resume of such an experiment reads one."""
    path = Path(__file__).parent / "data" / "state_core_path.pkl"
    assert b"evoprompt.core.state" in path.read_bytes()
    _, loaded = decode_state(path)
    assert isinstance(loaded, ExperimentState) and loaded.is_sound()
    assert loaded.generation == 0 and len(loaded.population) == 6
    assert all(isinstance(p, Individual) for p in loaded.population)
