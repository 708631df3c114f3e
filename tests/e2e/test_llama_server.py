"""Against a server nobody here wrote: llama-cpp-python's ``llama_cpp.server`` on the embedded
Gemma GGUF, behind a counting proxy (every answered request body, and how often).

Kept small for 2 cores. Skipped where ``llama-cpp-python[server]`` is not installed (it is in
the ``test`` extra).
"""

from __future__ import annotations

import importlib.util
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import cli_env, main_cmd, run_cli, summary, wait_for
from tests.e2e.llama_proxy import CountingProxy

# Found, not imported: importing llama_cpp loads its own libggml into the test process, and the
# embedded backend's llama.cpp (tests/llm/test_local.py) would then bind to the wrong one.
if importlib.util.find_spec("llama_cpp") is None:
    pytest.skip("needs pip install 'llama-cpp-python[server]'", allow_module_level=True)
pytestmark = [pytest.mark.llama_server, pytest.mark.slow, pytest.mark.timeout(900)]

TINY = ["--population-size", "2", "--max-generations", "1", "--seed", "5", "--model", "gemma"]
# A timeout long enough that no request is abandoned while queued (the server would go on
# computing it, and the counting proxy would see its answer once more on the retry).
TINY += ["--timeout", "600", "--retry-delay", "0.5", "--max-retry-wait", "2"]
# No held-out phase: these check the endpoint's compatibility, and each echo request takes
# seconds on llama.cpp (a default 500-row test phase would take hours).
TINY += ["--test-size", "0"]


class LlamaServer:
    """``python -m llama_cpp.server`` on a fixed port, so a restart comes back at the same URL."""

    def __init__(self) -> None:
        from evoprompt.llm.gemma_files import ensure_model

        self.model = ensure_model()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = ["--model", str(self.model), "--port", str(self.port), "--n_ctx", "1024"]
        args += ["--n_threads", "2", "--verbose", "False"]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._up, timeout=120, step=0.2)

    def _up(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.port}/v1/models"
            with urllib.request.urlopen(url, timeout=2) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None


@pytest.fixture(scope="module")
def llama() -> Iterator[LlamaServer]:
    server = LlamaServer()
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def proxy(llama: LlamaServer) -> Iterator[CountingProxy]:
    counting = CountingProxy(llama.port)
    try:
        yield counting
    finally:
        counting.stop()


def env(proxy: CountingProxy) -> dict[str, str]:
    found = cli_env(None)
    found.update(OPENAI_BASE_URL=proxy.url, OPENAI_API_KEY="none")
    return found


def never_twice(proxy: CountingProxy, killed_at: float = float("inf")) -> None:
    """No answered body was answered again. With a run killed at ``killed_at``, the requests
    on the wire then are exempt: the server finished them for a dead client, whose journal
    never got them (the second before the kill too: an answer may be on its way in)."""
    repeated = [
        json.loads(b)
        for b, n in proxy.answered.items()
        if n > 1 and proxy.first_answered[b] < killed_at - 1.0
    ]
    assert not repeated, f"answered twice: {repeated[:2]}"


def test_a_generate_run_finishes(tmp_path: Path, proxy: CountingProxy) -> None:
    args = [*TINY, "--scorer", "generate", "--dev-size", "6", "--result-dir", str(tmp_path)]
    done = run_cli([*args, "--experiment-id", "gen"], env(proxy), timeout=800)
    assert done.returncode == 0, done.stderr[-2000:]
    assert summary(tmp_path, "gen")["status"] == "finished"
    never_twice(proxy)


def test_a_loglik_run_finishes_one_prompt_per_request(tmp_path: Path, proxy: CountingProxy) -> None:
    args = [*TINY, "--scorer", "loglik", "--dev-size", "3", "--result-dir", str(tmp_path)]
    done = run_cli([*args, "--experiment-id", "ll"], env(proxy), timeout=800)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((tmp_path / "ll" / "endpoint.json").read_text())["loglik"] == "echo_single"
    assert proxy.statuses[500] == 1  # the probe's list of prompts, refused once, never again
    never_twice(proxy)


def test_kill_9_and_resume_pays_for_nothing_twice(tmp_path: Path, proxy: CountingProxy) -> None:
    args = [*TINY, "--scorer", "generate", "--dev-size", "8", "--result-dir", str(tmp_path)]
    args += ["--experiment-id", "kr"]
    run = subprocess.Popen(
        main_cmd(*args), env=env(proxy), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_for(lambda: sum(proxy.answered.values()) >= 6, timeout=300, step=0.1)
    run.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    run.wait()
    done = run_cli(args, env(proxy), timeout=800)
    assert done.returncode == 0, done.stderr[-2000:]
    assert summary(tmp_path, "kr")["status"] == "finished"
    never_twice(proxy, killed_at)


def test_loglik_kill_9_and_resume_asks_again_only_what_was_on_the_wire(
    tmp_path: Path, proxy: CountingProxy
) -> None:
    """Each label is one request here (about 13 s each): every answer received before the kill
    is journaled as it arrives, so the resume asks again only the one on the wire."""
    args = [*TINY, "--scorer", "loglik", "--dev-size", "1", "--max-generations", "0"]
    # two in flight at most: the requests a kill leaves queued are computed for nobody before
    # the resume's are served, minutes each on 2 cores
    args += ["--concurrency", "2", "--result-dir", str(tmp_path), "--experiment-id", "llk"]
    run = subprocess.Popen(
        main_cmd(*args), env=env(proxy), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    # the probe's answered request, then two labels' answers (8 in all: 2 prompts x 2 rows x
    # 2 labels, the content-free row included)
    wait_for(lambda: sum(proxy.answered.values()) >= 3, timeout=600, step=0.1)
    run.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    run.wait()
    done = run_cli(args, env(proxy), timeout=800)
    assert done.returncode == 0, done.stderr[-2000:]
    doc = summary(tmp_path, "llk")
    assert doc["status"] == "finished"
    never_twice(proxy, killed_at)
    # every completion request the server saw is counted, the probe's and the lost ones too
    assert doc["api_stats"]["requests"] == sum(proxy.statuses.values())


def test_the_server_killed_and_restarted_mid_run(
    tmp_path: Path, proxy: CountingProxy, llama: LlamaServer
) -> None:
    args = [*TINY, "--scorer", "generate", "--dev-size", "8", "--result-dir", str(tmp_path)]
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
