"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests, benchmarks and demos.

Answers are deterministic functions of the request, so runs against it are reproducible:

- classification: a prompt's accuracy grows with the number of distinct "magic" words in it
  (``carefully``, ``expert``, ...); whether one sample is answered correctly is a hash of
  (prompt, sample), so the same request always gets the same answer;
- log-likelihood (``/completions`` with ``echo``): the answer label gets the high log-probability;
- evolution (any request containing ``<prompt>``): the child is the parent plus the other parent's
  magic words plus one new word picked by a hash of the request.

Faults are injected per request (latency, 429 + Retry-After, 500, hang, a 200 with an HTML
body, 401 on a wrong key, a refused quota, a ceiling on requests in flight, down) and every
request is counted, including the tokens billed for answered ones.

Run standalone: ``python -m evoprompt.testing.server --port 8000 --latency 0.05``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import random
import re
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any, TypeAlias

import pandas as pd

MAGIC = ("carefully", "expert", "evidence", "context", "precisely", "thorough")
PLAIN = ("please", "now", "simply", "kindly", "also", "just")
VOCAB = MAGIC + PLAIN

# status, extra headers, body: JSON, or a str sent as text/html (the non-JSON fault)
Reply: TypeAlias = "tuple[int, dict[str, str], Any]"


@dataclass
class Faults:
    latency: float = 0.0
    p_500: float = 0.0
    p_429: float = 0.0
    retry_after: str = "1"
    p_nonjson: float = 0.0
    p_hang: float = 0.0
    hang_s: float = 30.0
    hang_first: int = 0  # the first N requests hang
    p_no_tags: float = 0.0
    max_inflight: int = 0  # answer 429 above this many requests in flight (0 = no ceiling)
    quota_after: int = -1  # after N answered requests, 429 insufficient_quota (-1 = never)
    down: bool = False  # every request gets a 503
    fail_400: bool = False  # every request gets a 400
    api_key: str = ""  # when set, any other bearer token gets a 401
    fail_model: str = ""  # requests for this model always get a 500 (to exercise fallbacks)


def _unit(*parts: str) -> float:
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _builtin_truth() -> dict[str, str]:
    truth: dict[str, str] = {}
    for name in ("sentiment.csv", "code_vuln.csv"):
        with resources.as_file(resources.files("evoprompt.data") / name) as path:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        truth.update(zip(frame["text"], frame["label"].str.strip()))
    return truth


def quality(instruction: str) -> float:
    lowered = instruction.lower()
    return min(0.95, 0.35 + 0.1 * sum(word in lowered for word in MAGIC))


def _magic_in(text: str) -> list[str]:
    lowered = text.lower()
    return [w for w in MAGIC if w in lowered]


def _last(pattern: str, text: str) -> str | None:
    found = re.findall(pattern, text)
    return found[-1].strip() if found else None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


