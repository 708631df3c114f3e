"""The held-out test phase end to end: the real CLI against the test endpoint."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from evoprompt.config import Config
from evoprompt.metrics.accuracy import verbalize
from evoprompt.runner.task import load_task
from evoprompt.testing.answers import INPUT, is_evolution, last
from evoprompt.testing.server import FakeLLMServer
from evoprompt.testing.wire import chat_content
from tests.conftest import (
    FAST_RETRY,
    ROOT,
    cli_env,
    make_server,
    outcome,
    run_cli,
    run_printed,
    start_cli,
    summary,
    wait_for,
)

SIZES = {"population_size": 4, "max_generations": 2, "dev_size": 32, "test_size": 60, "seed": 7}
ARGS = [f"--{k.replace('_', '-')}={v}" for k, v in SIZES.items()]
LABELS = ("negative", "positive")


def args(result_dir: Path, exp_id: str, *extra: str) -> list[str]:
    return [*ARGS, "--batch-size", "8", *FAST_RETRY, "--result-dir", str(result_dir),
            "--experiment-id", exp_id, *extra]  # fmt: skip


def run(server: FakeLLMServer, *argv: str) -> subprocess.CompletedProcess[str]:
    done = run_cli(list(argv), cli_env(server))
    assert done.returncode == 0, done.stderr
    return done


def asked(server: FakeLLMServer) -> dict[str, list[str]]:
    """Input texts of every answered scoring request, by instruction (counted at the server)."""
    found: dict[str, list[str]] = {}
    for body, count in server.answered_bodies.items():
        content = chat_content(json.loads(body))
        if is_evolution(content):
            continue
        instruction = content.split("\nPossible answers:")[0]
        found.setdefault(instruction, []).extend([last(INPUT, content) or ""] * count)
    return found


def recomputed(server: FakeLLMServer, prompt: str, texts: tuple[str, ...]) -> float:
    """A prompt's accuracy on ``texts`` from the endpoint's own answers."""
    right = 0
    for text in texts:
        content = f"{prompt}\nPossible answers: {', '.join(LABELS)}.\n\nInput: {text}\nAnswer:"
        reply = server.answers.chat(content, "")[1]
        right += verbalize(reply, LABELS) == server.truth[text]
    return right / len(texts)


def test_test_rows_are_disjoint_from_dev_and_scores_match_the_endpoint(tmp_path: Path) -> None:
    with FakeLLMServer() as server:
        done = run(server, *args(tmp_path, "split"))
        by_prompt = asked(server)
    task = load_task(Config(**SIZES))  # type: ignore[arg-type]
    assert task.test is not None
    dev, test = set(task.dev.texts), set(task.test.data.texts)
    doc = summary(tmp_path, "split")["test"]
    assert doc["size"] == len(test) == 60 and doc["source"] == "sentiment"
    assert [r["role"] for r in doc["results"]][:3] == ["best", "seed", "seed"]
    for result in doc["results"]:
        texts = by_prompt[result["prompt"]]
        # every tested prompt was asked each dev row and each test row exactly once, and the
        # two sets of rows share no text
        assert len(texts) == len(set(texts)) == 32 + 60
        assert set(texts) == dev | test and not dev & test
        assert result["test_fitness"] == recomputed(server, result["prompt"], task.test.data.texts)
        assert result["ci_low"] <= result["test_fitness"] <= result["ci_high"]
    comparison = doc["comparison"]
    assert comparison["method"] == "mcnemar-exact"
    assert (
        comparison["baseline_prompt"] == doc["results"][1]["prompt"]
        or comparison["baseline_prompt"] == doc["results"][2]["prompt"]
    )
    best = doc["results"][0]["test_fitness"]
    base = next(r for r in doc["results"] if r["prompt"] == comparison["baseline_prompt"])
    assert abs(comparison["delta"] - (best - base["test_fitness"])) < 1e-12
    assert "\ntest (n=60): best " in done.stdout
    assert "majority-class baseline" in done.stdout and "gap" in done.stdout
    header = (tmp_path / "split" / "generations.csv").read_text().splitlines()[0]
    assert header == (
        "generation,best_fitness,mean_fitness,best_prompt,evaluated,duration_s,"
        "diversity,calls,tokens,cost_usd,pruned_share"
    )
    batches = sorted(p.name for p in (tmp_path / "split" / "checkpoints" / "batches").iterdir())
    assert [b for b in batches if b.startswith("test")] == [
        f"test1_batch{i}.json" for i in range(8)
    ]


@pytest.mark.parametrize(
    "shape",
    [(), ("--max-generations", "0", "--population-size", "2")],  # seeds only: best = baseline
    ids=["evolved", "seeds-only"],
)
def test_test_seeds_best_judges_the_baseline_alone_and_the_dry_run_bills_it(
    tmp_path: Path, shape: tuple[str, ...]
) -> None:
    """``--test-seeds best``: the test rows go only to the best prompt, the best seed by dev
    (the baseline) and the top K; the bill's test phase counts exactly those requests."""
    extra = ("--test-seeds", "best", "--test-top-k", "1", "--no-prune", *shape)
    with FakeLLMServer() as server:
        plan = run(server, *args(tmp_path, "best-seed", *extra), "--dry-run", "--json")
        run(server, *args(tmp_path, "best-seed", *extra))
        by_prompt = asked(server)
    doc = summary(tmp_path, "best-seed")["test"]
    roles = [r["role"] for r in doc["results"]]
    assert roles[0] == "best" and roles.count("seed") == (0 if shape else 1)
    baseline = (
        doc["results"][0] if shape else next(r for r in doc["results"] if r["role"] == "seed")
    )
    assert doc["comparison"]["baseline_prompt"] == baseline["prompt"]
    tested = {p for p, texts in by_prompt.items() if len(texts) > 32}
    assert tested == {r["prompt"] for r in doc["results"]}
    test_phase = next(p for p in json.loads(plan.stdout)["phases"] if p["phase"] == "test phase")
    assert test_phase["calls"] == len(doc["results"]) * 60


