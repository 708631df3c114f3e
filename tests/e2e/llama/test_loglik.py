"""A loglik run on llama.cpp, whose server refuses a list of prompts: one prompt a request."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli
from tests.e2e.llama.conftest import TINY, env, never_twice
from tests.e2e.llama.proxy import CountingProxy


def test_a_loglik_run_finishes_one_prompt_per_request(tmp_path: Path, proxy: CountingProxy) -> None:
    # one row (two with the content-free one): 17 requests after the probe's refused list,
    # each taking seconds, every one of them a single prompt
    args = [*TINY, "--scorer", "loglik", "--dev-size", "1", "--result-dir", str(tmp_path)]
    done = run_cli([*args, "--experiment-id", "ll"], env(proxy), timeout=800)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((tmp_path / "ll" / "endpoint.json").read_text())["loglik"] == "echo_single"
    assert proxy.statuses[500] == 1  # the probe's list of prompts, refused once, never again
    never_twice(proxy)
