"""Few-shot prompts (--shots) and the length penalty, on real runs against the loopback
endpoint: what every scoring request showed the model is checked at the server."""

from __future__ import annotations

import json
import re
import signal
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from evoprompt.data.loader import dev_split, held_out_split, load_dataset
from evoprompt.data.train import train_split
from evoprompt.fewshot.length import prompt_tokens
from evoprompt.fewshot.prompt import readable, split
from evoprompt.testing.answers import INPUT, exemplars_in, last
from evoprompt.testing.server import FakeLLMServer, Faults
from tests.conftest import FAST_RETRY, cli_env, make_server, outcome, run_cli, start_cli, wait_for
from tests.conftest import summary as read_summary

FEW = ["--population-size", "4", "--max-generations", "2", "--dev-size", "16", "--seed", "7"]
FEW += ["--test-size", "24", "--shots", "4", "--batch-size", "4", *FAST_RETRY]


def run(root: Path, exp_id: str, server: FakeLLMServer, *extra: str) -> dict[str, Any]:
    args = [*FEW, *extra, "--result-dir", str(root), "--experiment-id", exp_id]
    done = run_cli(args, cli_env(server), timeout=300)
    assert done.returncode == 0, done.stderr
    return read_summary(root, exp_id)


def scored(root: Path, exp_id: str) -> list[dict[str, Any]]:
    """Every prompt the run scored (population.jsonl)."""
    lines = (root / exp_id / "population.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def shown(query: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """A scoring query's instruction (its first line) and the exemplars it showed."""
    return query.split("\n", 1)[0], tuple(exemplars_in(query))


@pytest.mark.parametrize(
    ("algorithm", "scorer"), [("ga", "generate"), ("de", "generate"), ("ga", "loglik")]
)
def test_every_scoring_request_carries_its_prompts_exemplars_and_none_is_a_dev_or_test_row(
    tmp_path: Path, algorithm: str, scorer: str
) -> None:
    with FakeLLMServer(faults=Faults(shot_skill=0.05)) as server:
        doc = run(tmp_path, algorithm, server, "--algorithm", algorithm, "--scorer", scorer)
        # scoring queries (not the log-likelihood probe's question)
        queries = [q for q in server.queries if "\n\nInput: " in q]
        truth = server.truth
    prompts = [row["text"] for row in scored(tmp_path, algorithm)]
    expected = {(split(p)[0], tuple((e.text, e.answer) for e in split(p)[1])) for p in prompts}
    seen = {shown(q) for q in queries}
    assert seen == expected  # each request shows exactly one scored prompt's exemplars, in order
    assert sum(bool(e) for _, e in expected) >= len(expected) // 2
    assert max(len(e) for _, e in expected) <= 4
    asked = {last(INPUT, q) for q in queries} - {"N/A"}  # the dev rows, then the test rows
    data = load_dataset("sentiment", "text", "label")
    dev = set(dev_split(data, 16, 7).texts)
    test = set(held_out_split(data, 16, 24, 7, exclude=train_split(data, 16, 0, 7)).test.texts)
    assert asked == dev | test and len(test) == 24
    order = [last(INPUT, q) for q in queries]
    last_dev = max(i for i, text in enumerate(order) if text in dev)
    assert all(text not in test for text in order[: last_dev + 1])  # no test row before
    exemplar_texts = {text for _, shots in seen for text, _ in shots}
    assert exemplar_texts and not exemplar_texts & asked
    assert all(truth[text] == answer for _, shots in seen for text, answer in shots)
    assert doc["test"] is not None and doc["best_analysis"]["prompt_tokens"] == prompt_tokens(
        doc["best_prompt"]
    )


@pytest.mark.parametrize("answers", [30, 120])  # in generation 0, in generation 1
def test_kill_9_and_resume_gives_the_uninterrupted_summary(tmp_path: Path, answers: int) -> None:
    with FakeLLMServer(faults=Faults(shot_skill=0.05)) as server:
        whole = run(tmp_path, "whole", server)
    server = make_server(shot_skill=0.05, latency=0.02)
    try:
        args = [*FEW, "--result-dir", str(tmp_path), "--experiment-id", "cut"]
        proc = start_cli(args, cli_env(server))
        # killed after so many of its about 320 answers (counted, not timed: a loaded
        # machine lands at the same point)
        wait_for(
            lambda: proc.poll() is not None or server.stats().get("answered", 0) >= answers, 120
        )
        assert proc.poll() is None, "the run ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        done = run_cli(args, cli_env(server), timeout=300)
        assert done.returncode == 0, done.stderr
    finally:
        server.stop()
    cut = read_summary(tmp_path, "cut")
    assert outcome(cut) == outcome(whole)
    assert cut["test"]["results"] == whole["test"]["results"]


@pytest.mark.parametrize("penalty", ["0", "0.3"])
def test_pruning_stays_exact_with_and_without_a_length_penalty(
    tmp_path: Path, penalty: str
) -> None:
    """The bars are on the penalised fitness: pruning changes which calls are made, never
    the result, penalty or not (checked for GA's seats and DE's fixed bars)."""
    found: dict[str, dict[str, Any]] = {}
    with FakeLLMServer(faults=Faults(shot_skill=0.05)) as server:
        for algorithm in ("ga", "de"):
            for prune in ("--prune", "--no-prune"):
                exp_id = f"{algorithm}{prune}"
                found[exp_id] = run(
                    tmp_path,
                    exp_id,
                    server,
                    "--algorithm",
                    algorithm,
                    prune,
                    "--length-penalty",
                    penalty,
                    "--test-size",
                    "0",
                    "--max-generations",
                    "3",
                )
    for algorithm in ("ga", "de"):
        pruned, full = found[f"{algorithm}--prune"], found[f"{algorithm}--no-prune"]
        assert outcome(pruned) == outcome(full)
        assert any(g["pruned_share"] for g in pruned["generations"])  # pruning did happen


# On the loopback endpoint's dev rows (seed 7, 16 rows) the longer scores 0.5, the shorter
# 0.4375: one row better, at 21 tokens against 8.
SHORT = "Classify the text carefully."
LONG = "Classify the text carefully, reading the whole review once more before answering."


@pytest.mark.parametrize(("penalty", "chosen"), [("0", LONG), ("0.1", SHORT)])
def test_a_length_penalty_selects_the_shorter_of_two_close_prompts(
    tmp_path: Path, penalty: str, chosen: str
) -> None:
    args = ["--seed-prompts", SHORT, LONG, "--population-size", "2", "--max-generations", "0"]
    args += ["--dev-size", "16", "--seed", "7", "--test-size", "0", "--length-penalty", penalty]
    with FakeLLMServer() as server:
        done = run_cli(
            [*args, "--result-dir", str(tmp_path), "--experiment-id", "x"], cli_env(server)
        )
    assert done.returncode == 0, done.stderr
    doc = read_summary(tmp_path, "x")
    rows = {row["text"]: row for row in scored(tmp_path, "x")}
    score = {text: row["analysis"].get("score", row["fitness"]) for text, row in rows.items()}
    assert score == {LONG: 0.5, SHORT: 0.4375}
    assert doc["best_prompt"] == chosen
    seed_tokens = (prompt_tokens(SHORT) + prompt_tokens(LONG)) / 2
    for text, row in rows.items():
        expected = score[text] - float(penalty) * prompt_tokens(text) / seed_tokens
        assert row["fitness"] == pytest.approx(expected)


def _cells(html: str, section: str) -> list[list[str]]:
    """The rows of the table inside ``<div id="section">`` of a report."""
    body = html.split(f'<div id="{section}">', 1)[1].split("</div>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)
    cells = [[unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", r, flags=re.S)] for r in rows]
    return [row for row in cells if row]  # the header row has none


def test_the_report_draws_the_pareto_front_and_the_summary_prices_the_finalists(
    tmp_path: Path,
) -> None:
    prices = '{"fake": {"prompt": 0.15, "completion": 0.6}}'
    with FakeLLMServer(faults=Faults(shot_skill=0.05)) as server:
        doc = run(tmp_path, "x", server, "--model", "fake", "--prices", prices)
    made = run_cli(["report", "x", "--result-dir", str(tmp_path)], cli_env(None))
    assert made.returncode == 0, made.stderr
    html = (tmp_path / "x" / "report.html").read_text()
    assert 'id="pareto-plot"' in html
    shown_front = [(int(t), float(s), p) for t, s, p in _cells(html, "pareto")]
    # by hand: every fully scored prompt, kept unless another scores at least as well with at
    # most as many tokens (better on one)
    everyone = [
        (prompt_tokens(r["text"]), r["analysis"].get("score", r["fitness"]), r["text"])
        for r in scored(tmp_path, "x")
        if not r.get("pruned")
    ]
    by_hand = sorted(
        (
            (t, s, p)
            for t, s, p in everyone
            if not any(t2 <= t and s2 >= s and (t2, s2) != (t, s) for t2, s2, _ in everyone)
        ),
        key=lambda x: (x[0], -x[1], x[2]),
    )
    assert [(t, round(s, 4), readable(p)) for t, s, p in by_hand] == shown_front
    assert len(shown_front) >= 2  # score rises with exemplars, and so does length
    costs = doc["prompt_costs"]
    assert [c["role"] for c in costs] == [r["role"] for r in doc["test"]["results"]]
    assert html.count("USD per 1,000 uses") == 1 and f"{costs[0]['cost_per_1000_uses']:.6f}" in html
    for cost in costs:
        assert cost["tokens"] == prompt_tokens(cost["prompt"])
        assert cost["cost_per_1000_uses"] == pytest.approx(cost["tokens"] * 0.15 / 1000)


def _total(out: str) -> tuple[int, int]:
    """(calls, prompt tokens) of a dry run's total line."""
    line = next(line for line in out.splitlines() if line.startswith("total"))
    calls, prompt_tokens_, *_ = line.split()[1:]
    return int(calls), int(prompt_tokens_)


def test_the_dry_run_bills_exemplars_as_longer_prompts(tmp_path: Path) -> None:
    totals = []
    for shots in ("0", "4", "8"):
        args = ["--dry-run", "--backend", "openai", "--test-size", "0", "--shots", shots]
        done = run_cli([*args, "--result-dir", str(tmp_path)], cli_env(None))
        assert done.returncode == 0, done.stderr
        totals.append(_total(done.stdout + done.stderr))
    assert totals[0][0] == totals[1][0] == totals[2][0]  # the same calls
    assert totals[0][1] < totals[1][1] < totals[2][1]  # each one longer
    assert not any(tmp_path.iterdir())  # a dry run writes nothing


def test_fork_and_a_new_test_set_keep_exemplars_and_never_test_on_a_train_row(
    tmp_path: Path,
) -> None:
    with FakeLLMServer(faults=Faults(shot_skill=0.05)) as server:
        src = run(tmp_path, "src", server)
        exemplar_texts = {e.text for row in scored(tmp_path, "src") for e in split(row["text"])[1]}
        # a new test set: two train rows the prompts show as exemplars, and ten rows neither
        # in the train pool nor asked before
        data = load_dataset("sentiment", "text", "label")
        seen = set(train_split(data, 16, 0, 7).texts) | {last(INPUT, q) for q in server.queries}
        assert exemplar_texts <= seen
        fresh = [t for t in data.texts if t not in seen][:10]
        rows = [*sorted(exemplar_texts)[:2], *fresh]
        csv = tmp_path / "new.csv"
        csv.write_text("text,label\n" + "".join(f'"{t}",{server.truth[t]}\n' for t in rows))
        before = len(server.queries)
        where = ["--result-dir", str(tmp_path)]
        tested = run_cli(["test", "src", "--test-dataset", str(csv), *where], cli_env(server))
        assert tested.returncode == 0, tested.stderr
        asked = {last(INPUT, q) for q in server.queries[before:]}
        assert asked and not asked & exemplar_texts
        forked = run_cli(
            [
                "fork",
                "src",
                "--at-generation",
                "1",
                "--algorithm",
                "de",
                "--experiment-id",
                "de",
                *where,
            ],
            cli_env(server),
        )
        assert forked.returncode == 0, forked.stderr
        # a fork under a length penalty weighs what its parent scored anew
        priced = ["fork", "src", "--at-generation", "1", "--experiment-id", "short"]
        forked = run_cli([*priced, "--length-penalty", "0.3", *where], cli_env(server))
        assert forked.returncode == 0, forked.stderr
    rows = scored(tmp_path, "short")
    seeds = [r["text"] for r in rows if r["generation"] == 0]
    mean = sum(map(prompt_tokens, seeds)) / len(seeds)
    for row in rows:
        score = row["analysis"]["score"]
        assert row["fitness"] == pytest.approx(score - 0.3 * prompt_tokens(row["text"]) / mean)
    doc = read_summary(tmp_path, "src")
    assert doc["test"]["size"] == 10 and doc["test"]["dropped_duplicates"] == 2
    fork = read_summary(tmp_path, "de")
    assert fork["generations"][:2] == src["generations"][:2]
    assert any(split(p["text"])[1] for p in fork["population"])


def test_shots_and_length_penalty_are_sweepable(tmp_path: Path) -> None:
    grid = tmp_path / "grid.toml"
    grid.write_text(
        "population_size = 4\ndev_size = 16\nmax_generations = 1\ntest_size = 8\n"
        "[grid]\nshots = [0, 2]\nlength_penalty = [0.0, 0.2]\n"
    )
    with FakeLLMServer(faults=Faults(shot_skill=0.05)) as server:
        done = run_cli(
            ["sweep", str(grid), "--result-dir", str(tmp_path), "--sweep-id", "s"],
            cli_env(server),
            timeout=300,
        )
    assert done.returncode == 0, done.stderr
    cells = sorted(p for p in (tmp_path / "s").iterdir() if (p / "summary.json").exists())
    assert len(cells) == 4
    for cell in cells:
        config = json.loads((cell / "config.json").read_text())
        doc = json.loads((cell / "summary.json").read_text())
        carries = any(split(p["text"])[1] for p in doc["population"])
        assert carries == bool(config["shots"])
        assert ("prompt_costs" in doc) == bool(config["shots"] or config["length_penalty"])


def test_exemplars_of_a_reasoning_task_show_the_worked_answer_the_data_has(
    tmp_path: Path,
) -> None:
    data = load_dataset("arith", "text", "label")
    worked = {
        t: f"Adding up what the problem gives: {g}. The answer is {g}."
        for t, g in zip(data.texts, data.gold)
    }
    csv = tmp_path / "arith.csv"
    csv.write_text(
        "text,label,worked\n"
        + "".join(f'"{t}",{g},"{worked[t]}"\n' for t, g in zip(data.texts, data.gold))
    )
    args = ["--dataset", str(csv), "--metric", "exact_match", "--max-tokens", "64"]
    with FakeLLMServer(faults=Faults(shot_skill=0.05)) as server:
        run(tmp_path, "x", server, *args, "--max-generations", "1")
        queries = list(server.queries)
    shown_answers = [(t, a) for q in queries for t, a in exemplars_in(q)]
    assert shown_answers and all(worked[t] == a for t, a in shown_answers)
