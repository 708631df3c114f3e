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
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from evoprompt.llm.errors import FatalError
from evoprompt.llm.gemma_files import INSTALL_HINT, MISSING, default_cache_dir, ensure_model
from evoprompt.llm.glibc_compat import native_lib
from evoprompt.llm.prefix_queue import PrefixQueue, common_prefix
from evoprompt.llm.types import LLMRequest, LLMResponse, Usage

_log = logging.getLogger(__name__)
# llama.cpp keeps one process-wide log callback: it must outlive every model, so it lives here.
_log_callback: Any = None
PAD = 8  # decode batches are padded to a multiple of this many tokens (see _decode)


class _Abandoned(Exception):
    """The caller of this call was cancelled: its worker thread stops (nobody reads it)."""


class LocalBackend:
    """Answers ``completion`` and ``loglik`` requests with llama.cpp in this process.

    One model context serves all calls: a :class:`PrefixQueue` queues callers in the event
    loop (rather than parking executor threads), calls that share a prompt back to back so the
    KV cache is reused, and a ``threading.Lock`` is the actual guard, since a cancelled
    caller leaves its worker thread running with the context after its turn ends. That
    thread is told so and stops at its next token or continuation, so a stopped run neither
    waits for a generation nobody will read nor exits with one running.
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
        self._held: list[int] = []  # the tokens the KV cache holds, from position 0
        self._held_row: np.ndarray | None = None  # the log-softmax row of their last token
        self.decoded = 0  # tokens decoded so far (prefix reuse shows as fewer)

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
                raise _Abandoned
            if self._llm is None:
                self._load()
            try:
                return work(request, abandoned)
            except BaseException as exc:
                self._held = []  # the KV cache may hold anything now
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
        self._n_vocab = self._llm.n_vocab
        self._n_swa = self._lib.llama_model_n_swa(self._llm._model)
        self._model_name = path.name

    def _check_fits(self, n_tokens: int, what: str) -> None:
        if n_tokens + PAD - 1 > self._n_ctx:  # the last batch's padding needs room too
            raise FatalError(
                f"{what} needs {n_tokens} tokens, over the local model's context of {self._n_ctx}",
                hint="shorten the prompt or examples, or raise the local backend's n_ctx",
            )

    def _generate(self, request: LLMRequest, abandoned: threading.Event) -> LLMResponse:
        """Sample a continuation, seeded from the request key so a resent call repeats.

        The prompt goes through :meth:`_prefix`, so the part an earlier call left in the KV
        cache (an operator template's fixed examples) is not decoded again, and the binding
        samples from there (its ``generate`` would clear the cache). The binding's default
        truncation (top-k 40, top-p 0.95, min-p 0.05) stays on: it keeps a 270M model's
        temperature-1 samples on topic. No repeat penalty: the API backends apply none.
        """
        llm = self._llm
        prompt = llm.tokenize(request.prompt)
        self._check_fits(len(prompt) + request.max_tokens, "the completion")
        llm._configure_generation_sampler(
            request.temperature, 40, 0.95, 0.05, 1.0, 64, request.sample_seed()
        )
        self._prefix(self._lib.llama_get_memory(llm._ctx), prompt, True, sampling=True)
        stops = [s for s in request.stop if s] or None
        text = ""
        for piece in llm._generate_from_n_past(len(prompt), request.max_tokens, stops):
            if abandoned.is_set():
                raise _Abandoned
            text += piece
        # The binding does not report its token count; re-tokenising is exact up to merges.
        n_text = len(llm.tokenize(text, add_special=False))
        return LLMResponse(text=text, usage=Usage(len(prompt), n_text), model=self._model_name)

    def _loglik(self, request: LLMRequest, abandoned: threading.Event) -> LLMResponse:
        """Sum log p(continuation tokens | prompt) for each continuation.

        Tokens are compared on the tokenised ``prompt + continuation``, since a boundary merge
        can fold the prompt's last token into the continuation's first. The prefix shared by
        all continuations comes from :meth:`_prefix` (only what the previous call did not
        leave in the KV cache is decoded); each continuation then rolls the cache back to it.
        The usage counts every token the request covers, cached or not, so the journal's
        totals do not depend on the order calls ran in.
        """
        context = self._llm.tokenize(request.prompt)
        fulls = [self._llm.tokenize(request.prompt + c) for c in request.continuations]
        self._check_fits(max(map(len, fulls), default=0), "the loglik request")
        commons = [common_prefix(context, full) for full in fulls]
        n_shared = min(commons, default=0)
        memory = self._lib.llama_get_memory(self._llm._ctx)
        prefix_row: np.ndarray | None = None
        logprobs: list[float] = []
        for full, common in zip(fulls, commons, strict=True):
            if abandoned.is_set():
                raise _Abandoned
            if prefix_row is None or not self._rewind(memory, n_shared):
                prefix_row = self._prefix(memory, context[:n_shared], prefix_row is None)
            tail = full[n_shared:-1]
            rows = [prefix_row, *self._decode(tail, n_shared, n_shared)]
            # rows[i] predicts the token at position n_shared + i.
            logprobs.append(
                sum(float(rows[pos - n_shared][full[pos]]) for pos in range(common, len(full)))
            )
        covered = n_shared + sum(len(full[n_shared:-1]) for full in fulls)
        return LLMResponse(
            logprobs=tuple(logprobs), usage=Usage(covered, 0), model=self._model_name
        )

    def _prefix(
        self, memory: Any, prefix: list[int], reuse: bool, *, sampling: bool = False
    ) -> np.ndarray:
        """Put ``prefix`` in the KV cache and return the log-softmax row of its last token.

        With ``reuse``, the longest common prefix with what the cache holds stays and only the
        rest is decoded (llama-server's ``cache_prompt``); the last token is decoded again
        unless the cache holds exactly ``prefix``, whose row is kept (not when ``sampling``:
        the sampler reads llama.cpp's logits). Where the rollback is impossible
        (sliding-window layers), the whole prefix is decoded again.
        """
        held, self._held = self._held, []  # unknown until this call's decode succeeds
        keep = common_prefix(held, prefix) if reuse and self._reuse else 0
        if (
            keep == len(prefix) == len(held)
            and not sampling
            and self._held_row is not None
            and self._rewind(memory, keep)
        ):
            row = self._held_row
        else:
            keep = min(keep, len(prefix) - 1)
            if not keep or not self._rewind(memory, keep):
                self._lib.llama_memory_clear(memory, True)
                keep = 0
            row = self._decode(prefix[keep:], keep, len(prefix) - 1)[-1]
        self._held, self._held_row = prefix, row
        return row

    def _rewind(self, memory: Any, n_keep: int) -> bool:
        """Drop cached positions from ``n_keep`` on; False when the prefix must be re-decoded.

        Gemma's sliding-window layers keep only the last ``n_swa`` positions cached, so past
        ~1k tokens a rollback can find its attention window gone (llama-server's same check).
        """
        if not self._lib.llama_memory_seq_rm(memory, 0, n_keep, -1):
            return False
        oldest = self._lib.llama_memory_seq_pos_min(memory, 0)
        return not self._n_swa or oldest <= max(0, n_keep - self._n_swa)

    def _decode(self, tokens: list[int], start: int, first_output: int) -> list[np.ndarray]:
        """Decode ``tokens`` at positions ``start``.., returning log-softmax rows for every
        position from ``first_output`` on (only those get logits computed).

        Each batch is padded to a multiple of ``PAD`` tokens, removed from the cache again:
        llama.cpp's CPU kernels take a batch's rows in groups and the rest one by one, with
        different rounding, so unpadded a token's logits depend on where the batch was split
        (a label's logprob moved by up to 0.25 nats). Padded, a prefix decoded by one call
        and its rest by the next give the bit-identical numbers of decoding it all at once:
        what a call returns does not depend on what the cache held before it.
        """
        lib, ffi = self._lib, self._bindings.ffi
        ctx, width = self._llm._ctx, self._llm._n_batch
        memory = lib.llama_get_memory(ctx)
        rows: list[np.ndarray] = []
        self.decoded += len(tokens)
        for offset in range(0, len(tokens), width):
            chunk = tokens[offset : offset + width]
            padded = -(-len(chunk) // PAD) * PAD
            batch = lib.llama_batch_init(padded, 0, 1)
            try:
                batch.n_tokens = padded
                for i in range(padded):
                    pos = start + offset + i
                    batch.token[i] = chunk[min(i, len(chunk) - 1)]
                    batch.pos[i] = pos
                    batch.n_seq_id[i] = 1
                    batch.seq_id[i][0] = 0
                    batch.logits[i] = i < len(chunk) and pos >= first_output
                status = lib.llama_decode(ctx, batch)
                if status != 0:
                    raise RuntimeError(f"llama_decode returned {status}")
            finally:
                lib.llama_batch_free(batch)
            end = start + offset + len(chunk)
            if padded > len(chunk) and not lib.llama_memory_seq_rm(memory, 0, end, -1):
                raise RuntimeError("the padding could not be removed from the KV cache")
            for i in range(len(chunk)):
                if start + offset + i >= first_output:
                    raw = ffi.buffer(lib.llama_get_logits_ith(ctx, i), self._n_vocab * 4)
                    rows.append(_log_softmax(np.frombuffer(raw, dtype=np.float32)))
        return rows


def _log_softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    wide = logits.astype(np.float64)
    top = wide.max()
    rows: npt.NDArray[np.float64] = wide - (top + np.log(np.exp(wide - top).sum()))
    return rows


def _silence_llama_log(ffi: Any, lib: Any) -> None:
    """Route llama.cpp's stderr chatter (~1,400 lines per load) away; keep its errors."""
    global _log_callback
    if _log_callback is None:

        def forward(level: int, text: Any, _user: Any) -> None:
            if level == 4:  # GGML_LOG_LEVEL_ERROR
                _log.warning("llama.cpp: %s", ffi.string(text).decode(errors="replace").rstrip())

        _log_callback = ffi.callback("ggml_log_callback", forward)
    lib.llama_log_set(_log_callback, ffi.NULL)