def test_kill_9_in_the_test_phase_resumes_to_the_identical_summary(tmp_path: Path) -> None:
    with FakeLLMServer() as server:
        run(server, *args(tmp_path / "ref", "ref"))
    reference = summary(tmp_path / "ref", "ref")
    server = make_server(latency=0.02)
    try:
        proc = start_cli(args(tmp_path, "victim"), cli_env(server))
        first = tmp_path / "victim" / "checkpoints" / "batches" / "test1_batch1.json"
        wait_for(first.exists, timeout=120)
        proc.kill()
        proc.wait()
        latest = json.loads((tmp_path / "victim" / "checkpoints" / "latest.json").read_text())
        assert latest["metadata"]["stage"].startswith("test_1_batch_")
        resumed = run(server, *args(tmp_path, "victim"))
        duplicates = sum(n - 1 for n in server.answered_bodies.values())
    finally:
        server.stop()
    doc = summary(tmp_path, "victim")
    assert doc["status"] == "finished"
    assert outcome(doc) == outcome(reference)
    assert doc["test"] == reference["test"] and doc["test_history"] == []
    assert duplicates <= 8  # only requests on the wire at the kill
    assert "test (n=60)" in resumed.stdout


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT])
def test_a_stopped_main_test_goes_on_with_the_same_command(
    tmp_path: Path, stop: signal.Signals
) -> None:
    """Killed or interrupted, ``main.py test`` leaves the experiment finished: the printed
    command (the same one) scores what is left, the journal answering what was asked."""
    server = make_server(latency=0.02)
    try:
        env = cli_env(server)
        run(server, *args(tmp_path, "t", "--test-size", "0"))
        command = ["test", "t", "--result-dir", str(tmp_path), "--test-size", "60"]
        proc = start_cli(command, env)
        later = tmp_path / "t" / "checkpoints" / "batches" / "test1_batch2.json"
        wait_for(later.exists, timeout=120)  # test batches saved: latest.json written by them
        before = server.stats()["answered"]
        proc.send_signal(stop)
        _, err = proc.communicate(timeout=60)
        if stop == signal.SIGINT:
            assert proc.returncode == 130, err
            assert "Resume with: " in err and " main.py test t " in err
            again = run_printed(err, env)
        else:
            again = run_cli(command, env)
        duplicates = sum(n - 1 for n in server.answered_bodies.values())
    finally:
        server.stop()
    assert before > 0
    assert again.returncode == 0, again.stderr
    assert "Recorded in" in again.stdout
    doc = summary(tmp_path, "t")
    assert doc["status"] == "finished" and doc["test"]["size"] == 60
    assert duplicates <= Config().concurrency  # at most the requests on the wire at the kill
    if stop == signal.SIGINT:
        assert duplicates == 0  # those landed within the grace, journaled


