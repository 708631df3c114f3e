"""Load the llama.cpp wheel's libraries on a glibc older than the one they were built against.

It rewrites a copy of the libraries' ELF symbol tables and knows nothing of the model or the
backend, so it can be checked, and dropped once the wheel stops needing it, on its own.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import tempfile
from pathlib import Path
from typing import Any

from evoprompt.llm.errors import FatalError


def native_lib(bindings: Any, cache_dir: Path) -> Any:
    """Load libllama, patching a copy when the wheel needs a newer glibc than this system's.

    The wheel is tagged manylinux2014 but its libraries import four C23 functions
    (``__isoc23_strtol`` and kin) that only glibc >= 2.38 has, so it fails on Debian 12
    (glibc 2.36). Those differ from the C99 ``strtol``/``strtoul``/``strtoull``/``sscanf``
    only in also accepting ``0b`` literals, so a copy that imports the C99 names behaves the
    same for llama.cpp's number parsing. Any other load failure's ``RuntimeError`` propagates
    for the caller to report.
    """
    try:
        return bindings.get_lib()
    except RuntimeError as exc:
        if "GLIBC_2.38" not in str(exc):
            raise
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
