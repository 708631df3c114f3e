"""Which experiment a run is: config layers, experiment id, the resume decision and its guard.

Spec section 2's rules, usable from Python: :func:`prepare` resolves the config, picks a new
experiment or an unfinished one (asking through a callback, or following ``auto_resume``), and
refuses to resume under a different experiment-defining setting.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evoprompt.checkpoint.layout import Layout
from evoprompt.checkpoint.schema import Descriptor
from evoprompt.checkpoint.store import CheckpointStore
from evoprompt.config import GUARDED, Config, resolve
from evoprompt.llm.backends import settle_backend


class SessionError(Exception):
    """Bad input detected before anything was started: one line for the user."""


@dataclass(frozen=True)
class Layers:
    """The config sources of one invocation (defaults < TOML < environment < flags)."""

    toml: dict[str, Any] | None
    env: dict[str, Any]
    flags: dict[str, Any]

    def resolve(self, base: dict[str, Any] | None = None) -> Config:
        return resolve(base=base, toml=self.toml, env=self.env, flags=self.flags)


@dataclass(frozen=True)
class Prepared:
    config: Config
    exp_id: str
    resuming: bool
    notice: str | None = None


def newest_unfinished(result_dir: Path, name: str) -> tuple[str, Descriptor] | None:
    """The most recently saved unfinished experiment of this config name (by checkpoint time)."""
    best: tuple[float, str, Descriptor] | None = None
    for exp_dir in result_dir.glob("*/"):
        layout = Layout(exp_dir)
        try:
            stored = json.loads(layout.config.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(stored, dict) or stored.get("name") != name:
            continue
        cursor = CheckpointStore(exp_dir).read_cursor()[0]  # JSON only: no state.pkl is read
        if cursor is None or cursor.stage.text == "finished":
            continue
        if best is None or cursor.timestamp > best[0]:
            best = (cursor.timestamp, exp_dir.name, cursor)
    return None if best is None else (best[1], best[2])


def check_id(exp_id: str) -> None:
    if not exp_id or "/" in exp_id or exp_id.startswith("."):
        raise SessionError(f"invalid experiment id {exp_id!r}")


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

    ``ask`` poses the resume question (a terminal); without it an unfinished experiment is
    resumed only with ``auto_resume``, and otherwise a new one starts (``say`` tells why).
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
        found = newest_unfinished(result_dir, config.name)
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
    stamp = time.strftime("%Y%m%d_%H%M%S")
    exp_id = f"{config.name}_{stamp}"
    n = 2
    while (result_dir / exp_id).exists():
        exp_id, n = f"{config.name}_{stamp}_{n}", n + 1
    return exp_id, False


def check_guard(stored: dict[str, Any], config: Config, exp_id: str) -> None:
    """Refuse to resume under a different experiment-defining setting, naming each one."""
    defaults = Config()  # a key an older experiment lacks had its default value
    differing = [
        f"{key} (experiment: {stored.get(key)!r}, now: {getattr(config, key)!r})"
        for key in GUARDED
        if stored.get(key, getattr(defaults, key)) != getattr(config, key)
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
) -> Prepared:
    """The config, experiment id and resume decision of a run; raises SessionError or
    ConfigError. A resumed experiment starts from its stored config.json (guarded)."""
    config = layers.resolve()
    exp_id, resuming = choose_experiment(
        config,
        experiment_id=experiment_id,
        fresh=fresh,
        auto_resume=auto_resume,
        ask=ask,
        say=say,
    )
    if resuming:
        path = Layout(Path(config.result_dir) / exp_id).config
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SessionError(f"{path} is unreadable ({exc}); cannot resume {exp_id}") from None
        config = layers.resolve(base=stored)
        notice = settle_backend(config, api_key)
        check_guard(stored, config, exp_id)
    else:
        notice = settle_backend(config, api_key)
    return Prepared(config, exp_id, resuming, notice)
