"""The llama.cpp server killed and restarted under a generate run: the run rides it out (or
exits 75 and a resume finishes it), no answered request asked twice."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from tests.conftest import main_cmd, run_cli, summary, wait_for
from tests.e2e.llama.conftest import TINY, LlamaServer, env, never_twice
from tests.e2e.llama.proxy import CountingProxy


def test_the_server_killed_and_restarted_mid_run(
    tmp_path: Path, proxy: CountingProxy, llama: LlamaServer
) -> None:
    # 8 requests in generation 0: the server goes down after 4 answers, in its middle
    args = [*TINY, "--scorer", "generate", "--dev-size", "4", "--result-dir", str(tmp_path)]
    args += ["--experiment-id", "down"]
    run = subprocess.Popen(
        main_cmd(*args),
        env=env(proxy),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: sum(proxy.answered.values()) >= 4, timeout=300, step=0.1)
        llama.kill()
        time.sleep(3)
        llama.start()
        _, stderr = run.communicate(timeout=800)
    finally:
        if run.poll() is None:
            run.kill()
    if run.returncode == 75:  # gave up before the server came back: a resume finishes it
        done = run_cli(args, env(proxy), timeout=800)
        assert done.returncode == 0, done.stderr[-2000:]
    else:
        assert run.returncode == 0, stderr[-2000:]
        assert proxy.gets[200] >= 1  # the outage was probed with the model list
    assert summary(tmp_path, "down")["status"] == "finished"
    never_twice(proxy)