class FakeLLMServer:
    def __init__(
        self,
        *,
        faults: Faults | None = None,
        truth: dict[str, str] | None = None,
        seed: int = 0,
        port: int = 0,
    ):
        self.faults = faults or Faults()
        self.truth = _builtin_truth() if truth is None else truth
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.answered_bodies: Counter[str] = Counter()
        self.inflight = 0
        self.peak_inflight = 0
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

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {**self.counts, "peak_inflight": self.peak_inflight}

    def set_faults(self, **changes: Any) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(self.faults, key, value)

    # -- behaviour -----------------------------------------------------------------------

    def _roll(self) -> float:
        with self._lock:
            return self._random.random()

    def _fault(self, authorization: str, model: str) -> Reply | None:
        f = self.faults
        if f.api_key and authorization != f"Bearer {f.api_key}":
            return (
                401,
                {},
                {
                    "error": {
                        "message": "Incorrect API key provided",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                    }
                },
            )
        if f.down or (f.fail_model and model == f.fail_model):
            return 503, {}, {"error": {"message": "service unavailable"}}
        if f.fail_400:
            return 400, {}, {"error": {"message": "invalid request", "type": "invalid_request"}}
        if f.max_inflight and self.inflight > f.max_inflight:
            return 429, {"Retry-After": "0"}, {"error": {"message": "too many requests in flight"}}
        if 0 <= f.quota_after <= self.counts["answered"]:
            return (
                429,
                {},
                {
                    "error": {
                        "message": "You exceeded your current quota",
                        "code": "insufficient_quota",
                    }
                },
            )
        roll = self._roll()
        for threshold, outcome in (
            (f.p_500, (500, {}, {"error": {"message": "internal error"}})),
            (f.p_429, (429, {"Retry-After": f.retry_after}, {"error": {"message": "slow down"}})),
            (f.p_nonjson, (200, {}, "<html><body>Bad gateway</body></html>")),
        ):
            if roll < threshold:
                return outcome
            roll -= threshold
        return None

    def _chat(self, body: dict[str, Any]) -> tuple[str, str]:
        content = "\n".join(m.get("content", "") for m in body.get("messages", []))
        if "<prompt>" in content:
            return "evolve", self._evolve(content, str(body.get("seed", "")))
        instruction = content.split("\nPossible answers:")[0].split("\n\nInput: ")[0]
        text = _last(r"\n\nInput: (.*)\nAnswer:", content) or ""
        labels = [x.strip() for x in (_last(r"Possible answers: (.*)\.", content) or "").split(",")]
        return "classify", self._classify(instruction, text, [x for x in labels if x])

    def _classify(self, instruction: str, text: str, labels: list[str]) -> str:
        gold = self.truth.get(text, labels[0] if labels else "unknown")
        if _unit(instruction, text) < quality(instruction):
            return f"{gold}." if _unit("style", text) < 0.5 else f"The answer is: {gold.upper()}"
        others = [x for x in labels if x != gold]
        if not others or _unit("invalid", instruction, text) < 0.2:
            return "I cannot tell."
        return others[int(_unit("wrong", instruction, text) * len(others))]

    def _evolve(self, content: str, seed: str) -> str:
        if self.faults.p_no_tags and self._roll() < self.faults.p_no_tags:
            return "Here is an improved prompt, but I forgot the tags."
        word = VOCAB[int(_unit("word", content, seed) * len(VOCAB))]
        if "Basic Prompt:" in content:
            base = _last(r"Basic Prompt: (.*)", content) or ""
            donor = _last(r"Prompt 3: (.*)", content) or ""
        elif "Variation:" in content:
            base, donor = _last(r"Instruction: (.*)", content) or "", ""
        else:
            base = _last(r"Prompt 1: (.*)", content) or ""
            donor = _last(r"Prompt 2: (.*)", content) or ""
        extra = [w for w in _magic_in(donor) if w not in _magic_in(base)]
        child = " ".join([base, *extra, word])
        return f"1. Combined: {base}\n2. <prompt>{child}</prompt>"

    def _loglik(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
        labels = [p.rsplit("\nAnswer: ", 1)[-1] for p in prompts]
        choices = []
        for i, full in enumerate(prompts):
            context, _, label = full.rpartition("\nAnswer: ")
            context += "\nAnswer:"
            instruction = context.split("\n\nInput: ")[0]
            text = _last(r"\n\nInput: (.*)\nAnswer:", context) or ""
            if text == "N/A":
                value = -2.0
            else:
                predicted = self._classify(instruction, text, labels).rstrip(".")
                value = -0.5 if predicted.lower().endswith(label.lower()) else -3.0
            choices.append(
                {
                    "index": i,
                    "text": full,
                    "finish_reason": "length",
                    "logprobs": {
                        "tokens": [context, " " + label],
                        "token_logprobs": [None, value],
                        "text_offset": [0, len(context)],
                    },
                }
            )
        return choices

    def respond(self, path: str, body: dict[str, Any], authorization: str) -> Reply:
        with self._lock:
            self.counts["requests"] += 1
        fault = self._fault(authorization, body.get("model", ""))
        if fault is not None:
            with self._lock:
                self.counts[f"status_{fault[0]}"] += 1
            return fault
        model = body.get("model", "")
        if path.endswith("/chat/completions"):
            kind, text = self._chat(body)
            choices = [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ]
            completion_chars = len(text)
        elif body.get("echo"):
            kind, choices, completion_chars = "loglik", self._loglik(body), 1
        else:
            kind = "complete"
            text = "<prompt>" + str(body.get("prompt", ""))[-40:] + "</prompt>"
            choices = [{"index": 0, "text": text, "finish_reason": "stop"}]
            completion_chars = len(text)
        usage = {
            "prompt_tokens": len(json.dumps(body)) // 4 + 1,
            "completion_tokens": completion_chars // 4 + 1,
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        with self._lock:
            self.counts["answered"] += 1
            self.counts[f"answered_{kind}"] += 1
            self.counts["prompt_tokens"] += usage["prompt_tokens"]
            self.counts["completion_tokens"] += usage["completion_tokens"]
            self.answered_bodies[json.dumps(body, sort_keys=True)] += 1
        return (
            200,
            {},
            {
                "id": "fake",
                "object": "chat.completion",
                "model": model,
                "choices": choices,
                "usage": usage,
            },
        )

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: with Nagle on, each response would wait
            # ~40 ms for the client's delayed ACK, which no real endpoint does.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, headers: dict[str, str], payload: Any) -> None:
                data = (
                    payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                )
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
                with server._lock:
                    server.inflight += 1
                    server.peak_inflight = max(server.peak_inflight, server.inflight)
                    server.counts["seen"] += 1
                    hang = server.counts["seen"] <= server.faults.hang_first
                try:
                    f = server.faults
                    if hang or (f.p_hang and server._roll() < f.p_hang):
                        time.sleep(f.hang_s)
                    if f.latency:
                        time.sleep(f.latency)
                    status, headers, payload = server.respond(
                        self.path, body, self.headers.get("Authorization", "")
                    )
                finally:
                    with server._lock:
                        server.inflight -= 1
                self._send(status, headers, payload)

        return Handler


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
