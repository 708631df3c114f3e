"""``run.py --instrumented``: the real CLI with its checkpoint code timed from the inside."""

from __future__ import annotations

import functools
import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any

INSIDE = {
    # (module, class, method): what the time spent in it is charged to
    ("evoprompt.checkpoint.journal", "Journal", "get"): "journal",
    ("evoprompt.checkpoint.journal", "Journal", "put"): "journal",
    ("evoprompt.checkpoint.journal", "Journal", "bump"): "journal",
    ("evoprompt.checkpoint.journal", "Journal", "record_failure"): "journal",
    ("evoprompt.core.recorder", "Recorder", "_save_batch"): "batch_saves",
    ("evoprompt.core.recorder", "Recorder", "_save_generation"): "generation_saves",
    ("evoprompt.core.recorder", "Recorder", "_save_stop"): "generation_saves",
}


def instrumented(out: Path, tree: Path, argv: list[str]) -> int:
    """``run.py --instrumented OUT --tree DIR -- ARGS``: the CLI, timing the checkpoint code.

    Wall seconds spent inside the journal (on the event loop: everything waits) and inside the
    recorder's batch / generation saves (on the checkpoint thread: one worker, or at the end of a
    generation the whole loop, waits) are written to OUT as JSON when the run ends.
    """
    sys.path.insert(0, str(tree))
    totals = dict.fromkeys(INSIDE.values(), 0.0)
    for (module, cls_name, method), bucket in INSIDE.items():
        cls = getattr(importlib.import_module(module), cls_name)
        original = getattr(cls, method)

        def timed(*args: Any, _f: Any = original, _b: str = bucket, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return _f(*args, **kwargs)
            finally:
                totals[_b] += time.perf_counter() - started

        setattr(cls, method, functools.wraps(original)(timed))
    from evoprompt.cli.main import main as cli_main

    try:
        return cli_main(argv)
    finally:
        out.write_text(json.dumps(totals))
