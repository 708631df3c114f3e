"""A loglik run on llama.cpp, whose server refuses a list of prompts (one prompt a request),
killed with SIGKILL and resumed: only what was on the wire is asked again. It also stands for a
plain loglik run finishing: the resumed run is one."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import summary
from tests.e2e.llama.conftest import TINY, killed_and_resumed, never_twice
from tests.e2e.llama.proxy import CountingProxy


def test_loglik_kill_9_and_resume_asks_again_only_what_was_on_the_wire(
    tmp_path: Path, proxy: CountingProxy
) -> None:
    """Each label is one request here (about 13 s each): every answer received before the kill
    is journaled as it arrives, so the resume asks again only the one on the wire."""
    args = [*TINY, "--scorer", "loglik", "--dev-size", "1", "--max-generations", "0"]
    # two in flight at most: the requests a kill leaves queued are computed for nobody before
    # the resume's are served, minutes each on 2 cores
    args += ["--concurrency", "2", "--result-dir", str(tmp_path), "--experiment-id", "llk"]
    # the probe's answered request, then two labels' answers (8 in all: 2 prompts x 2 rows x
    # 2 labels, the content-free row included)
    killed_at = killed_and_resumed(proxy, args, answered=3, wait=600)
    doc = summary(tmp_path, "llk")
    assert doc["status"] == "finished"
    never_twice(proxy, killed_at)
    # every completion request the server saw is counted, the probe's and the lost ones too
    assert doc["api_stats"]["requests"] == sum(proxy.statuses.values())
    # the probe's list of prompts was refused once, and the resume read the probe's finding
    # from endpoint.json instead of probing again
    assert json.loads((tmp_path / "llk" / "endpoint.json").read_text())["loglik"] == "echo_single"
    assert proxy.statuses[500] == 1
