"""Entry point: ``run`` by default, or a subcommand, each in its own module (imported only
when used, so ``list`` never loads the runner)."""

from __future__ import annotations

import difflib
import gc
import importlib
import os
import signal
import sys
from collections.abc import Callable

# subcommand -> (module with main(argv), whether argv starts with the subcommand's name)
COMMANDS: dict[str, tuple[str, bool]] = {
    "list": ("evoprompt.cli.inspect", True),
    "status": ("evoprompt.cli.inspect", True),
    "verify": ("evoprompt.cli.inspect", True),
    "report": ("evoprompt.cli.inspect", True),
    "fork": ("evoprompt.cli.branch", True),
    "rollback": ("evoprompt.cli.branch", True),
    "sweep": ("evoprompt.cli.sweep", False),
    "sweep-report": ("evoprompt.cli.sweep_report", False),
    "test": ("evoprompt.cli.retest", False),
    "track": ("evoprompt.cli.track", False),
}
SUBCOMMANDS = tuple(COMMANDS)


def unknown_command(word: str, commands: tuple[str, ...] = SUBCOMMANDS) -> str:
    """One line for a bare word where a subcommand or a flag was expected."""
    close = difflib.get_close_matches(word, commands, n=1, cutoff=0.5)
    hint = f"did you mean {close[0]}?" if close else f"commands: {', '.join(commands)}"
    return f"error: unknown command {word!r} ({hint}); a run takes only --flags (see --help)"


def _quiet_pipe(run: Callable[[], int]) -> int:
    """``status ID | head``: a reader that stops early is no error, so no traceback."""
    try:
        code = run()
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # Python flushes stdout once more at exit: point it at /dev/null so that cannot fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE


def _dispatch(args: list[str]) -> int:
    if args and args[0] in COMMANDS:
        module, with_name = COMMANDS[args[0]]
        entry = importlib.import_module(module).main
        return int(entry(args if with_name else args[1:]))
    if args and not args[0].startswith("-"):
        print(unknown_command(args[0]), file=sys.stderr)
        return 2
    from evoprompt.cli.run import main as run_main

    return run_main(args)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    return _quiet_pipe(lambda: _dispatch(args))


def console() -> int:
    """The process's entry (``main.py``, the ``evoprompt`` script): :func:`main`, then every
    object frozen so the interpreter's last collection skips them. Everything is saved and
    closed by then; the walk over numpy's and scipy's objects took ~0.1 s of every exit."""
    code = main()
    gc.freeze()
    return code
