"""Reasoning (exact_match on arith) and generation (rouge_l on summarize) runs, GA and DE,
against the test endpoint: they finish, resume identically after kill -9, and every fitness
equals the metric recomputed from the endpoint's own answers."""

from __future__ import annotations

import json
from pathlib import Path
from statistics import mean

import pytest
from rouge_score import rouge_scorer

from evoprompt.metrics import Example, make_metric
from evoprompt.runner.stored import read_stored
from evoprompt.runner.task import load_task
from evoprompt.testing.answers import INPUT, is_evolution, last, quality, unit
from evoprompt.testing.server import FakeLLMServer
from evoprompt.testing.wire import chat_content
from tests.conftest import (
    FAST_RETRY,
    cli_env,
    make_server,
    outcome,
    run_cli,
    start_cli,
    summary,
    wait_for,
)

pytestmark = pytest.mark.slow

CASES = {
    "ga-arith": ["--algorithm", "ga", "--dataset", "arith", "--metric", "exact_match"],
    "de-arith": ["--algorithm", "de", "--dataset", "arith", "--metric", "exact_match"],
    "ga-summarize": ["--algorithm", "ga", "--dataset", "summarize", "--metric", "rouge_l"],
    "de-summarize": ["--algorithm", "de", "--dataset", "summarize", "--metric", "rouge_l"],
}
# Two generations: enough for the rewarded words to be found, short of a perfect best prompt
# (whose worst-scored examples would be none, and the analysis this test checks empty).
SIZE = ["--population-size", "4", "--max-generations", "2", "--dev-size", "24", "--seed", "5"]
SEEDS = ["--seed-prompts", "Solve or summarize the input.", "Answer the input carefully."]


def args(case: str, result_dir: Path, exp_id: str) -> list[str]:
    return [*CASES[case], *SIZE, *SEEDS, *FAST_RETRY, "--batch-size", "8",
            "--result-dir", str(result_dir), "--experiment-id", exp_id]  # fmt: skip


def replies(server: FakeLLMServer) -> dict[tuple[str, str], str]:
    """(instruction, input) -> the endpoint's reply, for every scoring request it answered."""
    found = {}
    for raw in server.answered_bodies:
        body = json.loads(raw)
        content = chat_content(body)
        if is_evolution(content):
            continue
        instruction = content.split("\n\nInput: ")[0]
        found[instruction, last(INPUT, content) or ""] = server.answers.chat(content, "")[1]
    return found


def check_fitness(server: FakeLLMServer, exp_dir: Path, metric: str) -> None:
    config = read_stored(exp_dir).as_found()
    dev = load_task(config).dev
    answered = replies(server)
    judge = make_metric(metric).prepare(dev, config)
    rouge = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    rows = [json.loads(line) for line in (exp_dir / "population.jsonl").read_text().splitlines()]
    assert len(rows) > 4
    for row in rows:
        if row.get("pruned"):  # its fitness is the bound: unanswered rows counted as 1
            known = [
                judge.judge(answered[row["text"], t], Example(t, g)).score
                if (row["text"], t) in answered
                else 1.0
                for t, g in zip(dev.texts, dev.gold)
            ]
            assert row["fitness"] == pytest.approx(mean(known), abs=1e-12)
            continue
        outputs = [answered[row["text"], text] for text in dev.texts]
        scores = [
            judge.judge(out, Example(text, gold)).score
            for out, text, gold in zip(outputs, dev.texts, dev.gold)
        ]
        assert row["fitness"] == pytest.approx(mean(scores), abs=1e-12)
        if metric == "rouge_l":  # the package itself, with its own (ASCII) tokenizer
            direct = [rouge.score(g, o)["rougeL"].fmeasure for o, g in zip(outputs, dev.gold)]
            assert row["fitness"] == pytest.approx(mean(direct), abs=1e-9)
        else:  # the endpoint's own decision of which answers are right
            right = [unit(row["text"], t) < quality(row["text"]) for t in dev.texts]
            assert row["fitness"] == pytest.approx(mean(right), abs=1e-12)


@pytest.mark.parametrize("case", list(CASES))
def test_task_runs_finish_resume_after_kill_and_score_the_endpoints_answers(
    case: str, tmp_path: Path
) -> None:
    metric = CASES[case][-1]
    with FakeLLMServer() as server:
        done = run_cli(args(case, tmp_path, "ref"), cli_env(server))
        assert done.returncode == 0, done.stderr
        check_fitness(server, tmp_path / "ref", metric)
    reference = summary(tmp_path, "ref")
    assert reference["status"] == "finished"
    assert (
        reference["generations"][-1]["best_fitness"] > reference["generations"][0]["best_fitness"]
    )  # the magic words the endpoint rewards are found
    worst = reference["best_analysis"]["worst"]
    assert worst and set(worst[0]) == {"score", "input", "output", "extracted", "reference"}

    server = make_server(latency=0.01)
    try:
        proc = start_cli(args(case, tmp_path, "victim"), cli_env(server))
        batch = tmp_path / "victim" / "checkpoints" / "batches" / "gen1_batch0.json"
        wait_for(batch.exists, timeout=120)
        proc.kill()
        proc.wait()
        resumed = run_cli(args(case, tmp_path, "victim"), cli_env(server))
        assert resumed.returncode == 0, resumed.stderr
        assert "Resuming victim" in resumed.stderr
    finally:
        server.stop()
    assert outcome(summary(tmp_path, "victim")) == outcome(reference)
    doc = json.loads(batch.read_text())
    entry = doc["prompts"][0]
    assert len(entry["outputs"]) == len(entry["predictions"]) == len(entry["scores"]) == 8
    assert entry["analysis"]["worst"]

    status = run_cli(["status", "victim", "--result-dir", str(tmp_path)], cli_env(None))
    assert status.returncode == 0, status.stderr
    assert f"metric:      {metric}" in status.stdout
    assert "Worst-scored examples of the best prompt:" in status.stdout
    report = run_cli(
        ["report", "victim", "--format", "md", "--result-dir", str(tmp_path)], cli_env(None)
    )
    assert report.returncode == 0, report.stderr
    text = (tmp_path / "victim" / "report.md").read_text()
    assert f"| metric | {metric} |" in text
    assert "## Worst-scored examples of the best prompt" in text
