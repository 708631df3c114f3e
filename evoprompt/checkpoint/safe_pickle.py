"""Load ``state.pkl`` with an allow-list: a tampered pickle cannot run code.

``pickle`` resolves every class or function a stream names through ``find_class``; refusing
all names but the project's state types, plain builtins and numpy's array machinery stops
payloads like ``os.system`` before anything is called.

A state type that moves to another module keeps its old path in :data:`MOVED`: every
``state.pkl`` written before the move names the old one, and still loads.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

ALLOWED: frozenset[tuple[str, str]] = frozenset(
    {
        ("evoprompt.checkpoint.state", "ExperimentState"),
        ("evoprompt.checkpoint.state", "Individual"),
        ("evoprompt.checkpoint.schema.tally", "RowTally"),
        ("evoprompt.checkpoint.schema.results", "GenerationRow"),
        ("evoprompt.checkpoint.schema.heldout", "TestReport"),
        ("evoprompt.checkpoint.schema.heldout", "TestResult"),
        ("evoprompt.checkpoint.schema.heldout", "Comparison"),
        *(
            ("builtins", name)
            for name in (
                "dict",
                "list",
                "tuple",
                "set",
                "frozenset",
                "str",
                "bytes",
                "int",
                "float",
                "bool",
                "complex",
                "bytearray",
            )
        ),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        # Protocol 5 (what state.pkl uses) rebuilds contiguous arrays from their raw bytes.
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
    }
)


# Old module path -> where its state types live now (pickles name the module of each class).
MOVED: dict[str, str] = {"evoprompt.core.state": "evoprompt.checkpoint.state"}


class UnsafePickle(pickle.UnpicklingError):
    """The stream names something outside the allow-list."""

    def __init__(self, name: str):
        super().__init__(f"state.pkl names a disallowed object '{name}'")
        self.name = name


class _AllowListUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        module = MOVED.get(module, module)
        if (module, name) not in ALLOWED:
            raise UnsafePickle(f"{module}.{name}")
        return super().find_class(module, name)


def safe_loads(data: bytes) -> Any:
    return _AllowListUnpickler(io.BytesIO(data)).load()
