"""kill -9 of a generate run on llama.cpp, and the resume: nothing answered is paid twice."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import summary
from tests.e2e.llama.conftest import TINY, killed_and_resumed, never_twice
from tests.e2e.llama.proxy import CountingProxy


def test_kill_9_and_resume_pays_for_nothing_twice(tmp_path: Path, proxy: CountingProxy) -> None:
    # 8 requests in generation 0: the kill after 3 answers lands in its middle
    args = [*TINY, "--scorer", "generate", "--dev-size", "4", "--result-dir", str(tmp_path)]
    args += ["--experiment-id", "kr"]
    killed_at = killed_and_resumed(proxy, args, answered=3, wait=300)
    assert summary(tmp_path, "kr")["status"] == "finished"
    never_twice(proxy, killed_at)
