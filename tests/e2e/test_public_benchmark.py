"""The public-task benchmark (benchmarks/public.py) in a tiny version against the test
endpoint: the public tasks run with their labels and manual prompts, the table's figures are
recomputed here from the result folders alone (and by the command itself, identically, from
the folders), and a kill -9 of the whole command, rerun, buys no answered call again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from evoprompt.data.manual import manual_prompts
from tests.conftest import ROOT, cli_env, make_server, run_cli, summary, wait_for

TINY = """population_size = 4
max_generations = 1
dev_size = 16
test_size = 24
test_top_k = 1
batch_size = 4
prune = false
retry_delay = 0.01
[grid]
dataset = ["sst2", "agnews"]
algorithm = ["ga", "de"]
seed = [1, 2]
"""
# The few-shot sweep the benchmark adds once the config has `shots` (issue 31): one cell here,
# not the full sweeps/public_shots.toml.
TINY_SHOTS = TINY.split("[grid]")[0] + 'shots = 2\nalgorithm = "ga"\n[grid]\ndataset = ["sst2"]\n'
CELLS = [
    f"dataset-{t}_algorithm-{a}_seed-{s}"
    for t in ("sst2", "agnews")
    for a in ("ga", "de")
    for s in (1, 2)
]
CONCURRENCY = 3


def command(folder: Path, *extra: str) -> list[str]:
    (folder / "tiny.toml").write_text(TINY)
    (folder / "tiny_shots.toml").write_text(TINY_SHOTS)
    return [
        sys.executable,
        str(ROOT / "benchmarks" / "public.py"),
        "--sweep-file",
        str(folder / "tiny.toml"),
        "--shots-file",
        str(folder / "tiny_shots.toml"),
        "--sweep-id",
        "tiny",
        "--result-dir",
        str(folder / "result"),
        "--out",
        str(folder / "out"),
        "--concurrency",
        str(CONCURRENCY),
        *extra,
    ]


@pytest.fixture(scope="module")
def done(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("public")
    server = make_server(latency=0.01)
    try:
        ran = subprocess.run(
            command(folder),
            env=cli_env(server),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        bodies = Counter(server.answered_bodies)
    finally:
        server.stop()
    assert ran.returncode == 0, ran.stderr
    return {"folder": folder, "bodies": bodies}


def test_public_tasks_run_with_their_labels_and_manual_prompts(done: dict[str, Any]) -> None:
    sweep = done["folder"] / "result" / "tiny"
    for cell in CELLS:
        config = json.loads((sweep / cell / "config.json").read_text())
        task = config["dataset"]
        assert config["seed_prompts"] == manual_prompts(task)
        doc = summary(sweep, cell)
        manual = set(manual_prompts(task) or [])
        seeds = [r["prompt"] for r in doc["test"]["results"] if r["role"] == "seed"]
        assert seeds and set(seeds) <= manual
        assert doc["test"]["comparison"]["baseline_prompt"] in manual
        labels = set(doc["test"]["per_class"])
        assert labels <= (
            {"negative", "positive"} if task == "sst2" else {"World", "Sports", "Business", "Tech"}
        )
        assert len(labels) >= 2


def _recomputed(sweep: Path, task: str, algorithm: str) -> dict[str, Any]:
    docs = [summary(sweep, f"dataset-{task}_algorithm-{algorithm}_seed-{s}") for s in (1, 2)]
    tests = [
        next(r["test_fitness"] for r in d["test"]["results"] if r["role"] == "best") for d in docs
    ]
    gains = [d["test"]["comparison"]["delta"] for d in docs]
    manual = [
        next(
            r["test_fitness"]
            for r in d["test"]["results"]
            if r["prompt"] == d["test"]["comparison"]["baseline_prompt"]
        )
        for d in docs
    ]
    low, high = (
        stats.t.interval(0.95, 1, loc=np.mean(tests), scale=stats.sem(tests))
        if np.std(tests)
        else (np.mean(tests),) * 2
    )
    return {
        "test": np.mean(tests),
        "std": np.std(tests, ddof=1),
        "low": low,
        "high": high,
        "gain": np.mean(gains),
        "manual": manual,
        "significant": sum(
            d["test"]["comparison"]["delta"] > 0 and d["test"]["comparison"]["p_value"] < 0.05
            for d in docs
        ),
        "kept_manual": sum(
            d["test"]["results"][0]["role"] == "best"
            and d["test"]["results"][0]["prompt"] == d["test"]["comparison"]["baseline_prompt"]
            for d in docs
        ),
        "calls": sum(d["api_stats"]["calls"] for d in docs),
        "wall": sum(d["wall_s"] for d in docs),
    }


def test_every_figure_recomputes_from_the_result_folders(done: dict[str, Any]) -> None:
    folder = done["folder"]
    sweep, out = folder / "result" / "tiny", folder / "out"
    table = json.loads((out / "public.json").read_text())
    text = (out / "PUBLIC.md").read_text()
    assert (out / "public.png").stat().st_size > 1000
    assert "9 of 9 cells finished." in text  # 8 instruction-only cells and one few-shot cell
    rows = {(r["task"], r["method"]): r for r in table["rows"]}
    assert list(rows) == [
        *[("sst2", m) for m in ("manual", "GA", "DE", "manual + 2-shot", "GA + 2-shot")],
        *[("agnews", m) for m in ("manual", "GA", "DE")],
    ]
    shots = summary(folder / "result" / "tiny-shots", "dataset-sst2")
    best = next(r["test_fitness"] for r in shots["test"]["results"] if r["role"] == "best")
    assert rows[("sst2", "GA + 2-shot")]["test"]["mean"] == pytest.approx(best)
    gain = shots["test"]["comparison"]["delta"]
    assert rows[("sst2", "GA + 2-shot")]["gain"]["mean"] == pytest.approx(gain)
    # its manual row: the manual prompts with their exemplars, the baseline of that gain
    baseline = shots["test"]["comparison"]["baseline_prompt"]
    with_shots = next(r for r in shots["test"]["results"] if r["prompt"] == baseline)
    assert rows[("sst2", "manual + 2-shot")]["test"]["mean"] == with_shots["test_fitness"]
    assert "| SST-2 | manual + 2-shot (best on dev) |" in text
    for task in ("sst2", "agnews"):
        ga = _recomputed(sweep, task, "ga")
        # the manual prompt of a seed is the same in its GA and DE cells (same split, same rows)
        assert ga["manual"] == _recomputed(sweep, task, "de")["manual"]
        assert rows[(task, "manual")]["test"]["mean"] == pytest.approx(np.mean(ga["manual"]))
        for algorithm in ("ga", "de"):
            want = _recomputed(sweep, task, algorithm)
            row = rows[(task, algorithm.upper())]
            assert row["test"]["mean"] == pytest.approx(want["test"])
            assert row["test"]["std"] == pytest.approx(want["std"])
            assert row["test"]["ci_low"] == pytest.approx(want["low"])
            assert row["test"]["ci_high"] == pytest.approx(want["high"])
            assert row["gain"]["mean"] == pytest.approx(want["gain"])
            assert row["significant"] == want["significant"]
            assert row["kept_manual"] == want["kept_manual"]
            assert row["calls"] == want["calls"]
            assert row["wall_s"] == pytest.approx(want["wall"])
            assert f"| {algorithm.upper()} | {want['test']:.3f} ± {want['std']:.3f} (n=2) |" in text
            assert f"| {want['gain']:+.3f} [" in text
            assert f"| {want['calls']:,} |" in text
    # the command writes the same table again from the folders alone
    (out / "PUBLIC.md").unlink()
    (out / "public.json").unlink()
    again = subprocess.run(
        [*command(folder, "--table-only")],
        env=cli_env(None),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    assert (out / "PUBLIC.md").read_text() == text
    assert json.loads((out / "public.json").read_text()) == table


def _reached(server: Any, proc: subprocess.Popen[bytes], answered: int) -> bool:
    return proc.poll() is not None or server.stats().get("answered", 0) >= answered


def test_kill_9_of_the_command_and_a_rerun_buy_no_answer_twice(
    done: dict[str, Any], tmp_path: Path
) -> None:
    server = make_server(latency=0.01)
    total = sum(done["bodies"].values())
    kills = 0
    try:
        env = cli_env(server)
        for fraction in (0.2, 0.5, 0.8):
            proc = subprocess.Popen(
                command(tmp_path),
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            target = int(total * fraction)
            wait_for(lambda p=proc, n=target: _reached(server, p, n), timeout=300)
            if proc.poll() is not None:
                break
            os.killpg(proc.pid, signal.SIGKILL)  # the command and the sweep it started
            proc.wait()
            kills += 1
        final = subprocess.run(
            command(tmp_path), env=env, cwd=ROOT, capture_output=True, text=True, timeout=600
        )
        bodies = Counter(server.answered_bodies)
    finally:
        server.stop()
    assert final.returncode == 0, final.stderr
    assert kills >= 2
    extra = bodies - done["bodies"]
    assert sum(extra.values()) <= kills * CONCURRENCY  # only calls on the wire at a kill
    assert done["bodies"] - bodies == Counter()
    want = json.loads((done["folder"] / "out" / "public.json").read_text())
    got = json.loads((tmp_path / "out" / "public.json").read_text())
    keys = ("id", "test", "manual", "gain", "p_value")
    assert [{k: c[k] for k in keys} for c in got["cells"]] == [
        {k: c[k] for k in keys} for c in want["cells"]
    ]


def test_a_bad_seed_prompts_source_is_one_line_and_exit_2(tmp_path: Path) -> None:
    for args, says in (
        (["--seed-prompts-from", "manual"], "dataset sentiment has no manual prompts"),
        (
            ["--dataset", "sst2", "--seed-prompts-from", str(tmp_path / "none.txt")],
            "cannot read it",
        ),
    ):
        ran = run_cli([*args, "--result-dir", str(tmp_path)], cli_env(None))
        assert ran.returncode == 2, ran.stderr
        assert says in ran.stderr and ran.stderr.strip().count("\n") == 0
        assert "Traceback" not in ran.stderr
    assert list(tmp_path.iterdir()) == []  # nothing started


def test_the_readme_headline_is_written_between_its_markers_or_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    from bench.public_render import README_END, README_START, MarkersMissing, into_readme

    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{README_START}\nold table\n{README_END}\n\nrest\n")
    into_readme(readme, "intro line", [])
    text = readme.read_text()
    assert "old table" not in text and f"{README_START}\nintro line\n" in text
    assert text.startswith("# x\n\n") and text.endswith(f"{README_END}\n\nrest\n")
    readme.write_text("# a README that lost its markers\n")
    with pytest.raises(MarkersMissing, match="--no-readme"):
        into_readme(readme, "intro line", [])
    assert readme.read_text() == "# a README that lost its markers\n"  # left as it was
