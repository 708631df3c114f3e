"""A generate run on llama.cpp finishes, no answered request asked twice."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_cli, summary
from tests.e2e.llama.conftest import TINY, env, never_twice
from tests.e2e.llama.proxy import CountingProxy


def test_a_generate_run_finishes(tmp_path: Path, proxy: CountingProxy) -> None:
    # two rows: every request is checked alike, more rows only make the run longer
    args = [*TINY, "--scorer", "generate", "--dev-size", "2", "--result-dir", str(tmp_path)]
    done = run_cli([*args, "--experiment-id", "gen"], env(proxy), timeout=800)
    assert done.returncode == 0, done.stderr[-2000:]
    assert summary(tmp_path, "gen")["status"] == "finished"
    never_twice(proxy)
