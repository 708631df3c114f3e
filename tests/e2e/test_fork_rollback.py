"""fork and rollback through the real CLI against the test endpoint, requests counted there."""

from __future__ import annotations

import json
from pathlib import Path

from evoprompt.checkpoint.lock import ExperimentLock
from evoprompt.testing.server import FakeLLMServer
from tests.conftest import cli_env, outcome, resumes_with, run_cli, summary
from tests.e2e.conftest import Source, run_args, tree_hashes


def config_of(result_dir: Path, exp_id: str) -> dict[str, object]:
    doc: dict[str, object] = json.loads((result_dir / exp_id / "config.json").read_text())
    return doc


def test_fork_with_unchanged_settings_ends_with_the_source_result_for_free(
    tmp_path: Path, source: Source
) -> None:
    src = source.copy_to(tmp_path)
    before = tree_hashes(src)
    with FakeLLMServer() as fake:
        done = run_cli(
            ["fork", "src", "--at-generation", "1", *run_args(tmp_path, "--experiment-id", "f1")],
            cli_env(fake),
        )
        requests = fake.counts["requests"]
    assert done.returncode == 0, done.stderr
    assert requests == 0  # generations 0-1 from the snapshot, 2-3 from the copied journal
    assert outcome(summary(tmp_path, "f1")) == outcome(source.summary)
    config = config_of(tmp_path, "f1")
    assert (config["parent"], config["forked_at"]) == ("src", 1)
    assert config["changed"] == {"base_url": fake.url}  # this test endpoint's port only
    assert tree_hashes(src) == before
    listing = run_cli(["list", "--result-dir", str(tmp_path)], cli_env(None))
    assert "src@1" in listing.stdout
    status = run_cli(["status", "src", "--result-dir", str(tmp_path)], cli_env(None))
    assert "f1 (at generation 1)" in status.stdout
    report = run_cli(["report", "f1", "--format", "md", "--result-dir", str(tmp_path)], {})
    assert report.returncode == 0, report.stderr
    assert "forked from src at generation 1" in (tmp_path / "f1/report.md").read_text()


def test_fork_with_de_runs_de_from_that_population_paying_nothing_twice(
    tmp_path: Path, source: Source
) -> None:
    source.copy_to(tmp_path)
    with FakeLLMServer() as fake:
        done = run_cli(
            [
                "fork",
                "src",
                "--at-generation",
                "1",
                *run_args(tmp_path, "--experiment-id", "de1", "--algorithm", "de"),
            ],
            cli_env(fake),
        )
        paid_again = set(fake.answered_bodies) & set(source.paid)
        operators = fake.counts["answered_evolve"]
    assert done.returncode == 0, done.stderr
    assert operators > 0  # DE's generations 2-3 were bred and scored
    assert not paid_again  # nothing the source paid for (generations 0-1 included) was re-sent
    forked = summary(tmp_path, "de1")
    assert forked["generations"][:2] == source.summary["generations"][:2]
    assert forked["generations"][2:] != source.summary["generations"][2:]
    assert config_of(tmp_path, "de1")["changed"] == {"algorithm": "de", "base_url": fake.url}
    dumped = [json.loads(line) for line in (tmp_path / "de1/population.jsonl").open()]
    assert any(row["operator"] == "de" for row in dumped)


def test_rollback_then_resume_reproduces_the_source(tmp_path: Path, source: Source) -> None:
    exp = source.copy_to(tmp_path, "rb")
    rolled = run_cli(["rollback", "rb", "--to-generation", "1", "--result-dir", str(tmp_path)], {})
    assert rolled.returncode == 0, rolled.stderr
    assert resumes_with("rb", rolled.stderr)
    assert summary(tmp_path, "rb")["generations"][-1]["generation"] == 1
    aside = list((exp / "checkpoints/rolled_back").iterdir())
    assert len(aside) == 1 and (aside[0] / "checkpoints/state_gen3.pkl").exists()
    assert not (exp / "checkpoints/state_gen2.pkl").exists()
    record = json.loads((aside[0] / "rollback.json").read_text())
    assert record["done"] and record["answers"] > 0
    status = run_cli(["status", "rb", "--result-dir", str(tmp_path)], cli_env(None))
    assert f"rolled back: checkpoints/rolled_back/{aside[0].name}" in status.stdout
    with FakeLLMServer() as fake:
        done = run_cli(run_args(tmp_path, "--experiment-id", "rb"), cli_env(fake))
        answered = fake.counts["answered"]
    assert done.returncode == 0, done.stderr
    assert outcome(summary(tmp_path, "rb")) == outcome(source.summary)
    assert answered == record["answers"]  # exactly the answers set aside were asked again


