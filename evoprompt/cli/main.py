"""Entry point: ``run`` by default, or an inspection subcommand."""

from __future__ import annotations

import difflib
import os
import signal
import sys
from collections.abc import Callable

SUBCOMMANDS = ("list", "status", "verify", "report")


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
    if args and args[0] in SUBCOMMANDS:
        from evoprompt.cli.inspect import main as inspect_main

        return inspect_main(args)
    if args and not args[0].startswith("-"):
        print(unknown_command(args[0]), file=sys.stderr)
        return 2
    from evoprompt.cli.run import main as run_main

    return run_main(args)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    return _quiet_pipe(lambda: _dispatch(args))
