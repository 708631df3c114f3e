"""Layers point one way: lower packages never import higher ones, and the read-only commands
load none of the machinery that runs experiments (so they stay fast and safe to run anywhere)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

RUNNING = (
    "evoprompt.core.engine",
    "evoprompt.core.session",
    "evoprompt.core.experiment",
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
