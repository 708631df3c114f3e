"""The process-wide guard behind ``--dry-run``: while it is on, no backend can be built, so no
connection is opened and nothing paid, whichever command (today's or a future one that forgets
its dry run) tries; against the real loopback server, which counts every request."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from contextlib import redirect_stderr

import pytest

from evoprompt.cli import main as cli
from evoprompt.config import Config
from evoprompt.llm import backends
from evoprompt.llm.backends import backend_spec, register_backend
from evoprompt.llm.dry_run_guard import CallsForbidden, calls_forbidden, calls_lifted
from evoprompt.llm.types import Backend, LLMRequest
from evoprompt.testing.server import FakeLLMServer

HELLO = LLMRequest(kind="chat", model="m", messages=(("user", "Say hi\n\nInput: x\nAnswer:"),))


@pytest.fixture
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


def endpoint(server: FakeLLMServer) -> Config:
    return Config(backend="openai", base_url=server.url, model="m")


def ask(config: Config) -> None:
    """What any command that spends does: build the configured backend, send one call."""

    async def once() -> None:
        backend = backend_spec(config.backend).build(config, "sk-test")
        try:
            await backend.complete(HELLO)
        finally:
            await backend.aclose()

    asyncio.run(once())


def test_no_backend_is_built_while_calls_are_forbidden(fake: FakeLLMServer) -> None:
    config = endpoint(fake)
    with calls_forbidden("a dry run"), pytest.raises(CallsForbidden, match="during a dry run"):
        ask(config)
    assert fake.counts["requests"] == 0
    ask(config)  # the guard, nothing else, stopped it: outside it the call goes out
    assert fake.counts["requests"] == 1


def test_a_backend_registered_later_is_guarded_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "_REGISTRY", dict(backends._REGISTRY))
    built: list[str] = []

    def build(config: Config, api_key: str) -> Backend:
        built.append(api_key)
        raise AssertionError("never reached under the guard")

    register_backend("plugin", capabilities={"chat"}, default_model="p", default_scorer="generate")(
        build
    )
    with calls_forbidden("a dry run"), pytest.raises(CallsForbidden):
        backend_spec("plugin").build(Config(backend="plugin"), "sk-test")
    assert built == []


def main(argv: list[str]) -> int:
    """This module as a subcommand that claims to honour --dry-run and forgets it: it spends
    whatever argv says."""
    ask(Config(backend="openai", base_url=argv[0], model="m"))
    return 0


def run(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with redirect_stderr(err):
        code = cli.main(argv)
    return code, err.getvalue()


def test_a_command_that_forgets_its_dry_run_still_cannot_pay(
    fake: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(cli.COMMANDS, "spend", (__name__, False, True))
    code, err = run(["spend", fake.url, "--dry-run"])
    assert code == 1 and fake.counts["requests"] == 0
    assert err.count("\n") == 1 and "internal error" in err and "no call was made" in err
    code, err = run(["spend", fake.url, "--dry"])  # argparse's abbreviation is a dry run too
    assert code == 1 and fake.counts["requests"] == 0
    assert run(["spend", fake.url]) == (0, "")  # without it, the command spends as written
    assert fake.counts["requests"] == 1


def test_the_pilot_lifts_the_guard_only_while_it_builds_its_backend(fake: FakeLLMServer) -> None:
    config = endpoint(fake)
    with calls_forbidden("a dry run"):
        with calls_lifted():
            ask(config)  # the pilot's own calls go out
        assert fake.counts["requests"] == 1
        with pytest.raises(CallsForbidden, match="during a dry run"):
            ask(config)  # and the guard is back for anything after it
    assert fake.counts["requests"] == 1
