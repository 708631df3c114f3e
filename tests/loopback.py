"""A bare HTTP server for tests: a handler class served on a free 127.0.0.1 port from a daemon
thread, for endpoints the fake one does not imitate (recorders, proxies)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class QuietHandler(BaseHTTPRequestHandler):
    """A handler that keeps the test output free of its per-request log lines."""

    def log_message(self, *args: Any) -> None:
        pass


class Loopback:
    """Serves ``handler`` until :meth:`close`; each request on its own daemon thread."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]):
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
