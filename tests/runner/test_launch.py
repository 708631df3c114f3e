"""Which experiment a run is: ids are reserved atomically and printed commands are quoted."""

from __future__ import annotations

import shlex
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from evoprompt.cli.hints import program, resume_command
from evoprompt.config import Config
from evoprompt.runner.launch import choose_experiment, reserve_id


def test_runs_started_in_the_same_second_never_share_an_id(tmp_path: Path) -> None:
    base = choose_experiment(Config(result_dir=str(tmp_path)), fresh=True)[0]
    assert not any(tmp_path.iterdir())  # choosing creates nothing; the reservation does
    with ThreadPoolExecutor(8) as pool:  # eight runs whose clocks gave the same id
        ids = list(pool.map(lambda _: reserve_id(tmp_path, base), range(8)))
    assert len(set(ids)) == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(ids)


def test_the_printed_resume_command_is_quoted() -> None:
    config = Config(result_dir="my results/$(id)")
    command = resume_command("exp_1", config)
    assert command.startswith(program() + " ")  # the interpreter running, then main.py
    assert shlex.split(command)[-4:] == [
        "--experiment-id",
        "exp_1",
        "--result-dir",
        "my results/$(id)",
    ]
    assert resume_command("exp_1", Config()) == f"{program()} --experiment-id exp_1"
