"""The embedded model (issue #33): label scoring calls per second and tokens per second.

A fixed workload of dev-like rows, each one loglik call with the two labels (what the loglik
scorer sends), under two prompts: a short instruction (a ~20-token prefix shared by the rows)
and the same with 4 exemplars (a ~300-token prefix). Contenders, in rounds whose order
rotates (A B C, B C A, ...) so machine load falls on all alike:

- ``evoprompt``: ``LocalBackend``, its KV cache reused across calls;
- ``no reuse``: the same with ``reuse_prefix=False`` (every call decodes its whole context);
- ``floor``: a bare loop over the same binding that decodes every call from scratch in one
  batch and reads the next-token row (the least a from-scratch call can cost);
- ``llama-server``: llama-cpp-python's server (``python -m llama_cpp.server``, where installed)
  asked for one token per row; it keeps and reuses the longest common prefix as llama-server's
  ``cache_prompt`` does.

*tokens/s* counts every context token a call covers (cached or decoded). Then 1 thread
against 2 on the short workload, interleaved, and one 256-token decode against 8 of 32 (what
decoding 8 rows as parallel sequences in one batch could save). Last the agreement of cached
and uncached evaluation: the same calls (four instructions, one few-shot, times the built-in
sentiment rows and N/A, two labels) scored once without reuse and twice by a reusing
backend, in a shuffled order and then back to back; the largest absolute logprob difference.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import random
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import numpy as np

from evoprompt.evaluation.scorers import query_text
from evoprompt.llm.gemma_files import default_cache_dir, ensure_model
from evoprompt.llm.kv_cache import _log_softmax
from evoprompt.llm.local import LocalBackend
from evoprompt.llm.types import LLMRequest

from .plan import PY, ROOT, Plan
from .workload import say

LABELS = ("positive", "negative")
INSTRUCTION = "Classify the text into one of the given labels."  # the default seed prompts
SEED_2 = "Read the input and decide which label best describes it."
TARGET_FEWSHOT = 1.5  # a ~300-token prefix costs at most this many times a ~20-token one
Row = tuple[str, str, str, str]
Call = Callable[[LLMRequest], None]


def texts() -> list[tuple[str, str]]:
    with (ROOT / "evoprompt" / "data" / "sentiment.csv").open(encoding="utf-8") as f:
        return [(r["text"], r["label"]) for r in csv.DictReader(f)]


def fewshot() -> str:
    """The instruction with 4 exemplars of four reviews each (about 300 tokens)."""
    data = texts()[-40:]
    shots = []
    for k in range(4):
        label = LABELS[k % 2]
        group = [t for t, g in data if g == label][4 * (k // 2) : 4 * (k // 2) + 4]
        shots.append(f"Input: {' '.join(group)}\nAnswer: {label}")
    return f"{INSTRUCTION}\n\n" + "\n\n".join(shots)


def requests(instruction: str, rows: list[str]) -> list[LLMRequest]:
    labels = tuple(f" {label}" for label in LABELS)
    return [
        LLMRequest(
            kind="loglik", model="m", prompt=query_text(instruction, t), continuations=labels
        )
        for t in rows
    ]


LOOP = asyncio.Runner()  # one event loop for every call, as in a run


def backend_call(backend: LocalBackend) -> Call:
    def call(request: LLMRequest) -> None:
        LOOP.run(backend.complete(request))

    return call


def floor_call(backend: LocalBackend) -> Call:
    """Clear the cache, decode the whole context in one batch, read the label tokens' row."""
    llm, lib, ffi = backend._llm, backend._lib, backend._bindings.ffi
    memory = lib.llama_get_memory(llm._ctx)
    label_ids = [llm.tokenize(f" {label}", add_special=False)[0] for label in LABELS]

    def call(request: LLMRequest) -> None:
        tokens = llm.tokenize(request.prompt)
        lib.llama_memory_clear(memory, True)
        batch = lib.llama_batch_init(len(tokens), 0, 1)
        batch.n_tokens = len(tokens)
        for i, token in enumerate(tokens):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, i, 1
            batch.seq_id[i][0], batch.logits[i] = 0, i == len(tokens) - 1
        assert lib.llama_decode(llm._ctx, batch) == 0
        lib.llama_batch_free(batch)
        raw = ffi.buffer(lib.llama_get_logits_ith(llm._ctx, -1), llm.n_vocab * 4)
        row = _log_softmax(np.frombuffer(raw, dtype=np.float32))
        _ = [float(row[i]) for i in label_ids]

    return call


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_server(threads: int | None) -> tuple[subprocess.Popen[bytes], Call]:
    port = free_port()
    model = ensure_model(default_cache_dir())
    server = subprocess.Popen(
        [PY, "-m", "llama_cpp.server", "--model", str(model), "--n_ctx", "2048", "--n_threads",
         str(threads or os.cpu_count() or 1), "--port", str(port), "--host", "127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1/completions"

    def call(request: LLMRequest) -> None:
        body = json.dumps({"prompt": request.prompt, "max_tokens": 1, "temperature": 0}).encode()
        post = urllib.request.Request(url, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(post, timeout=600) as answer:
            answer.read()

    deadline = time.monotonic() + 120
    while True:
        try:
            call(requests(INSTRUCTION, ["warm-up"])[0])
            return server, call
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise
            time.sleep(0.5)


def rounds(
    contenders: dict[str, Call], work: dict[str, list[LLMRequest]], n: int
) -> dict[str, dict[str, float]]:
    """Seconds each contender took per workload, over ``n`` rounds in rotating order; the
    first call of each workload (it replaces the previous one's prefix) is not timed."""
    seconds = {name: dict.fromkeys(work, 0.0) for name in contenders}
    names = list(contenders)
    for r in range(n):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            for shape, reqs in work.items():
                call = contenders[name]
                call(reqs[0])
                started = time.perf_counter()
                for request in reqs[1:]:
                    call(request)
                seconds[name][shape] += time.perf_counter() - started
        say(f"  round {r + 1}/{n} done")
    return seconds


def throughput(plan: Plan, threads: int | None) -> dict[str, Any]:
    """Seconds per call and tokens per call for each contender and prompt, over the rounds."""
    rows = [t for t, _ in texts()[: plan.local_rows]]
    work = {"short": requests(INSTRUCTION, rows), "fewshot": requests(fewshot(), rows)}
    cached = LocalBackend(n_threads=threads)
    fresh = LocalBackend(n_threads=threads, reuse_prefix=False)
    for backend in (cached, fresh):
        backend_call(backend)(work["short"][0])  # load the model
    contenders: dict[str, Call] = {
        "evoprompt": backend_call(cached),
        "no reuse": backend_call(fresh),
        "floor": floor_call(fresh),
    }
    server = None
    try:
        server, contenders["llama-server"] = start_server(threads)
    except (OSError, FileNotFoundError) as exc:
        say(f"  llama-cpp-python server not available: {exc}")
    tokens = {shape: [len(cached._llm.tokenize(r.prompt)) for r in reqs]
              for shape, reqs in work.items()}  # fmt: skip
    prefixes = {
        s: len(cached._llm.tokenize(query_text(i, "")))
        for s, i in (("short", INSTRUCTION), ("fewshot", fewshot()))
    }
    try:
        seconds = rounds(contenders, work, plan.local_rounds)
    finally:
        if server is not None:
            server.kill()
            server.wait()
        for backend in (cached, fresh):
            LOOP.run(backend.aclose())
    calls = plan.local_rounds * (len(rows) - 1)
    return {
        "threads": threads,
        "calls": calls,
        "prefix_tokens": prefixes,
        "tokens_per_call": {s: sum(t[1:]) / (len(t) - 1) for s, t in tokens.items()},
        "s_per_call": {n: {s: v / calls for s, v in by.items()} for n, by in seconds.items()},
    }


def agreement(plan: Plan) -> dict[str, Any]:
    """Largest |logprob| difference between cached (interleaved) and uncached evaluation."""
    rows = [t for t, _ in texts()][: plan.agree_rows]
    instructions = [INSTRUCTION, SEED_2, "Is this review positive or negative?", fewshot()]
    reqs = [r for i in instructions for r in requests(i, [*rows, "N/A"])]
    mixed = list(range(len(reqs)))
    random.Random(33).shuffle(mixed)  # prompts interleaved: the cache is mostly replaced
    cached, fresh = LocalBackend(), LocalBackend(reuse_prefix=False)
    expected = [LOOP.run(fresh.complete(r)).logprobs for r in reqs]
    worst = 0.0
    for k in [*mixed, *range(len(reqs))]:  # then back to back: the cache mostly reused
        got = LOOP.run(cached.complete(reqs[k])).logprobs
        worst = max(worst, *(abs(a - b) for a, b in zip(got, expected[k], strict=True)))
    decoded = (cached.decoded, fresh.decoded)
    for backend in (cached, fresh):
        LOOP.run(backend.aclose())
    return {"calls": 3 * len(reqs), "max_abs_diff": worst, "decoded": decoded}


def threads(plan: Plan) -> dict[str, Any]:
    """The short workload on 1 thread, on 2 and as the thread pace picks (the default),
    interleaved; and what one batch of 8 rows' tokens (8 x 32, as parallel sequences would
    be) costs against 8 batches of 32."""
    rows = [t for t, _ in texts()[: plan.local_rows]]
    work = {"short": requests(INSTRUCTION, rows)}
    backends = {n: LocalBackend(n_threads=n) for n in (1, 2)}
    paced = LocalBackend()
    contenders = {f"{n} thread(s)": backend_call(b) for n, b in backends.items()}
    seconds = rounds({**contenders, "paced": backend_call(paced)}, work, plan.local_rounds)
    LOOP.run(paced.aclose())
    batch: dict[str, float] = {}
    for n, backend in backends.items():
        tokens = backend._llm.tokenize(fewshot())[:256]
        memory = backend._lib.llama_get_memory(backend._llm._ctx)
        for label, width in ((f"{n} thread(s), 8 x 32", 32), (f"{n} thread(s), 1 x 256", 256)):
            started = time.perf_counter()
            for _ in range(plan.local_rounds):
                backend._lib.llama_memory_clear(memory, True)
                for at in range(0, 256, width):
                    backend._kv().decode(tokens[at : at + width], at, at + width - 1)
            batch[label] = (time.perf_counter() - started) / plan.local_rounds
        LOOP.run(backend.aclose())
    calls = plan.local_rounds * (len(rows) - 1)
    return {"s_per_call": {n: by["short"] / calls for n, by in seconds.items()}, "batch": batch}


def local_model(plan: Plan) -> dict[str, Any]:
    say(f"embedded model: {plan.local_rows} rows x {plan.local_rounds} rounds, 2 prompts")
    out: dict[str, Any] = {"throughput": throughput(plan, plan.local_threads)}
    say("embedded model: threads and batch width")
    out["threads"] = threads(plan)
    say(f"embedded model: cached vs uncached agreement on {plan.agree_rows} rows x 4 prompts")
    out["agreement"] = agreement(plan)
    return out
