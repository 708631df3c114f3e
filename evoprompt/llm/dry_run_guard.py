"""The dry-run guard: while calls are forbidden, no backend can be built.

Kept apart from the backend registry (:mod:`evoprompt.llm.backends`), which wraps every build
function it registers in :func:`guarded`: the guard is one rule every command goes through,
so a command that mishandles ``--dry-run`` stops before any connection could be opened or paid.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator

from evoprompt.config import Config
from evoprompt.llm.types import Backend

# How a backend is built from a settled config and an API key.
Build = Callable[[Config, str], Backend]
_forbidden: list[str] = []  # why no backend may be built now (a dry run), innermost last


class CallsForbidden(RuntimeError):
    """A backend was about to be built while calls are forbidden: a bug in the command (it
    handles ``--dry-run`` wrongly), stopped before any connection could be opened or paid."""


@contextlib.contextmanager
def calls_forbidden(why: str) -> Iterator[None]:
    """While inside, building any backend raises :class:`CallsForbidden`. Every backend is
    built through its registered build function, wrapped by :func:`guarded`, so a command
    that forgets a dry run still cannot connect, however it builds its backend."""
    _forbidden.append(why)
    try:
        yield
    finally:
        _forbidden.pop()


@contextlib.contextmanager
def calls_lifted() -> Iterator[None]:
    """Lift :func:`calls_forbidden` while inside: only for ``--pilot N``, whose one backend is
    built here and used for its N calls (:mod:`evoprompt.billing.pilot`); the guard is back for
    anything else the command builds."""
    held = _forbidden[:]
    _forbidden.clear()
    try:
        yield
    finally:
        _forbidden[:] = held


def guarded(name: str, build: Build) -> Build:
    """``build``, refusing to run while calls are forbidden (every registered build is this)."""

    @functools.wraps(build)
    def guard(config: Config, api_key: str) -> Backend:
        if _forbidden:
            raise CallsForbidden(
                f"the {name} backend was about to be built during {_forbidden[-1]}"
            )
        return build(config, api_key)

    return guard
