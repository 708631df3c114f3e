"""Which experiment a run is: config layers, experiment id, the resume decision and its guard.

Spec section 2's rules, usable from Python: :func:`prepare` resolves the config, picks a new
experiment or an unfinished one (asking through a callback, or following ``auto_resume``), and
refuses to resume under a different experiment-defining setting.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evoprompt.checkpoint.layout import Layout, is_safe_id
from evoprompt.checkpoint.nofollow import confine_to, is_real_dir
from evoprompt.checkpoint.schema import Descriptor
from evoprompt.checkpoint.store import CheckpointStore
from evoprompt.config import GUARDED, Config, ConfigError, resolve
from evoprompt.llm.backends import Settled, known, settle
from evoprompt.runner.stored import StoredError, read_stored
from evoprompt.runner.task import Task, check_input


class SessionError(Exception):
    """Bad input detected before anything was started: one line for the user."""


@dataclass(frozen=True)
class Layers:
    """The config sources of one invocation (defaults < TOML < environment < flags)."""

    toml: dict[str, Any] | None
    env: dict[str, Any]
    flags: dict[str, Any]

    def resolve(self) -> Config:
        """The config these sources give, not yet settled (a misspelt backend is refused)."""
        return known(resolve(toml=self.toml, env=self.env, flags=self.flags))

    def settle(self, api_key: str) -> Settled:
        """The config these sources give, settled: what a fresh run or its bill uses."""
        return settle(self.resolve(), api_key)


@dataclass(frozen=True)
class Prepared:
    config: Config
    exp_id: str
    resuming: bool
    task: Task  # the checked input
    notice: str | None = None


def defining(config: Config) -> dict[str, Any]:
    """The settings that make an experiment what it is (config.GUARDED), of a settled config."""
    return {key: getattr(config, key) for key in GUARDED}


def stored_config(exp_dir: Path) -> Config | None:
    """An experiment's config.json, settled as a new config would be (an older file may lack
    what settling adds), for comparing; None when it is missing or no longer valid."""
    try:
        return read_stored(exp_dir).as_found()
    except (ValueError, TypeError):  # StoredError and ConfigError are ValueErrors
        return None


def newest_unfinished(result_dir: Path, config: Config) -> tuple[str, Descriptor] | None:
    """The most recently saved unfinished experiment with this config's name and defining
    settings (by checkpoint time): the only one a plain run may offer to resume."""
    wanted = defining(config)
    best: tuple[float, str, Descriptor] | None = None
    for exp_dir in result_dir.glob("*/"):
        if not is_real_dir(exp_dir):
            continue  # a link is never an experiment of this folder
        stored = stored_config(exp_dir)
        if stored is None or stored.name != config.name or defining(stored) != wanted:
            continue
        cursor = CheckpointStore(exp_dir).read_cursor()[0]  # JSON only: no state.pkl is read
        if cursor is None or cursor.stage.text == "finished":
            continue
        if best is None or cursor.timestamp > best[0]:
            best = (cursor.timestamp, exp_dir.name, cursor)
    return None if best is None else (best[1], best[2])


def check_id(exp_id: str) -> None:
    if not is_safe_id(exp_id):
        raise SessionError(
            f"invalid experiment id {exp_id!r}: use letters, digits, '.', '_' or '-' "
            "(not first: '.', '-')"
        )


def choose_experiment(
    config: Config,
    *,
    experiment_id: str | None = None,
    fresh: bool = False,
    auto_resume: bool = False,
    ask: Callable[[str], bool] | None = None,
    say: Callable[[str], None] = lambda line: None,
) -> tuple[str, bool]:
    """(experiment id, whether to resume it), following spec section 2's resume rules.

    ``config`` is settled (:func:`~evoprompt.llm.backends.settle`): only an experiment with its
    name and defining settings is offered. ``ask`` poses the resume question (a terminal);
    without it one is resumed only with ``auto_resume``, and otherwise a new one starts
    (``say`` tells why).
    """
    result_dir = Path(config.result_dir)
    if experiment_id is not None:
        check_id(experiment_id)
        exists = Layout(result_dir / experiment_id).config.is_file()
        if exists and fresh:
            raise SessionError(
                f"experiment {experiment_id} already exists and --fresh never resumes: drop "
                "--fresh to resume it, or drop --experiment-id to start a new one"
            )
        return experiment_id, exists
    if not fresh:
        found = newest_unfinished(result_dir, config)
        if found is not None:
            exp_id, cursor = found
            where = f"generation {cursor.generation}, batch {cursor.batch_idx}"
            if auto_resume:
                say(f"Resuming unfinished experiment {exp_id} ({where}).")
                return exp_id, True
            if ask is not None:
                question = f"Unfinished experiment {exp_id} found ({where}). "
                if ask(question + "Resume from checkpoint? [y/n] "):
                    return exp_id, True
            else:
                say(
                    f"Unfinished experiment {exp_id} found ({where}); starting a new one "
                    "(pass --yes or set EVOPROMPT_AUTO_RESUME=1 to resume it)."
                )
    return f"{config.name}_{time.strftime('%Y%m%d_%H%M%S')}", False


def reserve_id(result_dir: Path, base: str) -> str:
    """``base`` or ``base_2``, ``base_3``...: the first whose folder this call creates (mkdir is
    atomic, so runs started in the same second never share an id)."""
    try:
        result_dir.mkdir(parents=True, exist_ok=True)
        exp_id, n = base, 2
        while True:
            try:
                (result_dir / exp_id).mkdir()
                return exp_id
            except FileExistsError:
                exp_id, n = f"{base}_{n}", n + 1
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise  # the caller's one line for a full disk
        raise SessionError(
            f"cannot create a folder in {result_dir}: {exc.strerror}; check --result-dir"
        ) from None


def check_guard(stored: Config, config: Config, exp_id: str) -> None:
    """Refuse to resume under a different experiment-defining setting, naming each one."""
    before, now = defining(stored), defining(config)
    differing = [
        f"{key} (experiment: {before[key]!r}, now: {now[key]!r})"
        for key in GUARDED
        if before[key] != now[key]
    ]
    if differing:
        raise SessionError(
            f"cannot resume {exp_id} with a different "
            + "; ".join(differing)
            + ". Drop those options to resume, or pass --fresh to start a new experiment."
        )


def prepare(
    layers: Layers,
    api_key: str,
    *,
    experiment_id: str | None = None,
    fresh: bool = False,
    auto_resume: bool = False,
    ask: Callable[[str], bool] | None = None,
    say: Callable[[str], None] = lambda line: None,
    metric: str | None = None,
    admit: Callable[[Config, Task], None] | None = None,
    trust: bool = False,
) -> Prepared:
    """The config, experiment id, resume decision and checked input of a run; raises
    SessionError, ConfigError or DatasetError, having created nothing. A new experiment's id
    is reserved by creating its (empty) folder. A resumed experiment starts from its stored
    config.json (guarded).

    A plain run checks its input before it looks for an experiment to offer, so bad input is
    reported as such (not as a resume question). With ``experiment_id`` the input is the
    stored experiment's, checked once it is known. An unsigned folder's risky settings must be
    confirmed by ``layers`` or ``trust`` (``--trust-folder``) before anything is read or run.
    """
    config = layers.resolve()
    confine_to(Path(config.result_dir))
    task = notice = None
    if experiment_id is None:
        config, notice = settle(config, api_key)
        task = check_input(config, metric)
    exp_id, resuming = choose_experiment(
        config,
        experiment_id=experiment_id,
        fresh=fresh,
        auto_resume=auto_resume,
        ask=ask,
        say=say,
    )
    if resuming:
        exp_dir = Path(config.result_dir) / exp_id
        try:
            stored = read_stored(exp_dir)
            found = stored.as_found()
        except (StoredError, ConfigError) as exc:
            raise SessionError(f"{exc}; cannot resume {exp_id}") from None
        config, notice = stored.resolve(layers.toml, layers.env, layers.flags, api_key, trust=trust)
        check_guard(found, config, exp_id)
    elif task is None:
        config, notice = settle(config, api_key)
    if task is None:
        task = check_input(config, metric)
    if not resuming:
        if admit is not None:
            admit(config, task)  # e.g. the CLI's budget check; raises SessionError to refuse
        if experiment_id is None:
            # Reserved last, once the input is known to be good: bad input leaves nothing.
            exp_id = reserve_id(Path(config.result_dir), exp_id)
    return Prepared(config, exp_id, resuming, task, notice)