def test_main_test_twice_calls_only_the_first_time(tmp_path: Path) -> None:
    data = pd.read_csv(Path("evoprompt/data/sentiment.csv").resolve(), dtype=str)
    task = load_task(Config(**{**SIZES, "test_size": 0}))  # type: ignore[arg-type]
    repeated = list(task.dev.texts[:3])  # three dev texts also in the test file: dropped
    fresh = data[~data["text"].isin(task.dev.texts)].head(20)
    rows = pd.concat([data[data["text"].isin(repeated)], fresh])
    path = tmp_path / "held.csv"
    rows.to_csv(path, index=False)
    with FakeLLMServer() as server:
        run(server, *args(tmp_path, "later", "--test-size", "0"))
        assert summary(tmp_path, "later")["test"] is None
        before = server.stats()["answered"]
        command = ["test", "later", "--result-dir", str(tmp_path), "--test-dataset", str(path)]
        first = run(server, *command)
        paid = server.stats()["answered"] - before
        second = run(server, *command)
        assert server.stats()["answered"] - before == paid > 0
        status = run(server, "status", "later", "--result-dir", str(tmp_path))
        rerun = run(server, *args(tmp_path, "later", "--test-size", "0"))
        assert server.stats()["answered"] - before == paid
    doc = summary(tmp_path, "later")
    assert doc["status"] == "finished"
    test = doc["test"]
    assert (test["size"], test["source"], test["dropped_duplicates"]) == (20, str(path), 3)
    assert paid == 20 * len(test["results"])  # every finalist on every new row, once
    assert first.stdout.splitlines()[0].startswith("test (n=20): best ")
    assert "Already tested" in second.stdout and "no call" in second.stdout
    assert "Held-out test (n=20)" in status.stdout
    assert "already finished" in rerun.stderr
    (report,) = [line.strip() for line in first.stdout.splitlines() if " report later" in line]
    pasted = subprocess.run(
        ["bash", "-c", report], cwd=ROOT, env=cli_env(None), capture_output=True
    )
    assert pasted.returncode == 0 and (tmp_path / "later" / "report.html").is_file()


def test_extension_tests_the_new_finalists_and_keeps_the_history(tmp_path: Path) -> None:
    with FakeLLMServer() as server:
        run(server, *args(tmp_path, "grow", "--max-generations", "1"))
        first = summary(tmp_path, "grow")["test"]
        run(server, *args(tmp_path, "grow", "--max-generations", "2"))
        given = run(
            server,
            *["test", "grow", "--result-dir", str(tmp_path), "--prompt", "Be an expert."],
        )
    doc = summary(tmp_path, "grow")
    assert [t["generation"] for t in doc["test_history"]] == [1, 2]
    assert doc["test_history"][0] == first
    assert [r["role"] for r in doc["test"]["results"]] == ["given", "seed"]
    assert doc["test"]["results"][0]["dev_fitness"] is None
    assert "test (n=60): prompt " in given.stdout
    batches = {p.name[:5] for p in (tmp_path / "grow" / "checkpoints" / "batches").iterdir()}
    assert {"test1", "test2", "test3"} <= batches


def test_bad_test_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = cli_env(None)
    missing = run_cli([*args(tmp_path, "bad"), "--test-dataset", "nope.csv"], env)
    last_line = missing.stderr.splitlines()[-1]
    assert missing.returncode == 2 and last_line.startswith("error: dataset nope.csv")
    unknown = run_cli(["test", "ghost", "--result-dir", str(tmp_path)], env)
    assert unknown.returncode == 2 and "no experiment 'ghost'" in unknown.stderr
    labels = tmp_path / "labels.csv"
    labels.write_text("text,label\nsomething new,neutral\n")
    wrong = run_cli([*args(tmp_path, "bad"), "--test-dataset", str(labels)], env)
    assert (
        wrong.returncode == 2 and "not in the label set: neutral" in wrong.stderr.splitlines()[-1]
    )
    assert not (tmp_path / "bad").exists()


def test_repeated_texts_are_asked_and_counted_once(tmp_path: Path) -> None:
    """30 rows of the data repeat an earlier text: n, the intervals and the paired test count
    each text once (a repeat is one answer counted twice), and the verdict says how many."""
    builtin = Path(__file__).resolve().parents[2] / "evoprompt" / "data" / "sentiment.csv"
    rows = pd.read_csv(builtin)
    data = tmp_path / "repeats.csv"
    pd.concat([rows, rows.iloc[::6].head(30)]).to_csv(data, index=False)
    distinct = rows["text"].nunique()
    with FakeLLMServer() as server:
        done = run(server, *args(tmp_path, "repeats", "--dataset", str(data), "--test-size", "500"))
        by_prompt = asked(server)
    doc = summary(tmp_path, "repeats")["test"]
    assert doc["size"] == distinct - SIZES["dev_size"]
    assert doc["folded_duplicates"] == 30
    for result in doc["results"]:
        texts = by_prompt[result["prompt"]]
        assert len(texts) == len(set(texts)) == distinct
    assert f"\ntest (n={distinct - SIZES['dev_size']}): best " in done.stdout
    assert "30 rows of" in done.stdout and "counted once" in done.stdout
