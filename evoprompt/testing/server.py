"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests, benchmarks and demos.

What it answers is decided in ``answers.py`` (deterministic functions of the request, so runs
against it are reproducible); this module serves those answers (over HTTP: ``handler.py``), injects
faults and counts. Faults are injected per request (latency, 429 + Retry-After, 500, hang, a 200
with an HTML body, 401 on a wrong key, a refused quota, a ceiling on requests in flight, down, an
operator reply without tags, operator replies deaf to the sampling seed or echoing the parent),
missing features are imitated (one request at a time in arrival order, prompt lists or echo
refused, no chat logprobs), ``hold`` answers nothing until cleared (a fixed moment to kill a client
at), ``GET /models`` answers (503 while down) and every request is counted, including the tokens
billed for answered ones and the re-sends of a body still being served.

Run standalone: ``python -m evoprompt.testing.server --port 8000 --latency 0.05``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import threading
import time
from collections import Counter
from contextlib import AbstractContextManager
from dataclasses import fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .answers import ECHO, NO_TAGS, Answers, builtin_truth, is_evolution, parent_of
from .faults import Faults, Reply, Turns, auth_fault, chance, error_reply, refusal
from .handler import handler_class
from .wire import chat_content, completion, message_choices, text_choices, tokens


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


class FakeLLMServer:
    """The endpoint on a free (or given) port; ``seed`` drives the random fault rolls."""

    def __init__(
        self,
        *,
        faults: Faults | None = None,
        truth: dict[str, str] | None = None,
        seed: int = 0,
        port: int = 0,
    ) -> None:
        self.faults = faults or Faults()
        self.answers = Answers(builtin_truth() if truth is None else truth)
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._serial = Turns()  # held while answering, under the ``serial`` fault
        self.counts: Counter[str] = Counter()
        self.answered_bodies: Counter[str] = Counter()
        self.answered_at: list[tuple[float, str]] = []  # (time.monotonic(), kind) per answer
        # (arrived, answered, body) per answered request, monotonic times: which answers a
        # killed client had on the wire, and which it had received before
        self.answered_log: list[tuple[float, float, str]] = []
        self.posts_at: list[float] = []  # arrival of every completion request
        self.models_at: list[float] = []  # arrival of every GET /models (an outage probe)
        self.queries: list[str] = []  # every scoring query's text (see _note_query)
        self.inflight = 0
        self.peak_inflight = 0
        self._inflight_bodies: Counter[str] = Counter()
        self._models_inflight = 0
        self._httpd = _Server(("127.0.0.1", port), self._handler_class())
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self) -> FakeLLMServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def truth(self) -> dict[str, str]:
        """Gold labels by sample text (the bundled datasets' unless given)."""
        return self.answers.truth

    @truth.setter
    def truth(self, value: dict[str, str]) -> None:
        self.answers.truth = value

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {**self.counts, "peak_inflight": self.peak_inflight}

    def arrived(self, body: str) -> None:
        """Count a completion request in; one whose body is still being served here is a
        re-send of a request this server is still computing (or has queued)."""
        with self._lock:
            self.inflight += 1
            self.peak_inflight = max(self.peak_inflight, self.inflight)
            self.counts["seen"] += 1
            if self._inflight_bodies[body]:
                self.counts["resent_in_flight"] += 1
            self._inflight_bodies[body] += 1
            self.posts_at.append(time.monotonic())

    def left(self, body: str) -> None:
        with self._lock:
            self.inflight -= 1
            self._inflight_bodies[body] -= 1

    def models(self) -> Reply:
        """``GET /models``: the model list, a 503 while down; at most how many at once."""
        with self._lock:
            self.counts["models"] += 1
            self._models_inflight += 1
            self.counts["peak_models_inflight"] = max(
                self.counts["peak_models_inflight"], self._models_inflight
            )
            self.models_at.append(time.monotonic())
        try:
            if self.faults.latency:
                time.sleep(self.faults.latency)
            if self.faults.down:
                return error_reply(503, "service unavailable")
            return 200, {}, {"object": "list", "data": [{"id": "fake", "object": "model"}]}
        finally:
            with self._lock:
                self._models_inflight -= 1

    def set_faults(self, **changes: Any) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(self.faults, key, value)

    # -- behaviour -----------------------------------------------------------------------

    def roll(self) -> float:
        """A draw of the fault dice (seeded, shared by every request thread)."""
        with self._lock:
            return self._random.random()

    def hangs(self) -> bool:
        """Whether the request just counted in is one of the first ``hang_first``."""
        with self._lock:
            return bool(self.counts["seen"] <= self.faults.hang_first)

    def one_at_a_time(self) -> AbstractContextManager[Any]:
        """Held while answering: one request at a time under the ``serial`` fault."""
        return self._serial if self.faults.serial else contextlib.nullcontext()

    def _chat(self, body: dict[str, Any]) -> tuple[str, str]:
        content = chat_content(body)
        p_no_tags = self.faults.p_no_tags
        if is_evolution(content) and p_no_tags and self.roll() < p_no_tags:
            return "evolve", NO_TAGS
        if is_evolution(content) and self.faults.echo_parent:
            return "evolve", ECHO.format(parent=parent_of(content))
        seed = "" if self.faults.ignore_seed else str(body.get("seed", ""))
        return self.answers.chat(content, seed)

    def _tune(self) -> None:
        """The model's knobs as the faults now set them."""
        f, answers = self.faults, self.answers
        answers.worse_children, answers.skill = f.worse_children, f.skill
        answers.hard_rows, answers.shot_skill = f.hard_rows, f.shot_skill

    def _note_query(self, path: str, body: dict[str, Any]) -> None:
        """Keep every scoring query's text (``queries``): what a prompt showed the model,
        its exemplars included."""
        if path.endswith("/chat/completions"):
            texts = [chat_content(body)]
        else:
            prompt = body.get("prompt", "")
            texts = [str(p) for p in prompt] if isinstance(prompt, list) else [str(prompt)]
            if body.get("echo"):  # the query, without the label it scores
                texts = [t.rpartition("\nAnswer: ")[0] + "\nAnswer:" for t in texts]
        with self._lock:
            self.queries.extend(t for t in texts if not is_evolution(t) and "\nAnswer:" in t)

    def respond(
        self, path: str, body: dict[str, Any], authorization: str, arrived: float = 0.0
    ) -> Reply:
        with self._lock:
            self.counts["requests"] += 1
        f = self.faults
        fault = (
            auth_fault(f, authorization, body.get("model", ""))
            or chance(f, self.inflight, self.counts["answered"], self.roll)
            or refusal(f, path, body)
        )
        if fault is not None:
            with self._lock:
                self.counts[f"status_{fault[0]}"] += 1
            return fault
        self._tune()
        self._note_query(path, body)
        if path.endswith("/chat/completions") and body.get("logprobs"):
            kind, completion_tokens = "loglik", 1
            choices = self.answers.chat_logprobs(chat_content(body), self.faults.no_chat_logprobs)
        elif path.endswith("/chat/completions"):
            kind, text = self._chat(body)
            choices, completion_tokens = message_choices(text), tokens(text)
        elif body.get("echo"):
            kind, choices, completion_tokens = "loglik", self.answers.loglik(body["prompt"]), 1
        else:
            kind, text = "complete", self.answers.complete(body.get("prompt", ""))
            choices, completion_tokens = text_choices(text), tokens(text)
        payload = completion(body, choices, completion_tokens)
        with self._lock:
            self.counts["answered"] += 1
            self.counts[f"answered_{kind}"] += 1
            self.counts["prompt_tokens"] += payload["usage"]["prompt_tokens"]
            self.counts["completion_tokens"] += payload["usage"]["completion_tokens"]
            canonical = json.dumps(body, sort_keys=True)
            self.answered_bodies[canonical] += 1
            self.answered_at.append((time.monotonic(), kind))
            self.answered_log.append((arrived, time.monotonic(), canonical))
        return 200, {}, payload

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        """The HTTP face (a hook: the benchmarks' server adds its own paths over it)."""
        return handler_class(self)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    for f in fields(Faults):
        flag = "--" + f.name.replace("_", "-")
        if isinstance(f.default, bool):
            parser.add_argument(flag, action="store_true")
        else:
            parser.add_argument(flag, type=type(f.default), default=f.default)
    args = vars(parser.parse_args(argv))
    port = args.pop("port")
    server = FakeLLMServer(faults=Faults(**args), port=port)
    print(server.url, flush=True)
    server._httpd.serve_forever()


if __name__ == "__main__":
    main()
