"""Two models, two roles: the operator endpoint writes the prompts (GA/DE operator calls and
paraphrases), the task endpoint scores them (dev and test). Every test runs the real CLI
against two loopback servers, one per role, each accepting only its own key, and counts what
each one was asked."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evoprompt.checkpoint.seal import MAC_FIELD
from evoprompt.runner.stored import write_config
from evoprompt.testing.server import FakeLLMServer, Faults
from tests.conftest import (
    FAST_RETRY,
    cli_env,
    duplicate_answers,
    outcome,
    run_cli,
    start_cli,
    summary,
    wait_for,
)

TASK_KEY, OPERATOR_KEY = "sk-task-7f3a9c", "sk-operator-51d2e8"
ARGS = ["--population-size", "4", "--max-generations", "2", "--dev-size", "16", "--seed", "7"]
ARGS += ["--batch-size", "4", "--test-size", "12", "--no-prune", *FAST_RETRY]
ARGS += ["--model", "scorer", "--operator-model", "writer"]


class Pair:
    """The task endpoint and the operator endpoint, each taking only its own key."""

    def __init__(self, task: Faults | None = None, operator: Faults | None = None):
        self.task = FakeLLMServer(faults=task or Faults(api_key=TASK_KEY)).start()
        self.operator = FakeLLMServer(faults=operator or Faults(api_key=OPERATOR_KEY)).start()

    def env(self) -> dict[str, str]:
        env = cli_env(self.task, key=TASK_KEY)
        env["EVOPROMPT_OPERATOR_API_KEY"] = OPERATOR_KEY
        return env

    def args(self, result_dir: Path, exp_id: str, *extra: str) -> list[str]:
        return [*ARGS, "--operator-base-url", self.operator.url, "--result-dir", str(result_dir),
                "--experiment-id", exp_id, *extra]  # fmt: skip

    def answered(self) -> int:
        return sum(s.stats().get("answered", 0) for s in (self.task, self.operator))

    def stop(self) -> None:
        self.task.stop()
        self.operator.stop()


@pytest.fixture
def pair() -> Iterator[Pair]:
    servers = Pair()
    try:
        yield servers
    finally:
        servers.stop()


def bodies(server: FakeLLMServer) -> list[dict[str, Any]]:
    return [json.loads(body) for body in server.answered_bodies]


def journal_rows(exp_dir: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(exp_dir / "journal.sqlite") as db:
        return db.execute("SELECT role, model, endpoint FROM responses").fetchall()


def no_secret_anywhere(result_dir: Path, *outputs: str) -> None:
    for secret in (TASK_KEY, OPERATOR_KEY):
        for text in outputs:
            assert secret not in text
        for path in result_dir.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path


@pytest.mark.parametrize("algorithm", ["ga", "de"])
def test_each_endpoint_gets_only_its_roles_requests(
    tmp_path: Path, pair: Pair, algorithm: str
) -> None:
    done = run_cli(pair.args(tmp_path, "two", "--algorithm", algorithm), pair.env())
    assert done.returncode == 0, done.stderr
    task, operator = pair.task.stats(), pair.operator.stats()
    # The operator wrote every prompt (paraphrase top-up and the algorithm's operator calls)
    # and scored nothing; the task model scored every dev and test row and wrote nothing.
    assert operator["answered"] == operator["answered_evolve"] > 0
    assert task["answered"] > 0 and "answered_evolve" not in task
    assert f"two models: writer ({pair.operator.url}) writes the prompts" in done.stderr
    asked = bodies(pair.operator)
    assert {b["model"] for b in asked} == {"writer"}
    assert {b["model"] for b in bodies(pair.task)} == {"scorer"}
    chats = ["\n".join(m["content"] for m in b["messages"]) for b in asked]
    assert any("Variation:" in c for c in chats)  # the paraphrase top-up (2 seeds, 4 prompts)
    word = "Basic Prompt" if algorithm == "de" else "Cross over"
    assert any(word in c for c in chats)
    doc = summary(tmp_path, "two")
    assert doc["test"]["size"] == 12  # the held-out phase ran, on the task model
    roles = doc["api_stats"]["roles"]
    assert roles["operator"]["calls"] == operator["answered"]
    assert roles["task"]["calls"] == task["answered"]
    rows = Counter(journal_rows(tmp_path / "two"))
    assert rows == {
        ("operator", "writer", f"openai {pair.operator.url}"): operator["answered"],
        ("task", "scorer", f"openai {pair.task.url}"): task["answered"],
    }
    status = run_cli(["status", "two", "--result-dir", str(tmp_path)], pair.env())
    assert status.returncode == 0, status.stderr
    line = next(x for x in status.stdout.splitlines() if x.strip().startswith("operator:"))
    assert f"calls {operator['answered']} " in line
    assert "Operator concurrency: learned" in status.stdout  # its own limiter, its own window
    report = run_cli(["report", "two", "--result-dir", str(tmp_path)], pair.env())
    assert report.returncode == 0, report.stderr
    html = (tmp_path / "two" / "report.html").read_text()
    assert "operator role" in html and "task role" in html
    no_secret_anywhere(tmp_path, done.stdout, done.stderr, status.stdout, report.stdout)


def kill_after_answers(pair: Pair, proc: subprocess.Popen[str], calls: int) -> bool:
    target = pair.answered() + calls
    wait_for(lambda: proc.poll() is not None or pair.answered() >= target, timeout=120)
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


def test_sigkill_at_random_moments_then_resume_asks_neither_endpoint_twice(
    tmp_path: Path,
) -> None:
    slow = {"latency": 0.03}
    reference = Pair(Faults(api_key=TASK_KEY, **slow), Faults(api_key=OPERATOR_KEY, **slow))
    try:
        done = run_cli(reference.args(tmp_path, "ref"), reference.env())
        assert done.returncode == 0, done.stderr
        total = reference.answered()
    finally:
        reference.stop()
    chooser = random.Random(20261206)
    pair = Pair(Faults(api_key=TASK_KEY, **slow), Faults(api_key=OPERATOR_KEY, **slow))
    kills = 0
    try:
        while kills < 8:
            proc = start_cli(pair.args(tmp_path, "victim"), pair.env())
            if not kill_after_answers(pair, proc, chooser.randint(1, total // 10)):
                break
            kills += 1
        final = run_cli(pair.args(tmp_path, "victim"), pair.env())
        assert final.returncode == 0, final.stderr
        twice = {role: duplicate_answers(s) for role, s in
                 (("task", pair.task), ("operator", pair.operator))}  # fmt: skip
        operator_bodies = bodies(pair.operator)
    finally:
        pair.stop()
    assert kills >= 6
    doc = summary(tmp_path, "victim")
    assert outcome(doc) == outcome(summary(tmp_path, "ref"))
    # Only what was on the wire at a kill (at most `concurrency` = 8 per endpoint) is asked
    # again, and the journal counts it as lost in flight, in the role that sent it.
    stats = doc["api_stats"]
    for role in ("task", "operator"):
        assert twice[role] <= stats["roles"][role]["lost_in_flight"], role
    assert stats["lost_in_flight"] == sum(r["lost_in_flight"] for r in stats["roles"].values())
    assert twice["task"] <= kills * 8 and twice["operator"] <= kills * 8
    # No role's request ever went to the other's endpoint, across every resume.
    assert all(b["model"] == "writer" for b in operator_bodies)


def test_operator_budget_stops_naming_the_role_and_resumes(tmp_path: Path, pair: Pair) -> None:
    reference = run_cli(pair.args(tmp_path, "ref"), pair.env())
    assert reference.returncode == 0, reference.stderr
    stopped = run_cli(pair.args(tmp_path, "capped", "--operator-max-calls", "3"), pair.env())
    assert stopped.returncode == 75, stopped.stderr
    assert "operator call budget reached" in stopped.stderr
    assert "--operator-max-calls" in stopped.stderr
    doc = summary(tmp_path, "capped")
    assert doc["api_stats"]["roles"]["operator"]["calls"] == 3
    assert doc["status"] == "interrupted"  # a budget stop, resumable
    resumed = run_cli(pair.args(tmp_path, "capped", "--operator-max-calls", "100"), pair.env())
    assert resumed.returncode == 0, resumed.stderr
    assert outcome(summary(tmp_path, "capped")) == outcome(summary(tmp_path, "ref"))


def test_fork_changing_only_the_operator_reasks_only_the_operator(tmp_path: Path) -> None:
    # An operator deaf to the sampling seed: a new operator model answers the same children.
    pair = Pair(operator=Faults(api_key=OPERATOR_KEY, ignore_seed=True))
    try:
        done = run_cli(pair.args(tmp_path, "src"), pair.env())
        assert done.returncode == 0, done.stderr
        task_before, operator_before = pair.task.stats(), pair.operator.stats()
        fork = ["fork", "src", "--at-generation", "1", "--operator-model", "writer2"]
        forked = run_cli(
            [*fork, "--experiment-id", "f1", "--result-dir", str(tmp_path)], pair.env()
        )
        assert forked.returncode == 0, forked.stderr
        task_after, operator_after = pair.task.stats(), pair.operator.stats()
        new_bodies = bodies(pair.operator)
    finally:
        pair.stop()
    # The same children came out, so their scoring (dev and test) is all in the journal copy.
    assert task_after["requests"] == task_before["requests"]
    asked = operator_after["answered"] - operator_before["answered"]
    assert 0 < asked <= operator_before["answered"]
    assert {b["model"] for b in new_bodies} == {"writer", "writer2"}
    assert outcome(summary(tmp_path, "f1")) == outcome(summary(tmp_path, "src"))


def test_fork_changing_only_the_task_model_reuses_every_operator_answer(
    tmp_path: Path, pair: Pair
) -> None:
    done = run_cli(pair.args(tmp_path, "src"), pair.env())
    assert done.returncode == 0, done.stderr
    operator_before = pair.operator.stats()["requests"]
    fork = ["fork", "src", "--at-generation", "0", "--model", "scorer2"]
    forked = run_cli([*fork, "--experiment-id", "f0", "--result-dir", str(tmp_path)], pair.env())
    assert forked.returncode == 0, forked.stderr
    assert pair.operator.stats()["requests"] == operator_before
    assert {b["model"] for b in bodies(pair.task)} == {"scorer", "scorer2"}
    config = json.loads((tmp_path / "f0" / "config.json").read_text())
    assert (config["model"], config["operator_model"]) == ("scorer2", "writer")


@pytest.mark.parametrize("algorithm", ["ga", "de"])
def test_dry_run_bills_each_role_close_to_what_the_run_spends(
    tmp_path: Path, pair: Pair, algorithm: str
) -> None:
    # Three generations of six: enough operator calls (paraphrases, breeding) that one child
    # asked again is not a tenth of the role's bill.
    args = pair.args(tmp_path, "billed", "--algorithm", algorithm, "--population-size", "6")
    args += ["--max-generations", "3"]
    dry = run_cli([*args, "--dry-run", "--json"], pair.env())
    assert dry.returncode == 0, dry.stderr
    assert pair.answered() == 0  # the bill asked nobody
    text = run_cli([*args, "--dry-run"], pair.env())
    assert "operator total" in text.stdout and "task total" in text.stdout
    assert "prompts by writer (openai)" in text.stdout
    done = run_cli(args, pair.env())
    assert done.returncode == 0, done.stderr
    bill = json.loads(dry.stdout)["roles"]
    # What each endpoint billed: the tokens of the messages' text and the chat format, as a
    # real server counts them (evoprompt/testing/wire.py), not the bill's 4 characters a token.
    spent = {role: server.stats() for role, server in
             (("task", pair.task), ("operator", pair.operator))}  # fmt: skip
    for role in ("task", "operator"):
        for figure, counted in (("calls", "answered"), ("prompt_tokens", "prompt_tokens")):
            actual = spent[role][counted]
            assert abs(bill[role][figure] - actual) <= 0.1 * actual, (role, figure)
        # An answer's length is the model's choice: a fresh bill prices a label's tokens and
        # an operator reply at two prompts' worth, on the high side, never far below.
        actual = spent[role]["completion_tokens"]
        assert 0.9 * actual <= bill[role]["completion_tokens"] <= 1.3 * actual, role
        # ...and the role's tokens in all, what a token budget counts, within 10%
        billed = bill[role]["prompt_tokens"] + bill[role]["completion_tokens"]
        actual = spent[role]["prompt_tokens"] + spent[role]["completion_tokens"]
        assert abs(billed - actual) <= 0.1 * actual, (role, billed, actual)
    assert bill["operator"]["calls"] + bill["task"]["calls"] == json.loads(dry.stdout)["calls"]
    roles = summary(tmp_path, "billed")["api_stats"]["roles"]
    assert roles["task"]["prompt_tokens"] == spent["task"]["prompt_tokens"]


def test_an_unsigned_folder_cannot_send_the_operator_key_elsewhere(
    tmp_path: Path, pair: Pair
) -> None:
    done = run_cli(pair.args(tmp_path, "two", "--max-generations", "1"), pair.env())
    assert done.returncode == 0, done.stderr
    path = tmp_path / "two" / "config.json"
    with FakeLLMServer() as evil:
        doc = json.loads(path.read_text())
        doc["operator_base_url"] = evil.url  # edited: the signature no longer holds
        path.write_text(json.dumps(doc))
        plain = ["--experiment-id", "two", "--result-dir", str(tmp_path), "--max-generations", "2"]
        refused = run_cli(plain, pair.env())
        assert refused.returncode == 2, refused.stderr
        assert f"operator_base_url = '{evil.url}'" in refused.stderr
        assert "--trust-folder" in refused.stderr
        assert evil.stats().get("requests", 0) == 0
        assert json.loads(path.read_text()) == doc  # nothing changed
        # Given the operator endpoint on the command line, it runs there, and only there.
        confirmed = run_cli([*plain, "--operator-base-url", pair.operator.url], pair.env())
        assert confirmed.returncode == 0, confirmed.stderr
        assert evil.stats().get("requests", 0) == 0


def test_an_operator_outage_pauses_breeding_and_loses_nothing(tmp_path: Path) -> None:
    reference = Pair()
    try:
        done = run_cli(reference.args(tmp_path, "ref"), reference.env())
        assert done.returncode == 0, done.stderr
    finally:
        reference.stop()
    pair = Pair(operator=Faults(api_key=OPERATOR_KEY, latency=0.05))
    try:
        proc = start_cli(pair.args(tmp_path, "paused"), pair.env())
        # the paraphrase top-up answered: the operator endpoint is known to be up; then it goes
        wait_for(lambda: pair.operator.stats().get("answered", 0) >= 2, timeout=60)
        pair.operator.set_faults(down=True)
        wait_for(lambda: len(pair.operator.models_at) >= 2, timeout=60)  # probed, paused
        assert proc.poll() is None  # the run waits for its operator, it does not end
        pair.operator.set_faults(down=False)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        task_probes = len(pair.task.models_at)
        twice = duplicate_answers(pair.task) + duplicate_answers(pair.operator)
    finally:
        pair.stop()
    assert outcome(summary(tmp_path, "paused")) == outcome(summary(tmp_path, "ref"))
    assert task_probes == 0  # only the endpoint that was away was probed
    assert twice == 0  # nothing answered was asked again


def test_an_experiment_from_before_the_task_line_goes_on_with_its_own_templates(
    tmp_path: Path, pair: Pair
) -> None:
    """A config.json written before ``{task}`` (no task_description, templates 'evoprompt')
    was bred without the task line: extending it asks nothing its journal answers and ends as
    a run made with those templates throughout."""
    old = ["--templates", "evoprompt-v1"]
    apart = Pair()  # the straight run's calls are not the extended one's
    try:
        straight = run_cli(apart.args(tmp_path, "straight", *old), apart.env())
        assert straight.returncode == 0, straight.stderr
    finally:
        apart.stop()
    first = run_cli(pair.args(tmp_path, "old", *old, "--max-generations", "1"), pair.env())
    assert first.returncode == 0, first.stderr
    doc = json.loads((tmp_path / "old" / "config.json").read_text())
    del doc["task_description"], doc[MAC_FIELD]
    write_config(tmp_path / "old", {**doc, "templates": "evoprompt"})  # as an older version
    before = Counter(pair.operator.answered_bodies)
    extended = run_cli(
        ["--experiment-id", "old", "--result-dir", str(tmp_path), "--max-generations", "2"],
        pair.env(),
    )
    assert extended.returncode == 0, extended.stderr
    asked = Counter(pair.operator.answered_bodies) - before
    assert not any("Task of the prompts" in body for body in asked)
    assert outcome(summary(tmp_path, "old")) == outcome(summary(tmp_path, "straight"))
    assert duplicate_answers(pair.task) == duplicate_answers(pair.operator) == 0


def test_a_sweeps_operator_budget_holds_for_all_its_cells(tmp_path: Path, pair: Pair) -> None:
    sweep = tmp_path / "s.toml"
    sweep.write_text(
        "max_generations = 1\npopulation_size = 4\ndev_size = 12\ntest_size = 8\n"
        f'[operator]\nmodel = "writer"\nbase_url = "{pair.operator.url}"\nmax_calls = 5\n'
        "[grid]\nseed = [1, 2, 3]\n"
    )
    done = run_cli(["sweep", str(sweep), "--result-dir", str(tmp_path / "res")], pair.env())
    assert done.returncode == 75, done.stderr
    assert "operator call budget reached (5 calls" in done.stderr
    assert pair.operator.stats()["answered"] == 5  # five in all, not five per cell
