"""A finished 3-generation GA run that the fork and rollback tests branch from."""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from evoprompt.checkpoint.atomic import sha256_bytes
from evoprompt.testing.server import FakeLLMServer
from tests.conftest import FAST_RETRY, SMALL, cli_env, run_cli, summary


@dataclass
class Source:
    root: Path  # pristine copy: tests copy it into their own result folder
    summary: dict[str, object]
    paid: Counter[str]  # request bodies the source's server answered

    def copy_to(self, result_dir: Path, exp_id: str = "src") -> Path:
        shutil.copytree(self.root / "src", result_dir / exp_id, symlinks=True)
        return result_dir / exp_id


def tree_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (the lock file aside: flock leaves it as is)."""
    return {
        p.relative_to(folder).as_posix(): sha256_bytes(p.read_bytes())
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def run_args(result_dir: Path, *extra: str) -> list[str]:
    return [*extra, *FAST_RETRY, "--result-dir", str(result_dir)]


@pytest.fixture(scope="session")
def source(tmp_path_factory: pytest.TempPathFactory) -> Source:
    root = tmp_path_factory.mktemp("branch_source")
    with FakeLLMServer() as fake:
        done = run_cli([*SMALL, *run_args(root, "--experiment-id", "src")], cli_env(fake))
        paid = Counter(fake.answered_bodies)
    assert done.returncode == 0, done.stderr
    return Source(root, summary(root, "src"), paid)
