"""The loopback endpoint in its own process, logging every answered request, and its client."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.request
from typing import Any

from .plan import PY, ROOT, SCRIPT


def serve(nodelay: bool) -> None:
    """``run.py --serve``: FakeLLMServer plus a per-request log and a reset, on a free port.

    ``nodelay`` sets TCP_NODELAY on accepted connections, as production servers (uvicorn,
    vLLM, llama.cpp) do. ``http.server`` leaves Nagle's algorithm on, and it writes a response's
    headers and body in two ``send`` calls: the body then waits for the client's delayed ACK
    (40 ms on Linux), which would add ~40 ms to every request and be charged to the runner.
    """
    from evoprompt.testing.server import FakeLLMServer

    class BenchServer(FakeLLMServer):
        def __init__(self) -> None:
            self.log: list[tuple[float, float, str]] = []
            self._tl = threading.local()
            super().__init__(port=0)

        def respond(self, path: str, body: dict[str, Any], authorization: str) -> Any:
            self._tl.kind = "other"
            return super().respond(path, body, authorization)

        def _chat(self, body: dict[str, Any]) -> tuple[str, str]:
            kind, text = super()._chat(body)
            self._tl.kind = kind
            return kind, text

        def reset(self) -> None:
            with self._lock:
                self.counts.clear()
                self.answered_bodies.clear()
                self.peak_inflight = 0
                self.log = []

        def _handler_class(self) -> Any:
            base = super()._handler_class()
            server = self

            class Handler(base):  # type: ignore[misc, valid-type]
                disable_nagle_algorithm = nodelay

                def do_GET(self) -> None:
                    if self.path.rstrip("/") == "/_bench/log":
                        with server._lock:
                            log = list(server.log)
                        doc = {"stats": server.stats(), "log": log, "cpu_s": time.process_time()}
                        self._send(200, {}, doc)
                    else:
                        super().do_GET()

                def do_POST(self) -> None:
                    if self.path.rstrip("/") == "/_bench/reset":
                        self.rfile.read(int(self.headers.get("Content-Length", 0)))
                        server.reset()
                        self._send(200, {}, {"ok": True})
                        return
                    arrived = time.time()
                    super().do_POST()
                    if self.path.endswith("completions"):
                        kind = getattr(server._tl, "kind", "other")
                        with server._lock:
                            server.log.append((arrived, time.time(), kind))

            return Handler

    server = BenchServer()
    print(server.url, flush=True)
    server._httpd.serve_forever()


class Endpoint:
    """The benchmark's view of the server process."""

    def __init__(self, *, nagle: bool = False) -> None:
        serve_flags = ["--serve", *(["--endpoint-nagle"] if nagle else [])]
        self.proc = subprocess.Popen(
            [PY, str(SCRIPT), *serve_flags],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://"):
            raise RuntimeError("the benchmark endpoint did not start")
        self.root = self.url.rsplit("/v1", 1)[0]

    def _call(self, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.root + path, data=data, method="POST" if data else "GET"
        )
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def reset(self, latency: float) -> None:
        self._call("/_faults", {"latency": latency})
        self._call("/_bench/reset", {})

    def snapshot(self) -> dict[str, Any]:
        """The server's counters, its request log and its CPU seconds so far."""
        doc: dict[str, Any] = self._call("/_bench/log")
        return doc

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
