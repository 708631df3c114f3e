"""The fake endpoint's HTTP face: request in, faults' delays, reply out.

Kept apart from :mod:`evoprompt.testing.server` (what the endpoint answers, counts and
injects): this is only the plumbing of ``http.server``, the same for every answer.
"""

from __future__ import annotations

import contextlib
import json
import time
from contextlib import AbstractContextManager
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol

from .answers import is_evolution, unit
from .faults import Faults, Reply
from .wire import chat_content


class Endpoint(Protocol):
    """What the HTTP face asks of the endpoint behind it (``FakeLLMServer``): named here, so
    the face needs nothing from the server's module and the server imports the face."""

    faults: Faults

    def stats(self) -> dict[str, Any]: ...
    def models(self) -> Reply: ...
    def set_faults(self, **changes: Any) -> None: ...
    def arrived(self, body: str) -> None: ...
    def left(self, body: str) -> None: ...
    def hangs(self) -> bool: ...
    def one_at_a_time(self) -> AbstractContextManager[Any]: ...
    def roll(self) -> float: ...
    def respond(
        self, path: str, body: dict[str, Any], authorization: str, arrived: float = 0.0
    ) -> Reply: ...


def handler_class(server: Endpoint) -> type[BaseHTTPRequestHandler]:
    """A request handler serving ``server``: reads the request, holds, hangs and delays it as
    the faults say, and writes ``server``'s reply."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: with Nagle on, each response would wait
        # ~40 ms for the client's delayed ACK, which no real endpoint does.
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, headers: dict[str, str], payload: Any) -> None:
            data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
            self.send_response(status)
            kind = "text/html" if isinstance(payload, str) else "application/json"
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            # the client may have given up (a timeout, a killed run): nothing to answer
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/_stats":
                self._send(200, {}, server.stats())
            elif self.path.rstrip("/").endswith("/models"):
                self._send(*server.models())
            else:
                self._send(404, {}, {"error": {"message": "not found"}})

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                self._send(400, {}, {"error": {"message": "body is not JSON"}})
                return
            if self.path.rstrip("/") == "/_faults":
                server.set_faults(**body)
                self._send(200, {}, asdict(server.faults))
                return
            if not self.path.endswith(("/chat/completions", "/completions")):
                self._send(404, {}, {"error": {"message": f"unknown path {self.path}"}})
                return
            arrived, text = time.monotonic(), raw.decode(errors="replace")
            server.arrived(text)
            hang = server.hangs()
            try:
                while server.faults.hold:  # held: answered once cleared, or for nobody
                    time.sleep(0.005)
                with server.one_at_a_time():
                    f = server.faults
                    if hang or (f.p_hang and server.roll() < f.p_hang):
                        time.sleep(f.hang_s)
                    if f.latency:
                        time.sleep(f.latency)
                    if f.operator_spread and is_evolution(chat_content(body)):
                        time.sleep(f.operator_spread * unit(text))
                    status, headers, payload = server.respond(
                        self.path, body, self.headers.get("Authorization", ""), arrived
                    )
            finally:
                server.left(text)
            self._send(status, headers, payload)

    return Handler