def test_rollback_keeping_answers_replays_them_at_no_cost(tmp_path: Path, source: Source) -> None:
    source.copy_to(tmp_path, "rb")
    argv = ["rollback", "rb", "--to-generation", "0", "--keep-answers"]
    assert run_cli([*argv, "--result-dir", str(tmp_path)], {}).returncode == 0
    with FakeLLMServer() as fake:
        done = run_cli(run_args(tmp_path, "--experiment-id", "rb"), cli_env(fake))
        requests = fake.counts["requests"]
    assert done.returncode == 0, done.stderr
    assert requests == 0
    assert outcome(summary(tmp_path, "rb")) == outcome(source.summary)


def test_refusals_are_one_line_and_change_nothing(tmp_path: Path, source: Source) -> None:
    src = source.copy_to(tmp_path)
    before = tree_hashes(src)
    where = ["--result-dir", str(tmp_path)]
    (src / "checkpoints/state_gen1.pkl").unlink()  # as the keep-last-N cleanup would
    before = tree_hashes(src)
    cases = {
        ("fork", "src", "--at-generation", "7"): "finished generations 0-3, not 7",
        ("fork", "src", "--at-generation", "1"): "generations still available: 0, 2-3",
        ("rollback", "src", "--to-generation", "1"): "generations still available: 0, 2-3",
        ("fork", "nope", "--at-generation", "1"): "no experiment 'nope'",
    }
    for argv, expected in cases.items():
        done = run_cli([*argv, *where], cli_env(None))
        assert done.returncode == 2, (argv, done.stderr)
        assert expected in done.stderr and len(done.stderr.strip().splitlines()) == 1
    with ExperimentLock(src):
        done = run_cli(["rollback", "src", "--to-generation", "0", *where], cli_env(None))
    assert done.returncode == 2 and "cannot roll back a running experiment" in done.stderr
    assert tree_hashes(src) == before
    assert [p.name for p in tmp_path.iterdir()] == ["src"]


def test_spend_adds_up_at_the_server_across_a_rollback_and_a_fork(
    tmp_path: Path, source: Source
) -> None:
    """Calls and tokens a summary reports are the calls the endpoint answered for it: a
    rollback's set-aside answers still count (they were paid), bought again or not, and a
    fork counts only its own calls, not the parent's answers it copied."""
    paid = sum(source.paid.values())
    src_stats = source.summary["api_stats"]
    assert src_stats["calls"] == paid and src_stats["set_aside_calls"] == 0
    source.copy_to(tmp_path, "rb")
    rolled = run_cli(["rollback", "rb", "--to-generation", "1", "--result-dir", str(tmp_path)], {})
    assert rolled.returncode == 0, rolled.stderr
    between = summary(tmp_path, "rb")["api_stats"]
    assert between["calls"] == paid  # set aside, not unspent
    with FakeLLMServer() as fake:
        assert run_cli(run_args(tmp_path, "--experiment-id", "rb"), cli_env(fake)).returncode == 0
        again = fake.counts["answered"]
        tokens = (fake.counts["prompt_tokens"], fake.counts["completion_tokens"])
    stats = summary(tmp_path, "rb")["api_stats"]
    assert again > 0 and stats["calls"] == paid + again
    assert stats["set_aside_calls"] == again  # what was set aside is what was bought again
    for kind, bought in zip(("prompt_tokens", "completion_tokens"), tokens):
        assert stats[kind] == src_stats[kind] + bought
    shown = run_cli(["status", "rb", "--result-dir", str(tmp_path)], cli_env(None))
    assert f"calls {paid + again} " in shown.stdout
    source.copy_to(tmp_path)
    with FakeLLMServer() as fake:
        forked = run_cli(
            ["fork", "src", "--at-generation", "1",
             *run_args(tmp_path, "--experiment-id", "de1", "--algorithm", "de")],
            cli_env(fake),
        )  # fmt: skip
        own = fake.counts["answered"]
    assert forked.returncode == 0, forked.stderr
    fork_stats = summary(tmp_path, "de1")["api_stats"]
    assert own > 0 and fork_stats["calls"] == own
    assert fork_stats["inherited_calls"] == paid
