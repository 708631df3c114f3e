"""Both HTTP clients (``--http-client aiohttp|httpx``) over real sockets: the same answers, the
same failures, credentials and proxies from the same places."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from evoprompt.llm.errors import FatalError, TimedOut, TransientError
from evoprompt.llm.openai_http import OpenAIBackend
from evoprompt.llm.transport import TRANSPORTS, env_proxy
from evoprompt.llm.types import LLMRequest
from evoprompt.testing.server import FakeLLMServer
from tests.loopback import Loopback, QuietHandler

CLIENTS = sorted(TRANSPORTS)
HELLO = LLMRequest(kind="chat", model="m", messages=(("user", "Say hi\n\nInput: x\nAnswer:"),))
CANNED = {
    "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1},
}


class Recorder:
    """A bare HTTP server that records each request (line and headers) and answers with a
    canned chat completion (``body`` and ``headers`` replace its own when set), or with
    ``status`` and a ``Location`` header when set."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str]]] = []
        self.status = 200
        self.body = json.dumps(CANNED).encode()
        self.headers: dict[str, str] = {}
        recorder = self

        class Handler(QuietHandler):
            def record(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                recorder.seen.append((self.requestline, headers))

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.record()
                body = recorder.body
                self.send_response(recorder.status)
                if recorder.status != 200:
                    self.send_header("Location", "/elsewhere")
                for name, value in recorder.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_CONNECT(self) -> None:  # an HTTPS proxy's tunnel: recorded, refused
                self.record()
                self.send_response(403)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = Loopback(Handler)
        self.origin = self._server.origin

    def close(self) -> None:
        self._server.close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


async def ask(backend: OpenAIBackend, request: LLMRequest = HELLO) -> str:
    try:
        return (await backend.complete(request)).text
    finally:
        await backend.aclose()


def backend(url: str, client: str, *, key: str = "sk-test", timeout: float = 5.0) -> OpenAIBackend:
    return OpenAIBackend(url, key, timeout=timeout, concurrency=4, http_client=client)


def test_both_clients_get_the_same_answers() -> None:
    request = LLMRequest(kind="completion", model="m", prompt="Say hi\n\nInput: x\nAnswer:")
    with FakeLLMServer() as server:
        answers = {
            client: (asyncio.run(ask(backend(server.url, client))),
                     asyncio.run(ask(backend(server.url, client), request)))
            for client in CLIENTS
        }  # fmt: skip
        assert server.stats()["answered"] == 2 * len(CLIENTS)
    assert len(set(answers.values())) == 1, answers


@pytest.mark.parametrize("client", CLIENTS)
def test_a_wrong_key_is_fatal_and_never_shown(client: str) -> None:
    with FakeLLMServer() as server:
        server.set_faults(api_key="sk-right")
        assert asyncio.run(ask(backend(server.url, client, key="sk-right")))
        with pytest.raises(FatalError, match="HTTP 401") as caught:
            asyncio.run(ask(backend(server.url, client, key="sk-wrong")))
        stats = server.stats()
    assert stats["answered"] == 1 and stats["status_401"] == 1
    assert "sk-wrong" not in f"{caught.value} {caught.value.hint}"


@pytest.mark.parametrize("client", CLIENTS)
def test_url_credentials_become_basic_auth_only_without_a_key(
    client: str, recorder: Recorder
) -> None:
    url = recorder.origin.replace("http://", "http://ann:s%40cret@") + "/v1"
    assert asyncio.run(ask(backend(url, client, key=""))) == "hi"
    assert asyncio.run(ask(backend(url, client, key="sk-k"))) == "hi"
    (line, first), (_, second) = recorder.seen
    assert line.startswith("POST /v1/chat/completions ")
    assert first["authorization"] == "Basic " + base64.b64encode(b"ann:s@cret").decode()
    assert second["authorization"] == "Bearer sk-k"


@pytest.mark.parametrize("client", CLIENTS)
def test_a_redirect_is_reported_not_followed(client: str, recorder: Recorder) -> None:
    recorder.status = 307
    with pytest.raises(FatalError, match=r"redirected to /elsewhere \(HTTP 307\)") as caught:
        asyncio.run(ask(backend(recorder.origin + "/v1", client)))
    assert "--base-url" in caught.value.hint
    assert len(recorder.seen) == 1


@pytest.mark.parametrize("client", CLIENTS)
def test_the_environment_proxy_is_used_unless_no_proxy_names_the_host(
    client: str, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = "http://api.invalid:9/v1"  # unresolvable: only the proxy can answer
    monkeypatch.setenv("HTTP_PROXY", recorder.origin.replace("http://", "http://pu:pw@"))
    assert asyncio.run(ask(backend(target, client))) == "hi"
    line, headers = recorder.seen[0]
    assert line.startswith("POST http://api.invalid:9/v1/chat/completions ")
    assert headers["authorization"] == "Bearer sk-test"
    assert headers["proxy-authorization"] == "Basic " + base64.b64encode(b"pu:pw").decode()
    monkeypatch.setenv("NO_PROXY", "api.invalid")
    assert env_proxy(target) is None
    with pytest.raises(TransientError, match="connection failed"):
        asyncio.run(ask(backend(target, client)))
    assert len(recorder.seen) == 1


@pytest.mark.parametrize("client", CLIENTS)
def test_proxy_settings_as_people_write_them(
    client: str, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = "http://api.invalid:9/v1"
    monkeypatch.setenv("HTTP_PROXY", recorder.origin.removeprefix("http://"))  # no scheme
    assert asyncio.run(ask(backend(target, client))) == "hi"
    assert recorder.seen[0][0].startswith("POST http://api.invalid:9/v1/chat/completions ")
    monkeypatch.setenv("NO_PROXY", "api.invalid:9")  # a host:port entry
    assert env_proxy(target) is None
    monkeypatch.setenv("NO_PROXY", "api.invalid:10")
    assert env_proxy(target) == recorder.origin
    monkeypatch.setenv("ALL_PROXY", "socks5://user:hidden@127.0.0.1:1080")
    monkeypatch.delenv("HTTP_PROXY")
    with pytest.raises(FatalError, match="socks5 proxy, which is not supported") as caught:
        backend(target, client)  # refused when built, before any call
    assert "hidden" not in str(caught.value)


@pytest.mark.parametrize("client", CLIENTS)
def test_an_https_proxy_gets_its_credentials_and_never_the_key(
    client: str, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", recorder.origin.replace("http://", "http://pu:pw@"))
    with pytest.raises(TransientError, match="connection failed"):
        asyncio.run(ask(backend("https://api.invalid/v1", client, key="sk-secret")))
    ((line, headers),) = recorder.seen
    assert line.startswith("CONNECT api.invalid:443 ")
    assert headers["proxy-authorization"] == "Basic " + base64.b64encode(b"pu:pw").decode()
    assert "sk-secret" not in repr(headers)


@pytest.mark.parametrize("client", CLIENTS)
def test_a_key_is_trimmed_and_one_no_header_can_carry_is_refused_unshown(
    client: str, recorder: Recorder
) -> None:
    url = recorder.origin + "/v1"
    assert asyncio.run(ask(backend(url, client, key="sk-pasted\r\n"))) == "hi"
    assert recorder.seen[0][1]["authorization"] == "Bearer sk-pasted"
    for bad in ("sk-a\rb", "sk-\u00e9t\u00e9", "sk two"):
        with pytest.raises(FatalError, match="OPENAI_API_KEY holds a character") as caught:
            backend(url, client, key=bad)
        assert bad not in f"{caught.value} {caught.value.hint}"


@pytest.mark.parametrize("client", CLIENTS)
def test_an_unreadable_ca_bundle_is_refused_before_any_call(
    client: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    with pytest.raises(FatalError, match="cannot load CA certificates") as caught:
        backend("https://api.invalid/v1", client)
    assert "SSL_CERT_FILE" in caught.value.hint


@pytest.mark.parametrize("client", CLIENTS)
def test_long_headers_pass_and_a_corrupt_compressed_body_is_transient(
    client: str, recorder: Recorder
) -> None:
    recorder.headers = {"X-Trace": "t" * 20_000}  # some gateways send long ones
    assert asyncio.run(ask(backend(recorder.origin + "/v1", client))) == "hi"
    recorder.headers = {"Content-Encoding": "gzip"}
    recorder.body = b"not gzip at all"
    with pytest.raises(TransientError):
        asyncio.run(ask(backend(recorder.origin + "/v1", client)))


@pytest.mark.parametrize("client", CLIENTS)
def test_a_hung_request_times_out(client: str) -> None:
    with FakeLLMServer() as server:
        server.set_faults(hang_first=1, hang_s=30.0)
        with pytest.raises(TimedOut, match=r"timed out after 0\.5s"):
            asyncio.run(asyncio.wait_for(ask(backend(server.url, client, timeout=0.5)), 20))


@pytest.mark.parametrize("client", CLIENTS)
def test_a_refused_connection_and_a_non_json_body_are_transient(client: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"  # bound, never listening
        with pytest.raises(TransientError, match="connection failed") as caught:
            asyncio.run(ask(backend(closed, client)))
    assert caught.value.retryable
    with FakeLLMServer() as server:
        server.set_faults(p_nonjson=1.0)
        with pytest.raises(TransientError, match="not JSON"):
            asyncio.run(ask(backend(server.url, client)))
