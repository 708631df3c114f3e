"""What a newcomer meets first: printed commands, --help, a mistyped subcommand, bad input
before any resume offer and without debris, pipes, file modes, the packaging of both routes."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from evoprompt.checkpoint.layout import Layout
from evoprompt.cli.args import GROUPS, build_parser
from evoprompt.cli.hints import program
from evoprompt.cli.main import SUBCOMMANDS, unknown_command
from evoprompt.config import Config, ConfigError, resolve
from evoprompt.testing.server import FakeLLMServer, Faults
from tests.conftest import ROOT, cli_env, run_cli

SMALL = ["--population-size", "4", "--max-generations", "1", "--dev-size", "8"]
SMALL += ["--batch-size", "4", "--retry-delay", "0.01"]


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# -- 1. printed commands name the interpreter that runs ---------------------------------------


def test_printed_commands_name_the_running_interpreter() -> None:
    # pytest runs from a virtual environment (make test): a fresh shell has no `python` with
    # pandas on PATH, so the interpreter is named by its path.
    if sys.prefix != sys.base_prefix:
        assert program().split()[0] in (sys.executable, os.path.relpath(sys.executable))
    assert program().endswith(" -m evoprompt")  # not started as main.py (pytest is argv[0])
    done = subprocess.run(
        [sys.executable, "-m", "evoprompt", "status", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    assert done.stdout.startswith(f"usage: {program()} status")


# -- 4, 5. bad input: reported first, nothing offered, nothing created ----------------------


def _unfinished(server: FakeLLMServer, result_dir: Path, *extra: str) -> str:
    """An experiment stopped by a budget (unfinished, resumable); its id. The budget covers
    the initial population (a smaller one is refused before anything starts), not the run."""
    done = run_cli(
        [*SMALL, "--result-dir", str(result_dir), "--max-calls", "500", *extra], cli_env(server)
    )
    assert done.returncode == 75, done.stderr
    (exp_id,) = [p.name for p in result_dir.iterdir()]
    return exp_id


def test_bad_input_is_reported_before_any_resume_offer_and_leaves_nothing(
    tmp_path: Path, server: FakeLLMServer
) -> None:
    _unfinished(server, tmp_path)
    before = tree(tmp_path)
    env = cli_env(server)
    for bad, says in (
        (["--dataset", str(tmp_path / "missing.csv")], "missing.csv not found"),
        (["--templates", str(tmp_path / "nope.toml")], "nope.toml not found"),
        (["--name", ".hidden"], "not start with '.'"),
    ):
        done = run_cli([*SMALL, "--result-dir", str(tmp_path), *bad], env)
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip().splitlines() == [done.stderr.strip()]  # one line
        assert says in done.stderr and "Unfinished experiment" not in done.stderr
        assert tree(tmp_path) == before  # no folder with only .lock and journal.sqlite


def test_the_resume_offer_matches_the_whole_defining_config(
    tmp_path: Path, server: FakeLLMServer
) -> None:
    exp_id = _unfinished(server, tmp_path)
    env = cli_env(server)
    base = [*SMALL, "--result-dir", str(tmp_path), "--max-calls", "1"]
    other = run_cli([*base, "--model", "another-model"], env)  # a different experiment
    assert "Unfinished experiment" not in other.stderr
    same = run_cli(base, env)  # the same one: offered (no terminal: said, a new one starts)
    assert f"Unfinished experiment {exp_id} found" in same.stderr


def test_a_missing_backend_package_is_one_line_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evoprompt.cli.run import main as run_main
    from evoprompt.llm import backends
    from evoprompt.llm.backends import register_backend

    monkeypatch.setattr(backends, "_REGISTRY", dict(backends._REGISTRY))  # outlives no test

    @register_backend(
        "needs_absent_package",
        capabilities={"chat"},
        default_model="m",
        default_scorer="generate",
        requires=("evoprompt_no_such_module",),
        install_hint="pip install it",
    )
    def never(config: Config, api_key: str) -> object:  # pragma: no cover - never built
        raise AssertionError("built")

    code = run_main(["--backend", "needs_absent_package", "--result-dir", str(tmp_path)])
    assert code == 2
    assert list(tmp_path.iterdir()) == []


# -- 6. names -----------------------------------------------------------------------------------


def test_a_hidden_name_is_refused() -> None:
    with pytest.raises(ConfigError, match="'name'"):
        resolve(toml=None, env={}, flags={"name": ".hidden"})


# -- 9. --help and a mistyped subcommand -------------------------------------------------------


def test_help_is_grouped_with_environment_and_exit_codes() -> None:
    grouped = [key for _, keys in GROUPS for key in keys]
    assert sorted(grouped) == sorted(f.name for f in Config.__dataclass_fields__.values())
    text = build_parser().format_help()
    for title in ("experiment", "endpoint", "retries and limits", "budgets", "checkpoints"):
        assert f"\n{title}" in text
    for word in ("OPENAI_API_KEY", "EVOPROMPT_AUTO_RESUME", "exit codes", "130", "75"):
        assert word in text
    flat = " ".join(text.split())
    assert "space-separated" in flat and '{"gpt-4o-mini": {"prompt"' in flat
    assert "to extend a finished run" in flat
    args = build_parser().parse_args(["--labels", "a", "b", "--prices", '{"m": {"prompt": 1}}'])
    assert args.labels == ["a", "b"] and args.prices == {"m": {"prompt": 1}}


def test_a_mistyped_subcommand_gets_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "main.py", "stat"], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "did you mean status?" in done.stderr
    assert "did you mean list?" in unknown_command("lst")
    assert all(name in unknown_command("zzzz") for name in SUBCOMMANDS)


def test_the_process_entry_returns_the_commands_code_with_the_heap_frozen() -> None:
    """console() (main.py, the script, ``-m evoprompt``) passes main()'s code on and freezes
    the heap, so the interpreter's exit does not walk it; main() itself, which tests and
    sweeps call in-process, freezes nothing."""
    probe = (
        "import gc, sys; from evoprompt.cli.main import console, main; "
        "main(['stat']); frozen = gc.get_freeze_count(); "
        "sys.argv = ['evoprompt', 'stat']; code = console(); "
        "print(frozen, code, gc.get_freeze_count() > 0)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert done.stdout.split() == ["0", "2", "True"]


# -- 8, 10. a finished run, pipes, modes, the recorded temperature ------------------------------


def test_a_finished_run_rerun_prints_its_summary_and_pipes_end_quietly(
    tmp_path: Path, server: FakeLLMServer
) -> None:
    env = cli_env(server)
    command = [*SMALL, "--result-dir", str(tmp_path), "--experiment-id", "done"]
    assert run_cli(command, env).returncode == 0
    again = run_cli(command, env)
    assert again.returncode == 0 and "already finished" in again.stderr
    assert "Resuming" not in again.stderr and "generation 2" not in again.stderr
    folder = tmp_path / "done"
    assert not Layout(folder).recovery_log.exists()
    status = f"{sys.executable} main.py status done --result-dir {tmp_path}"
    piped = subprocess.run(
        f"{status} | head -1", shell=True, capture_output=True, text=True, cwd=ROOT, env=env
    )
    assert piped.stdout == "Experiment done: finished\n"
    assert "Traceback" not in piped.stderr and "BrokenPipe" not in piped.stderr
    modes = {
        stat.S_IMODE(p.stat().st_mode)
        for p in (Layout(folder).journal, Layout(folder).summary, Layout(folder).config)
    }
    assert len(modes) == 1, modes  # results, config and journal alike


def test_config_json_records_the_evolve_temperature_used(tmp_path: Path) -> None:
    from evoprompt.llm.backends import settle
    from evoprompt.runner.experiment import Experiment

    config = Config(backend="local", result_dir=str(tmp_path), evolve_temperature=0.5)
    config = settle(config, "").config
    assert config.evolve_temperature == 1.0  # the local base model's declared temperature
    pytest.importorskip("llama_cpp_py_sync")
    Experiment(config, tmp_path / "t", "").write_config()
    stored = json.loads(Layout(tmp_path / "t").config.read_text())
    assert stored["evolve_temperature"] == 1.0


# -- 2, 3, 10. packaging: both routes install what the commands need ----------------------------


def test_both_routes_install_the_model_and_the_report_plot() -> None:
    from evoprompt.config.resolve import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    # uv run: default groups (the seed guide's `uv run python main.py`, then `report`)
    defaults = project["tool"]["uv"]["default-groups"]
    wanted = {req for g in defaults for req in project["dependency-groups"][g]}
    assert "evoprompt[local,report]" in wanted
    # make run: the same extras
    assert "-e '.[local,report]'" in (ROOT / "Makefile").read_text()
    # pip install evoprompt stays model-free; no setuptools licence warnings
    assert not any("llama" in d for d in project["project"]["dependencies"])
    assert project["project"]["license"] == "MIT"
    assert "uv.lock" in (ROOT / ".gitignore").read_text().split()


# -- progress off a terminal, and what to do next ---------------------------------------------


def test_off_a_terminal_a_run_prints_progress_lines_and_ends_with_commands_that_work(
    tmp_path: Path,
) -> None:
    """Output to a pipe (CI, nohup, a log file): every phase says it started and prints a
    plain progress line at the chosen pace while calls are slow; the end names the next
    commands, and each works pasted into a fresh shell."""
    with FakeLLMServer(faults=Faults(latency=0.05)) as server:
        env = {**cli_env(server), "EVOPROMPT_PROGRESS_S": "0.2"}
        args = [*SMALL, "--test-size", "24", "--concurrency", "2", "--result-dir", str(tmp_path)]
        done = run_cli([*args, "--experiment-id", "seen"], env)
        assert done.returncode == 0, done.stderr
        err = done.stderr
        for phase in ("gen 0: paraphrasing", "gen 0: scoring", "gen 1: breeding", "test: scoring"):
            assert any(line.startswith(phase) and "started" in line for line in err.splitlines())
        ticks = [line for line in err.splitlines() if "req/s" in line and "ETA" in line]
        assert len(ticks) >= 3 and "\r" not in err
        block = done.stdout[done.stdout.index("\nNext:\n") :].splitlines()[2:]
        commands = [line.strip() for line in block if line.startswith("    ")]
        assert [c.split()[2] for c in commands] == ["report", "fork"]  # tested: no `test`
        for command in commands:
            pasted = subprocess.run(
                ["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True
            )
            assert pasted.returncode == 0, (command, pasted.stderr)
    assert (tmp_path / "seen" / "report.html").is_file()
    assert (tmp_path / "seen_fork_g0" / "summary.json").is_file()
