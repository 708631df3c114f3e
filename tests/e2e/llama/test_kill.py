"""kill -9 of a generate run on llama.cpp, and the resume: nothing answered is paid twice."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from tests.conftest import main_cmd, run_cli, summary, wait_for
from tests.e2e.llama.conftest import TINY, env, never_twice
from tests.e2e.llama.proxy import CountingProxy


def test_kill_9_and_resume_pays_for_nothing_twice(tmp_path: Path, proxy: CountingProxy) -> None:
    # 8 requests in generation 0: the kill after 3 answers lands in its middle
    args = [*TINY, "--scorer", "generate", "--dev-size", "4", "--result-dir", str(tmp_path)]
    args += ["--experiment-id", "kr"]
    run = subprocess.Popen(
        main_cmd(*args), env=env(proxy), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_for(lambda: sum(proxy.answered.values()) >= 3, timeout=300, step=0.1)
    run.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    run.wait()
    done = run_cli(args, env(proxy), timeout=800)
    assert done.returncode == 0, done.stderr[-2000:]
    assert summary(tmp_path, "kr")["status"] == "finished"
    never_twice(proxy, killed_at)
