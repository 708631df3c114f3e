"""Every test here runs the real CLI in subprocesses (marked ``slow``); the experiments the
inspection tests look at, made by real runs (see test_inspect.py), and an in-process runner for
the inspection commands."""

from __future__ import annotations

import io
import json
import pickle
import shutil
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from evoprompt.checkpoint.atomic import sha256_bytes
from evoprompt.cli.inspect import main as inspect_main
from evoprompt.testing.server import FakeLLMServer, Faults
from tests.conftest import (
    FAST_RETRY,
    SMALL,
    TouchFile,
    cli_env,
    run_cli,
    start_cli,
    summary,
    wait_for,
)

ARGS = ["--population-size", "4", "--max-generations", "2", "--dev-size", "16", "--seed", "7"]
ARGS += ["--batch-size", "4", "--retry-delay", "0.01"]
# Scored batch-major, so a generation's batch files land one by one: with pruning, children
# are asked rows hardest first and a generation's batch files are all saved at its end, a few
# milliseconds before the generation completes, too close for "late" to be stopped between.
ARGS += ["--no-prune"]
# Latency of the endpoint the stopped runs use: a batch of 16 calls takes 2 * SLOW_S, so each
# stop below lands at least a second before the run could move past the point it targets.
SLOW_S = 0.25


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.slow)


@dataclass
class Result:
    code: int
    out: str
    err: str


@dataclass
class Experiments:
    root: Path
    exit_codes: dict[str, int] = field(default_factory=dict)
    while_running: dict[str, Result] = field(default_factory=dict)

    def run(self, *argv: str) -> Result:
        return inspect(*argv, "--result-dir", str(self.root))


def inspect(*argv: str) -> Result:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = inspect_main(list(argv))
    return Result(code, out.getvalue(), err.getvalue())


def _garble(path: Path, at: int, data: bytes) -> None:
    raw = bytearray(path.read_bytes())
    raw[at : at + len(data)] = data
    path.write_bytes(bytes(raw))


@pytest.fixture(scope="module")
def exps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Experiments]:
    root = tmp_path_factory.mktemp("inspect")
    found = Experiments(root)
    procs: dict[str, subprocess.Popen[str]] = {}

    def start(exp_id: str, server: FakeLLMServer) -> None:
        args = [*ARGS, "--result-dir", str(root), "--experiment-id", exp_id]
        procs[exp_id] = start_cli(args, cli_env(server))

    def batch_saved(exp_id: str, generation: int) -> bool:
        return any((root / exp_id / "checkpoints/batches").glob(f"gen{generation}_*"))

    with FakeLLMServer() as fast, FakeLLMServer(faults=Faults(latency=SLOW_S)) as slow:
        try:
            start("fin", fast)
            for exp_id in ("int", "early", "late"):
                start(exp_id, slow)
            # early: killed after its first saved batch, before generation 0 completes.
            wait_for(lambda: batch_saved("early", 0), timeout=60)
            procs["early"].kill()
            # int: inspected while it runs, then Ctrl+C once generation 0 is saved.
            wait_for((root / "int/checkpoints/gen0_batch0.json").exists, timeout=60)
            found.while_running = {
                "list": found.run("list"),
                "status": found.run("status", "int"),
                "verify": found.run("verify", "int"),
            }
            procs["int"].send_signal(signal.SIGINT)
            # late: killed mid-generation 1 (summary.json says "running", nobody holds the lock).
            wait_for(lambda: batch_saved("late", 1), timeout=60)
            procs["late"].kill()
            for exp_id, proc in procs.items():
                proc.communicate(timeout=120)
                found.exit_codes[exp_id] = proc.returncode
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate()
    assert found.exit_codes == {"fin": 0, "int": 130, "early": -9, "late": -9}
    assert not (root / "early/summary.json").exists(), "early was meant to die in generation 0"

    corrupt = root / "corrupt"
    shutil.copytree(root / "fin", corrupt)
    latest = corrupt / "checkpoints/latest.json"  # edited: still JSON, checksum no longer holds
    latest.write_text(latest.read_text().replace('"best_fitness": 0.', '"best_fitness": 9.'))
    batch = corrupt / "checkpoints/batches/gen1_batch2.json"
    batch.write_bytes(batch.read_bytes()[:100])  # truncated
    _garble(corrupt / "journal.sqlite", 0, b"not a database!!")

    tampered = root / "tampered"
    shutil.copytree(root / "fin", tampered)
    body = pickle.dumps(TouchFile(root / "pwned"))
    header = {"format": 1, "seq": 99, "sha256": sha256_bytes(body), "created": 0.0}
    (tampered / "checkpoints/state.pkl").write_bytes(json.dumps(header).encode() + b"\n" + body)
    yield found


# -- fork and rollback (test_fork_rollback.py, test_branch_kill.py) ---------------------------
@dataclass
class Source:
    root: Path  # pristine copy: tests copy it into their own result folder
    summary: dict[str, object]
    paid: Counter[str]  # request bodies the source's server answered

    def copy_to(self, result_dir: Path, exp_id: str = "src") -> Path:
        shutil.copytree(self.root / "src", result_dir / exp_id, symlinks=True)
        return result_dir / exp_id


def tree_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder``, but for files that hold nothing: the lock file
    (flock leaves it as is) and SQLite's side files of a journal opened but not written to,
    its shared-memory index and an empty write-ahead log (left by a process killed after it
    opened the journal: SQLite removes them only on a clean close)."""
    hashes = {
        p.relative_to(folder).as_posix(): sha256_bytes(p.read_bytes())
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".lock" and not p.name.endswith(".sqlite-shm")
    }
    empty = sha256_bytes(b"")
    return {k: v for k, v in hashes.items() if not (k.endswith(".sqlite-wal") and v == empty)}


def run_args(result_dir: Path, *extra: str) -> list[str]:
    # --no-prune: these tests count requests exactly, and which rows a pruned child had
    # answered before it was cut off depends on answer timing (its bound, not the result).
    return [*extra, *FAST_RETRY, "--no-prune", "--result-dir", str(result_dir)]


@pytest.fixture(scope="session")
def source(tmp_path_factory: pytest.TempPathFactory) -> Source:
    root = tmp_path_factory.mktemp("branch_source")
    with FakeLLMServer() as fake:
        done = run_cli([*SMALL, *run_args(root, "--experiment-id", "src")], cli_env(fake))
        paid = Counter(fake.answered_bodies)
    assert done.returncode == 0, done.stderr
    return Source(root, summary(root, "src"), paid)
