"""The local model's KV cache kept across calls: only what follows the longest common prefix
with the last context is decoded (llama-server's ``cache_prompt``), in batches padded so that
a call's logprobs do not depend on what the cache held before it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection
from typing import Any

import numpy as np
import numpy.typing as npt

from evoprompt.llm.prefix_queue import common_prefix
from evoprompt.llm.thread_pace import ThreadPace

PAD = 8  # decode batches are padded to a multiple of this many tokens (see KVCache.decode)
# An output row (262k vocabulary logits) costs about two tokens of the 270M model, whose
# embedding is 168M of its 268M weights; the thread pace weighs a decode's work so.
OUTPUT_WORK = 2
# Tokens per llama_decode (a multiple of PAD, so the split changes no number): a stopped run
# waits for at most one batch, and a 300-token template on one busy core takes many seconds.
CHUNK = 64


class Abandoned(Exception):
    """The caller of this call was cancelled: its worker thread stops (nobody reads it)."""


class KVCache:
    """Decodes into one llama.cpp context, remembering which tokens its cache holds.

    ``llm`` is the binding's ``Llama``, ``lib`` and ``ffi`` its C API; a :class:`ThreadPace`
    picks each decode's thread count among ``threads``.
    """

    def __init__(
        self, llm: Any, lib: Any, ffi: Any, *, reuse: bool, threads: Collection[int]
    ) -> None:
        self._llm, self._lib, self._ffi = llm, lib, ffi
        self._ctx = llm._ctx
        self._memory = lib.llama_get_memory(self._ctx)
        self._n_vocab = llm.n_vocab
        self._n_swa = lib.llama_model_n_swa(llm._model)
        self._reuse = reuse
        self._pace = ThreadPace(threads)
        self._threads = 0
        self.held: list[int] = []  # the tokens the KV cache holds, from position 0
        self._held_row: np.ndarray | None = None  # the log-softmax row of their last token
        self.decoded = 0  # tokens decoded so far (prefix reuse shows as fewer)
        self.stop: threading.Event | None = None  # set: the running call was abandoned

    def forget(self) -> None:
        """The cache may hold anything now (a call failed or was stopped midway)."""
        self.held = []

    def settle_threads(self) -> None:
        """Use the fastest thread count so far (generation decodes one token at a time
        through the binding, untimed)."""
        self._use_threads(self._pace.best())

    def prefix(self, prefix: list[int], reuse: bool, *, sampling: bool = False) -> np.ndarray:
        """Put ``prefix`` in the KV cache and return the log-softmax row of its last token.

        With ``reuse``, the longest common prefix with what the cache holds stays and only the
        rest is decoded; the last token is decoded again unless the cache holds exactly
        ``prefix``, whose row is kept (not when ``sampling``: the sampler reads llama.cpp's
        logits). Where the rollback is impossible (sliding-window layers), the whole prefix
        is decoded again.
        """
        held, self.held = self.held, []  # unknown until this call's decode succeeds
        keep = common_prefix(held, prefix) if reuse and self._reuse else 0
        if (
            keep == len(prefix) == len(held)
            and not sampling
            and self._held_row is not None
            and self.rewind(keep)
        ):
            row = self._held_row
        else:
            keep = min(keep, len(prefix) - 1)
            if not keep or not self.rewind(keep):
                self._lib.llama_memory_clear(self._memory, True)
                keep = 0
            row = self.decode(prefix[keep:], keep, len(prefix) - 1)[-1]
        self.held, self._held_row = prefix, row
        return row

    def rewind(self, n_keep: int) -> bool:
        """Drop cached positions from ``n_keep`` on; False when the prefix must be re-decoded.

        Gemma's sliding-window layers keep only the last ``n_swa`` positions cached, so past
        ~1k tokens a rollback can find its attention window gone (llama-server's same check).
        """
        if not self._lib.llama_memory_seq_rm(self._memory, 0, n_keep, -1):
            return False
        oldest = self._lib.llama_memory_seq_pos_min(self._memory, 0)
        return not self._n_swa or oldest <= max(0, n_keep - self._n_swa)

    def decode(self, tokens: list[int], start: int, first_output: int) -> list[np.ndarray]:
        """Decode ``tokens`` at positions ``start``.., returning log-softmax rows for every
        position from ``first_output`` on (only those get logits computed).

        Each batch is padded to a multiple of ``PAD`` tokens, removed from the cache again:
        llama.cpp's CPU kernels take a batch's rows in groups and the rest one by one, with
        different rounding, so unpadded a token's logits depend on where the batch was split
        (a label's logprob moved by up to 0.25 nats). Padded, a prefix decoded by one call
        and its rest by the next give the bit-identical numbers of decoding it all at once:
        what a call returns does not depend on what the cache held before it.
        """
        lib, ctx, width = self._lib, self._ctx, min(self._llm._n_batch, CHUNK)
        rows: list[np.ndarray] = []
        self.decoded += len(tokens)
        for offset in range(0, len(tokens), width):
            if self.stop is not None and self.stop.is_set():
                raise Abandoned
            chunk = tokens[offset : offset + width]
            outputs = [start + offset + i >= first_output for i in range(len(chunk))]
            self._run_batch(chunk, start + offset, outputs)
            end = start + offset + len(chunk)
            if len(chunk) % PAD and not lib.llama_memory_seq_rm(self._memory, 0, end, -1):
                raise RuntimeError("the padding could not be removed from the KV cache")
            for i, wanted in enumerate(outputs):
                if wanted:
                    raw = self._ffi.buffer(lib.llama_get_logits_ith(ctx, i), self._n_vocab * 4)
                    rows.append(_log_softmax(np.frombuffer(raw, dtype=np.float32)))
        return rows

    def _run_batch(self, chunk: list[int], start: int, outputs: list[bool]) -> None:
        """One ``llama_decode`` of ``chunk`` padded to ``PAD`` (the padding repeats its last
        token), on the thread count the pace picks, timed for it."""
        lib = self._lib
        padded = -(-len(chunk) // PAD) * PAD
        batch = lib.llama_batch_init(padded, 0, 1)
        try:
            batch.n_tokens = padded
            for i in range(padded):
                batch.token[i] = chunk[min(i, len(chunk) - 1)]
                batch.pos[i] = start + i
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = 0
                batch.logits[i] = i < len(chunk) and outputs[i]
            threads = self._pace.pick()
            self._use_threads(threads)
            started = time.perf_counter()
            status = lib.llama_decode(self._ctx, batch)
            work = padded + OUTPUT_WORK * sum(outputs)
            self._pace.record(threads, time.perf_counter() - started, work)
            if status != 0:
                raise RuntimeError(f"llama_decode returned {status}")
        finally:
            lib.llama_batch_free(batch)

    def _use_threads(self, threads: int) -> None:
        if threads != self._threads:
            self._lib.llama_set_n_threads(self._ctx, threads, threads)
            self._threads = threads


def _log_softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    wide = logits.astype(np.float64)
    top = wide.max()
    rows: npt.NDArray[np.float64] = wide - (top + np.log(np.exp(wide - top).sum()))
    return rows
