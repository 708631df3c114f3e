"""The session layer in-process: the stop path (drain, then save), and finished experiments."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from pathlib import Path

from evoprompt.checkpoint.journal_rows import journal_stats, open_readonly
from evoprompt.checkpoint.layout import Layout
from evoprompt.config import Config
from evoprompt.llm.backends import settle
from evoprompt.runner.session import Outcome, Session
from evoprompt.testing.server import FakeLLMServer, Faults


def config_for(server: FakeLLMServer, result_dir: Path) -> Config:
    config = Config(
        base_url=server.url,
        result_dir=str(result_dir),
        population_size=4,
        max_generations=2,
        dev_size=32,
        batch_size=4,
        concurrency=4,
        retry_delay=0.01,
    )
    config = settle(config, "sk-test").config
    return config


def run_and_stop(session: Session, layout: Layout, requests: int) -> tuple[Outcome, float]:
    """Run until the first batch file exists, ask ``requests`` times to stop, await the end."""

    async def main() -> tuple[Outcome, float]:
        state = session.open()
        task = asyncio.ensure_future(session.run(state))
        while not (layout.batches.is_dir() and any(layout.batches.iterdir())):
            await asyncio.sleep(0.01)
        asked = time.monotonic()
        for _ in range(requests):
            session.request_stop(signal.SIGINT)
        return await task, time.monotonic() - asked

    return asyncio.run(main())


def test_a_stop_lets_calls_on_the_wire_land_then_saves_interrupted(tmp_path: Path) -> None:
    with FakeLLMServer(faults=Faults(latency=0.05)) as server:
        layout = Layout(tmp_path / "exp")
        config = config_for(server, tmp_path)
        with Session(config, layout.exp_dir, "sk-test", resuming=False, grace_s=60.0) as session:
            outcome, _ = run_and_stop(session, layout, requests=1)
        answered = server.counts["answered"]
    assert outcome.kind == "interrupted" and session.stop_reason == signal.SIGINT
    latest = json.loads(layout.latest.read_text())
    assert latest["metadata"]["stage"] == "interrupted"
    assert json.loads(layout.summary.read_text())["status"] == "interrupted"
    with contextlib.closing(open_readonly(layout.journal)) as db:
        stats = journal_stats(db)
    # Nothing paid for was lost: every answer the server gave is in the journal.
    assert stats["succeeded"] == answered and stats["failed"] == 0
    assert outcome.cursor.generation == 0  # stopped inside the initial population


def test_a_second_stop_request_cancels_without_waiting_for_the_grace(tmp_path: Path) -> None:
    with FakeLLMServer(faults=Faults(latency=0.05)) as server:
        layout = Layout(tmp_path / "exp")
        config = config_for(server, tmp_path)
        with Session(config, layout.exp_dir, "sk-test", resuming=False, grace_s=600.0) as session:
            outcome, waited = run_and_stop(session, layout, requests=2)
    assert outcome.kind == "interrupted"
    assert waited < 60.0  # far below the 600 s grace: the second request cancelled at once
    assert json.loads(layout.latest.read_text())["metadata"]["stage"] == "interrupted"


def test_a_finished_experiment_is_recognised_on_resume(tmp_path: Path) -> None:
    with FakeLLMServer() as server:
        exp_dir = tmp_path / "exp"
        config = config_for(server, tmp_path)
        with Session(config, exp_dir, "sk-test", resuming=False) as session:
            state = session.open()
            assert asyncio.run(session.run(state)).kind == "finished"
        with Session(config, exp_dir, "sk-test", resuming=True) as again:
            state = again.open()
            assert again.is_finished(state)
            assert again.resume is not None and again.resume.source == "latest.json"
            # nothing was resumed: recovery.log records resumes, and the cursor stays put
            assert again.resume.generation == config.max_generations
        assert not Layout(exp_dir).recovery_log.exists()
