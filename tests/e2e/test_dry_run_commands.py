"""``--dry-run`` on every command: those that can spend (fork, sweep, test) print their bill,
make no call and create or change nothing; the others refuse it by name. Against the real
loopback server, which counts every request, and the result folder hashed before and after."""

from __future__ import annotations

import json
from pathlib import Path

from evoprompt.testing.server import FakeLLMServer
from tests.conftest import cli_env, run_cli
from tests.e2e.conftest import Source, run_args, tree_hashes

SWEEP = "population_size = 4\ndev_size = 16\nmax_generations = 2\nbatch_size = 4\n"
SWEEP += 'prune = false\ntest_size = 16\n[grid]\nalgorithm = ["ga", "de"]\nseed = [1, 2]\n'
CELLS = {f"algorithm-{a}_seed-{s}" for a in ("ga", "de") for s in (1, 2)}


def snapshot(root: Path) -> tuple[dict[str, str], list[str]]:
    """Every file's hash and every path (an empty folder made by a command shows too)."""
    return tree_hashes(root), sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def test_fork_sweep_and_test_dry_runs_call_nothing_and_change_nothing(
    tmp_path: Path, source: Source
) -> None:
    source.copy_to(tmp_path)
    sweep = tmp_path.parent / f"{tmp_path.name}_grid.toml"
    sweep.write_text(SWEEP)
    before = snapshot(tmp_path)
    with FakeLLMServer() as fake:
        env = cli_env(fake)
        fork = run_cli(
            ["fork", "src", "--at-generation", "1", *run_args(tmp_path), "--dry-run"], env
        )
        extended = run_cli(
            [
                "fork",
                "src",
                "--at-generation",
                "1",
                *run_args(tmp_path, "--max-generations", "5", "--experiment-id", "f5"),
                "--dry",  # argparse's abbreviation
                "--json",
            ],
            env,
        )
        swept = run_cli(["sweep", str(sweep), *run_args(tmp_path), "--dry-run", "--json"], env)
        text = run_cli(["sweep", str(sweep), *run_args(tmp_path), "--dry-run"], env)
        tested = run_cli(
            ["test", "src", "--test-size", "200", "--result-dir", str(tmp_path), "--dry-run"], env
        )
        assert fake.counts["requests"] == 0
    assert snapshot(tmp_path) == before  # no fork, no sweep folder, no .staging, no journal write
    for done in (fork, extended, swept, text, tested):
        assert done.returncode == 0, done.stderr
    # unchanged settings: generations 2-3 and the test phase replay the source's journal
    assert "No call is made" in fork.stdout and "total" in fork.stdout
    assert fork.stdout.split("total", 1)[1].split()[0] == "0"
    bill = json.loads(extended.stdout)
    assert [p["phase"] for p in bill["phases"]][:2] == ["gen 4 breeding", "gen 4 scoring"]
    assert bill["calls"] > 0
    plan = json.loads(swept.stdout)
    assert set(plan["cells"]) == CELLS
    assert plan["total"]["calls"] == sum(c["calls"] for c in plan["cells"].values()) > 0
    assert all(cell in text.stdout for cell in CELLS) and "total" in text.stdout
    assert "test phase" in tested.stdout


def test_the_test_dry_run_bills_exactly_the_calls_the_test_then_makes(
    tmp_path: Path, source: Source
) -> None:
    source.copy_to(tmp_path)
    prompt = "Answer with the label that fits the review best."  # never asked: all paid
    args = ["test", "src", "--prompt", prompt, "--result-dir", str(tmp_path)]
    with FakeLLMServer() as fake:
        plan = run_cli([*args, "--dry-run", "--json"], cli_env(fake))
        assert plan.returncode == 0, plan.stderr
        assert fake.counts["requests"] == 0
        done = run_cli(args, cli_env(fake))
        assert done.returncode == 0, done.stderr
        paid = fake.counts["requests"]
        again = run_cli([*args, "--dry-run", "--json"], cli_env(fake))
    bill = json.loads(plan.stdout)
    # the seed baseline's answers are in the journal (free), the new prompt's are billed
    assert paid > 0 and bill["calls"] == paid
    assert json.loads(again.stdout)["calls"] == 0


def test_commands_that_never_spend_refuse_a_dry_run_by_name(tmp_path: Path, source: Source) -> None:
    source.copy_to(tmp_path)
    before = snapshot(tmp_path)
    where = ["--result-dir", str(tmp_path)]
    for argv in (
        ["list", *where],
        ["status", "src", *where],
        ["verify", "src", *where],
        ["report", "src", *where],
        ["rollback", "src", "--to-generation", "1", *where],
        ["sweep-report", "nope", *where],
    ):
        done = run_cli([*argv, "--dry-run"], cli_env(None))
        assert done.returncode == 2, (argv, done.stderr)
        assert done.stderr.count("\n") == 1 and f"{argv[0]} takes no --dry-run" in done.stderr
        assert done.stdout == ""
    assert snapshot(tmp_path) == before
