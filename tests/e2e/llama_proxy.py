"""A counting proxy in front of a real server: which request bodies got a 200, how often."""

from __future__ import annotations

import contextlib
import http.client
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class CountingProxy:
    """Forwards every request to ``127.0.0.1:upstream`` and counts the answered bodies."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.answered: Counter[bytes] = Counter()
        self.statuses: Counter[int] = Counter()
        self.first_answered: dict[bytes, float] = {}  # body -> monotonic time of its first 200
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream, timeout=600)
                    conn.request("POST", self.path, body, {"Content-Type": "application/json"})
                    reply = conn.getresponse()
                    status, data = reply.status, reply.read()
                    conn.close()
                except OSError:
                    status, data = 502, b'{"error": {"message": "upstream down"}}'
                with proxy._lock:
                    proxy.statuses[status] += 1
                    if status == 200:
                        proxy.answered[body] += 1
                        proxy.first_answered.setdefault(body, time.monotonic())
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
