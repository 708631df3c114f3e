"""Layers point one way: lower packages never import higher ones, and the read-only commands
load none of the machinery that runs experiments (so they stay fast and safe to run anywhere)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

RUNNING = (
    "evoprompt.core.engine",
    "evoprompt.runner.session",
    "evoprompt.runner.experiment",
    "evoprompt.llm.client",
    "evoprompt.evolution",
    "evoprompt.evaluation",
    "evoprompt.strategies",
    "httpx",
    "aiohttp",
)


def loaded_after(*modules: str) -> list[str]:
    """evoprompt (and HTTP library) modules in sys.modules after importing ``modules`` afresh."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {list(modules)!r}: importlib.import_module(name)\n"
        "prefixes = ('evoprompt', 'httpx', 'aiohttp')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(prefixes))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return list(json.loads(out.stdout))


def test_read_only_commands_do_not_import_the_runner() -> None:
    loaded = loaded_after(
        "evoprompt.cli.inspect",
        "evoprompt.report.content",
        "evoprompt.report.verify",
        "evoprompt.report.html",
        "evoprompt.report.markdown",
    )
    assert "evoprompt.report.experiment" in loaded  # the probe itself works
    assert [m for m in loaded if m.startswith(RUNNING)] == []


@pytest.mark.parametrize(
    "package",
    ["evoprompt.checkpoint.store", "evoprompt.checkpoint.journal", "evoprompt.checkpoint.lock"],
)
def test_the_checkpoint_package_imports_nothing_from_llm(package: str) -> None:
    loaded = loaded_after(package)
    assert package in loaded
    assert [m for m in loaded if m.startswith(("evoprompt.llm", "evoprompt.core"))] == []


def _imports(package: str) -> dict[str, set[str]]:
    """Each module of ``package`` (by file) -> the evoprompt modules it imports, lazy ones too."""
    root = Path(__file__).resolve().parents[1]
    found: dict[str, set[str]] = {}
    for path in sorted((root / package.replace(".", "/")).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
        found[path.relative_to(root).as_posix()] = {n for n in names if n.startswith("evoprompt")}
    return found


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(f"{p}.") for p in prefixes)


# Who may not import whom: the loop knows nothing of how it is run, billed or branched; the
# runner nothing of billing; branching of the runner only config.json's one reader and writer
# (a resume finishes a pending rollback, so the runner uses branching); the config nothing of
# the backends that settle it; the checkpoint package nothing above it.
ABOVE = ("evoprompt.cli", "evoprompt.report", "evoprompt.sweep", "evoprompt.tracking")
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "evoprompt.core": (
        *ABOVE,
        "evoprompt.runner",
        "evoprompt.billing",
        "evoprompt.branching",
    ),
    "evoprompt.runner": (*ABOVE[:3], "evoprompt.billing"),
    "evoprompt.billing": ABOVE,
    "evoprompt.branching": (
        *ABOVE,
        "evoprompt.billing",
        "evoprompt.runner.session",
        "evoprompt.runner.launch",
        "evoprompt.runner.experiment",
        "evoprompt.runner.shared",
        "evoprompt.runner.answers",
    ),
    "evoprompt.strategies": ("evoprompt.core", "evoprompt.evolution", "evoprompt.evaluation"),
    # Settling needs the backend registry, which needs the config: the config cannot need it.
    "evoprompt.config": (
        *ABOVE,
        "evoprompt.llm.backends",
        "evoprompt.llm.openai_http",
        "evoprompt.llm.client",
        "evoprompt.core",
        "evoprompt.runner",
    ),
    "evoprompt.checkpoint": (
        "evoprompt.llm",
        "evoprompt.core",
        "evoprompt.runner",
        "evoprompt.billing",
        "evoprompt.branching",
        "evoprompt.config",
    ),
}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_down(package: str) -> None:
    wrong = {
        module: sorted(n for n in names if _within(n, FORBIDDEN[package]))
        for module, names in _imports(package).items()
    }
    assert {m: n for m, n in wrong.items() if n} == {}


# A module past this is doing more than one job (docs/architecture.md): split it by concern.
MAX_LINES = 300


def test_no_module_is_over_the_size_limit() -> None:
    package = Path(__file__).resolve().parents[1] / "evoprompt"
    sizes = {
        str(path.relative_to(package.parent)): len(path.read_text().splitlines())
        for path in package.rglob("*.py")
    }
    assert sizes, "no module found"
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}
