"""``list``, ``status``, ``verify`` and ``report`` on experiments made by real runs.

One module fixture runs the real CLI against the HTTP test endpoint, concurrently: a finished
run, one stopped by SIGINT (inspected while still running first), two killed with SIGKILL (one
before generation 0 was saved, one mid-generation 1), plus copies of the finished one with
garbled files and a tampered state.pkl. Commands run in-process for speed; a few go through
``main.py`` to check the real dispatch and exit codes.

The browser test needs Debian's chromium (``apt-get install -y chromium``); it is skipped
without it. To look at a report by hand::

    python main.py report ID --result-dir result
    chromium --headless --disable-gpu --no-sandbox --screenshot=/tmp/report.png \
        --window-size=1200,2000 file://$PWD/result/ID/report.html
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from evoprompt.checkpoint.atomic import read_checked_json
from evoprompt.cli.hints import program
from evoprompt.report.experiment import when
from tests.conftest import ROOT, cli_env, main_cmd
from tests.e2e.conftest import Experiments, inspect

CHROMIUM = shutil.which("chromium")


def _table(out: str) -> dict[str, list[str]]:
    lines = out.strip().splitlines()
    assert lines[0].split() == [
        "id", "algorithm", "status", "generation", "best_fitness", "last_update",
    ]  # fmt: skip
    return {line.split()[0]: line.split()[1:] for line in lines[1:]}


def test_list_shows_every_experiment_with_its_state(exps: Experiments) -> None:
    done = exps.run("list")
    assert done.code == 0, done.err
    rows = _table(done.out)
    assert {k: v[1] for k, v in rows.items()} == {
        "fin": "finished",
        "int": "interrupted",
        "early": "crashed",
        "late": "crashed",
        "corrupt": "finished",  # latest.json is garbled: summary.json still says finished
        "tampered": "finished",
    }
    assert rows["fin"][:3] == ["ga", "finished", "2/2"]
    assert rows["early"][2] == "-/2" and rows["late"][2] == "0/2"
    fin = json.loads((exps.root / "fin/summary.json").read_text())
    assert rows["fin"][3] == f"{fin['best_fitness']:.4f}"
    latest = read_checked_json(exps.root / "fin/checkpoints/latest.json")
    assert " ".join(rows["fin"][4:]) == when(latest["timestamp"])


def test_a_running_experiment_is_shown_and_left_alone(exps: Experiments) -> None:
    listed, status, verify = (exps.while_running[k] for k in ("list", "status", "verify"))
    assert _table(listed.out)["int"][1] == "running"
    assert status.code == 0 and status.out.startswith("Experiment int: running")
    assert "Resume: not needed, it is running (pid" in status.out
    assert verify.code == 0, verify.out
    # The inspected run kept its lock and stopped normally on Ctrl+C.
    assert exps.exit_codes["int"] == 130
    assert exps.run("status", "int").out.startswith("Experiment int: interrupted")


def test_status_of_a_finished_experiment(exps: Experiments) -> None:
    done = exps.run("status", "fin")
    assert done.code == 0, done.err
    doc = json.loads((exps.root / "fin/summary.json").read_text())
    # the last completed generation, not one past it (nothing is under way)
    assert "cursor:      generation 2, batch 0 (stage finished; latest.json" in done.out
    assert f"best:        {doc['best_fitness']:.4f}  {doc['best_prompt']}" in done.out
    stats = doc["api_stats"]
    assert f"API statistics (journal.sqlite): calls {stats['calls']} " in done.out
    for name in ("latest.json", "backup.json", "state.pkl", "gen2_batch0.json", "journal.sqlite"):
        assert re.search(rf"{re.escape(name)}\s+\d+\s+ok", done.out), name
    assert "Resume: nothing to resume, it is finished" in done.out


def test_status_of_interrupted_and_crashed_experiments_gives_the_resume_command(
    exps: Experiments,
) -> None:
    for exp_id in ("int", "late", "early"):
        done = exps.run("status", exp_id)
        assert done.code == 0, done.err
        command = f"{program()} --experiment-id {exp_id} --result-dir {exps.root}"
        assert f"Resume with: {command}" in done.out
    late = exps.run("status", "late").out
    assert late.startswith("Experiment late: crashed")
    # Killed right after a gen-1 batch file: latest.json may or may not have caught up with it.
    stage = r"(generation_0_complete|generation_1_batch_\d)"
    assert re.search(rf"cursor:      generation 1, batch \d \(stage {stage}; latest.json", late)
    early = exps.run("status", "early").out
    assert early.startswith("Experiment early: crashed")
    assert "Note: summary.json and state.pkl are missing" in early
    assert re.search(r"API statistics \(journal.sqlite\): calls [1-9]", early)


def test_unknown_or_invalid_id_is_one_error_line_and_exit_2(exps: Experiments) -> None:
    for argv in (("status", "nope"), ("verify", "nope"), ("report", "nope"), ("status", "../x")):
        done = exps.run(*argv)
        assert done.code == 2 and done.out == ""
        assert done.err.startswith("error: ") and done.err.count("\n") == 1


def test_verify_passes_on_sound_experiments(exps: Experiments) -> None:
    for exp_id in ("fin", "int", "early", "late"):
        done = exps.run("verify", exp_id)
        assert done.code == 0, done.out
        assert re.search(rf"{exp_id}: all \d+ files verified", done.out)
    assert "ok   checkpoints/batches/gen2_batch3.json" in exps.run("verify", "fin").out


def test_verify_names_each_bad_file_and_exits_1(exps: Experiments) -> None:
    done = exps.run("verify", "corrupt")
    assert done.code == 1
    bad = {line.split()[1]: line for line in done.out.splitlines() if line.startswith("BAD")}
    assert set(bad) == {
        "checkpoints/latest.json",
        "checkpoints/batches/gen1_batch2.json",
        "journal.sqlite",
    }
    assert "checksum mismatch" in bad["checkpoints/latest.json"]
    assert "not valid JSON" in bad["checkpoints/batches/gen1_batch2.json"]
    assert "not a usable SQLite database" in bad["journal.sqlite"]
    assert "ok   checkpoints/backup.json" in done.out
    assert re.search(r"corrupt: 3 of \d+ files bad$", done.out.strip())
    # status still works: cursor from backup.json, API statistics from summary.json.
    status = exps.run("status", "corrupt")
    assert status.code == 0
    assert "backup.json" in status.out and "latest.json is unusable" in status.out
    assert "API statistics (summary.json)" in status.out


def test_a_tampered_state_pkl_is_reported_not_executed(exps: Experiments) -> None:
    done = exps.run("verify", "tampered")
    assert done.code == 1
    assert "BAD  checkpoints/state.pkl" in done.out and "disallowed object" in done.out
    assert not (exps.root / "pwned").exists()


def _png_size(png: bytes) -> tuple[int, int]:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    return struct.unpack(">II", png[16:24])


def test_html_report_is_self_contained_and_complete(exps: Experiments) -> None:
    done = exps.run("report", "fin")
    path = exps.root / "fin/report.html"
    assert done.code == 0 and done.out.strip() == str(path)
    page = path.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "external resource"
    assert "url(" not in page and "@import" not in page
    encoded = re.search(r'id="fitness-plot"[^>]*src="data:image/png;base64,([^"]+)"', page)
    assert encoded and min(_png_size(base64.b64decode(encoded[1]))) > 100
    doc = json.loads((exps.root / "fin/summary.json").read_text())
    for gen in doc["generations"]:
        assert f'<td class="num">{gen["mean_fitness"]:.4f}</td>' in page
    ranked = [row["text"] for row in sorted(doc["population"], key=lambda r: -r["fitness"])]
    positions = [page.index(f">{text}</td>", page.index("Final population")) for text in ranked]
    assert positions == sorted(positions)
    lineage = page[page.index("Lineage of the best prompt") : page.index("Error patterns")]
    seeds = json.loads((exps.root / "fin/config.json").read_text())["seed_prompts"]
    assert doc["best_prompt"] in lineage and any(seed in lineage for seed in seeds)
    assert "· seed ·" in lineage and "· ga ·" in lineage
    errors = page[page.index("Error patterns") :]
    for pattern, count in doc["best_analysis"]["error_patterns"].items():
        true, predicted = pattern.split(" -> ")
        assert f'<td>{true}</td><td>{predicted}</td><td class="num">{count}</td>' in errors


def test_markdown_report_writes_the_plot_beside_it(exps: Experiments, tmp_path: Path) -> None:
    target = tmp_path / "out/fin.md"
    done = exps.run("report", "fin", "--format", "md", "--output", str(target))
    assert done.code == 0 and done.out.strip() == str(target)
    text = target.read_text()
    assert "![best and mean fitness per generation](fin_fitness.png)" in text
    assert min(_png_size((tmp_path / "out/fin_fitness.png").read_bytes())) > 100
    assert "## Lineage of the best prompt" in text and "| 2 | 0." in text


def test_report_on_a_crashed_experiment_says_what_is_missing(exps: Experiments) -> None:
    done = exps.run("report", "early")
    assert done.code == 0, done.err
    page = (exps.root / "early/report.html").read_text()
    assert "summary.json and state.pkl are missing" in page
    assert "nothing to plot" in page and 'id="fitness-plot"' not in page


def test_commands_write_nothing_inside_the_experiment(exps: Experiments, tmp_path: Path) -> None:
    def files(folder: Path) -> dict[str, tuple[int, int]]:
        # -shm is SQLite's shared-memory index of a killed writer's WAL, not data.
        return {
            str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*")
            if p.is_file() and not p.name.endswith("-shm")
        }

    for exp_id in ("fin", "late"):
        folder = exps.root / exp_id
        before = files(folder)
        for argv in (("status", exp_id), ("verify", exp_id), ("list",)):
            exps.run(*argv)
        exps.run("report", exp_id, "--output", str(tmp_path / f"{exp_id}.html"))
        assert files(folder) == before


def test_help_and_bad_usage(exps: Experiments) -> None:
    for command in ("list", "status", "verify", "report"):
        done = inspect(command, "--help")
        assert done.code == 0 and done.out.startswith(f"usage: {program()} {command}")
    assert "crashed" in inspect("list", "--help").out
    assert inspect("status").code == 2
    assert inspect("report", "fin", "--format", "pdf").code == 2
    assert inspect("list", "--result-dir", str(exps.root / "missing")).code == 2


def test_main_py_dispatches_with_the_right_exit_codes(exps: Experiments) -> None:
    def main_py(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            main_cmd(*argv, "--result-dir", str(exps.root)),
            cwd=ROOT, env=cli_env(None), capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    assert main_py("verify", "corrupt").returncode == 1
    unknown = main_py("status", "nope")
    assert unknown.returncode == 2 and unknown.stderr.startswith("error: no experiment 'nope'")
    assert main_py("list").returncode == 0


def test_report_without_matplotlib_says_how_to_install_it(
    exps: Experiments, tmp_path: Path
) -> None:
    shadow = tmp_path / "shadow/matplotlib"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('hidden by the test')\n")
    env = {**cli_env(None), "PYTHONPATH": str(tmp_path / "shadow")}
    out = tmp_path / "r.html"
    done = subprocess.run(
        main_cmd("report", "fin", "--result-dir", str(exps.root), "--output", str(out)),
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "pip install 'evoprompt[report]'" in done.stderr
    assert not out.exists()


def _chromium(tmp_path: Path, url: str, *flags: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--enable-logging=stderr",
            "--v=0", f"--user-data-dir={tmp_path / 'profile'}",
            "--host-resolver-rules=MAP * ~NOTFOUND",  # offline: any network fetch would fail
            *flags, url,
        ],
        capture_output=True, text=True, timeout=90,
    )  # fmt: skip


def _console_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")
def test_html_report_renders_in_a_headless_browser(exps: Experiments, tmp_path: Path) -> None:
    """Screenshot it, then dump the DOM after load: the plot must decode to a real image."""
    report = tmp_path / "fin.html"
    assert exps.run("report", "fin", "--output", str(report)).code == 0
    shot = tmp_path / "shot.png"
    taken = _chromium(tmp_path, report.as_uri(), f"--screenshot={shot}", "--window-size=1200,2000")
    assert taken.returncode == 0, taken.stderr[-2000:]
    assert shot.stat().st_size > 0 and min(_png_size(shot.read_bytes())) > 0
    dumped = _chromium(tmp_path, report.as_uri(), "--virtual-time-budget=5000", "--dump-dom")
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    size = re.search(r'data-natural-size="(\d+)x(\d+)"', dumped.stdout)
    assert size and int(size[1]) > 100 and int(size[2]) > 100, "the plot did not decode"
    assert _console_errors(taken.stderr + dumped.stderr) == []
    # Control: the same flags do surface a script error, so the check above can fail.
    broken = tmp_path / "broken.html"
    broken.write_text("<html><body><script>notDefined();</script></body></html>")
    control = _chromium(tmp_path, broken.as_uri(), "--virtual-time-budget=2000", "--dump-dom")
    assert any("Uncaught" in line for line in _console_errors(control.stderr))
