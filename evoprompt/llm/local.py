"""In-process backend on the Gemma 3 270M base model, so a run works with no API endpoint.

The binding is ``llama-cpp-py-sync`` (import name ``llama_cpp_py_sync``): a prebuilt CPU wheel
with CFFI access to the whole llama.cpp C API, where ``llama-cpp-python`` would compile
llama.cpp for minutes. Its high-level ``Llama`` class generates text but exposes no logits, so
log-likelihood scoring drives ``llama_decode`` and ``llama_get_logits_ith`` directly, and both
kinds keep the KV cache across calls. That reaches into the binding's private attributes
(``_ctx``, ``_model``, ``_cffi_bindings``, its sampler helpers): keep the version pinned and
re-run ``tests/llm/test_local.py`` before raising the pin.

The model is a base model, so only two request kinds make sense: ``completion`` (few-shot text
continuation, used to evolve prompts) and ``loglik`` (label scoring without generation).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from evoprompt.llm.errors import FatalError
from evoprompt.llm.gemma_files import INSTALL_HINT, MISSING, default_cache_dir, ensure_model
from evoprompt.llm.glibc_compat import native_lib
from evoprompt.llm.kv_cache import PAD, Abandoned, KVCache
from evoprompt.llm.prefix_queue import PrefixQueue, common_prefix
from evoprompt.llm.types import LLMRequest, LLMResponse, Usage

_log = logging.getLogger(__name__)
# llama.cpp keeps one process-wide log callback: it must outlive every model, so it lives here.
_log_callback: Any = None


class LocalBackend:
    """Answers ``completion`` and ``loglik`` requests with llama.cpp in this process.

    One model context serves all calls: a :class:`PrefixQueue` queues callers in the event
    loop (rather than parking executor threads), calls that share a prompt back to back so the
    KV cache is reused, and a ``threading.Lock`` is the actual guard, since a cancelled
    caller leaves its worker thread running with the context after its turn ends. That
    thread is told so and stops at its next token, batch or continuation, so a stopped run
    neither waits for a generation nobody will read nor exits with one running.
    """

    name = "local"

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        cache_dir: Path | None = None,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        reuse_prefix: bool = True,
    ):
        self._model_path = model_path
        self._cache_dir = cache_dir
        self._n_ctx = n_ctx
        self._n_threads = n_threads
        self._llm: Any = None
        self._model_name = ""
        self._queue = PrefixQueue()
        self._guard = threading.Lock()
        self._reuse = reuse_prefix
        self._cache: KVCache | None = None  # made with the model

    @property
    def decoded(self) -> int:
        """Tokens decoded so far (prefix reuse shows as fewer)."""
        return self._cache.decoded if self._cache is not None else 0

    async def complete(self, request: LLMRequest) -> LLMResponse:
        if request.kind == "chat":
            raise FatalError(
                "the local Gemma 3 270M is a base model and has no chat mode",
                hint="use completion or loglik requests with the local backend, "
                "or configure an API endpoint for chat",
            )
        work = self._generate if request.kind == "completion" else self._loglik
        abandoned = threading.Event()
        async with self._queue.turn(request.prompt):
            try:
                return await asyncio.to_thread(self._run, work, request, abandoned)
            except asyncio.CancelledError:
                abandoned.set()
                raise

    async def aclose(self) -> None:
        async with self._queue.turn("", first=True):
            await asyncio.to_thread(self._close)

    def _run(
        self,
        work: Callable[[LLMRequest, threading.Event], LLMResponse],
        request: LLMRequest,
        abandoned: threading.Event,
    ) -> LLMResponse:
        with self._guard:
            if abandoned.is_set():
                raise Abandoned
            if self._llm is None:
                self._load()
            self._kv().stop = abandoned  # long decodes stop between their batches
            try:
                return work(request, abandoned)
            except BaseException as exc:
                if self._cache is not None:
                    self._cache.forget()
                if isinstance(exc, RuntimeError):
                    raise FatalError(
                        f"llama.cpp failed: {exc}", hint="re-run; if it repeats, report it"
                    ) from None
                raise

    def _close(self) -> None:
        with self._guard:
            if self._llm is not None:
                self._llm.close()
                self._llm = None

    def _load(self) -> None:
        try:
            from llama_cpp_py_sync import Llama, _cffi_bindings
        except ImportError:
            raise FatalError(MISSING, hint=INSTALL_HINT) from None
        cache_dir = self._cache_dir or default_cache_dir()
        path = self._model_path or ensure_model(cache_dir)
        self._bindings = _cffi_bindings
        try:
            self._lib = native_lib(_cffi_bindings, cache_dir)
        except RuntimeError as exc:
            raise FatalError(f"cannot load llama.cpp: {exc}", hint=INSTALL_HINT) from None
        _silence_llama_log(_cffi_bindings.ffi, self._lib)
        self._llm = Llama(str(path), n_ctx=self._n_ctx, n_threads=self._n_threads)
        # The binding turns on embedding output for its audio features; that makes llama.cpp
        # compute 262k-wide vocabulary logits for every prompt token (prompt evaluation 3.4x
        # slower, label scoring 2x slower).
        self._lib.llama_set_embeddings(self._llm._ctx, False)
        # Which thread count is faster depends on the machine's load (see thread_pace).
        threads = (self._n_threads,) if self._n_threads else (1, os.cpu_count() or 1)
        self._cache = KVCache(
            self._llm, self._lib, _cffi_bindings.ffi, reuse=self._reuse, threads=threads
        )
        self._model_name = path.name

    def _kv(self) -> KVCache:
        assert self._cache is not None, "loaded with the model"
        return self._cache

    def _check_fits(self, n_tokens: int, what: str) -> None:
        if n_tokens + PAD - 1 > self._n_ctx:  # the last batch's padding needs room too
            raise FatalError(
                f"{what} needs {n_tokens} tokens, over the local model's context of {self._n_ctx}",
                hint="shorten the prompt or examples, or raise the local backend's n_ctx",
            )

    def _generate(self, request: LLMRequest, abandoned: threading.Event) -> LLMResponse:
        """Sample a continuation, seeded from the request key so a resent call repeats.

        The prompt goes through :meth:`KVCache.prefix`, so the part an earlier call left in the KV
        cache (an operator template's fixed examples) is not decoded again, and the binding
        samples from there (its ``generate`` would clear the cache). The binding's default
        truncation (top-k 40, top-p 0.95, min-p 0.05) stays on: it keeps a 270M model's
        temperature-1 samples on topic. No repeat penalty: the API backends apply none.
        """
        llm, cache = self._llm, self._kv()
        prompt = llm.tokenize(request.prompt)
        self._check_fits(len(prompt) + request.max_tokens, "the completion")
        llm._configure_generation_sampler(
            request.temperature, 40, 0.95, 0.05, 1.0, 64, request.sample_seed()
        )
        cache.prefix(prompt, True, sampling=True)
        cache.settle_threads()
        stops = [s for s in request.stop if s] or None
        text = ""
        for piece in llm._generate_from_n_past(len(prompt), request.max_tokens, stops):
            if abandoned.is_set():
                raise Abandoned
            text += piece
        # The binding does not report its token count; re-tokenising is exact up to merges.
        n_text = len(llm.tokenize(text, add_special=False))
        return LLMResponse(text=text, usage=Usage(len(prompt), n_text), model=self._model_name)

    def _loglik(self, request: LLMRequest, abandoned: threading.Event) -> LLMResponse:
        """Sum log p(continuation tokens | prompt) for each continuation.

        Tokens are compared on the tokenised ``prompt + continuation``, since a boundary merge
        can fold the prompt's last token into the continuation's first. The prefix shared by
        all continuations comes from :meth:`KVCache.prefix` (only what the previous call did not
        leave in the KV cache is decoded); each continuation then rolls the cache back to it.
        The usage counts every token the request covers, cached or not, so the journal's
        totals do not depend on the order calls ran in.
        """
        cache = self._kv()
        context = self._llm.tokenize(request.prompt)
        fulls = [self._llm.tokenize(request.prompt + c) for c in request.continuations]
        self._check_fits(max(map(len, fulls), default=0), "the loglik request")
        commons = [common_prefix(context, full) for full in fulls]
        n_shared = min(commons, default=0)
        prefix_row: np.ndarray | None = None
        logprobs: list[float] = []
        for full, common in zip(fulls, commons, strict=True):
            if abandoned.is_set():
                raise Abandoned
            if prefix_row is None or not cache.rewind(n_shared):
                prefix_row = cache.prefix(context[:n_shared], prefix_row is None)
            tail = full[n_shared:-1]
            rows = [prefix_row, *cache.decode(tail, n_shared, n_shared)]
            # rows[i] predicts the token at position n_shared + i.
            logprobs.append(
                sum(float(rows[pos - n_shared][full[pos]]) for pos in range(common, len(full)))
            )
        covered = n_shared + sum(len(full[n_shared:-1]) for full in fulls)
        return LLMResponse(
            logprobs=tuple(logprobs), usage=Usage(covered, 0), model=self._model_name
        )


def _silence_llama_log(ffi: Any, lib: Any) -> None:
    """Route llama.cpp's stderr chatter (~1,400 lines per load) away; keep its errors."""
    global _log_callback
    if _log_callback is None:

        def forward(level: int, text: Any, _user: Any) -> None:
            if level == 4:  # GGML_LOG_LEVEL_ERROR
                _log.warning("llama.cpp: %s", ffi.string(text).decode(errors="replace").rstrip())

        _log_callback = ffi.callback("ggml_log_callback", forward)
    lib.llama_log_set(_log_callback, ffi.NULL)
