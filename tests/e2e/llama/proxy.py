"""A counting proxy in front of a real server: which request bodies got a 200, how often."""

from __future__ import annotations

import contextlib
import http.client
import threading
import time
from collections import Counter

from tests.loopback import Loopback, QuietHandler


class CountingProxy:
    """Forwards every request to ``127.0.0.1:upstream`` and counts the answered bodies (and
    the GETs: the runner's outage probes)."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.answered: Counter[bytes] = Counter()
        self.statuses: Counter[int] = Counter()
        self.gets: Counter[int] = Counter()  # statuses of GET requests (outage probes)
        self.first_answered: dict[bytes, float] = {}  # body -> monotonic time of its first 200
        self._lock = threading.Lock()
        proxy = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self, method: str, body: bytes | None) -> tuple[int, bytes]:
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream, timeout=600)
                    conn.request(method, self.path, body, {"Content-Type": "application/json"})
                    reply = conn.getresponse()
                    status, data = reply.status, reply.read()
                    conn.close()
                except OSError:
                    status, data = 502, b'{"error": {"message": "upstream down"}}'
                return status, data

            def _reply(self, status: int, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(data)

            def do_GET(self) -> None:  # the model list: the runner's outage probe
                status, data = self._forward("GET", None)
                with proxy._lock:
                    proxy.gets[status] += 1
                self._reply(status, data)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, data = self._forward("POST", body)
                with proxy._lock:
                    proxy.statuses[status] += 1
                    if status == 200:
                        proxy.answered[body] += 1
                        proxy.first_answered.setdefault(body, time.monotonic())
                self._reply(status, data)

        self._server = Loopback(Handler)
        self.url = f"{self._server.origin}/v1"

    def stop(self) -> None:
        self._server.close()
