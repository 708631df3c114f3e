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

# subcommand -> (module with main(argv), whether argv starts with the subcommand's name,
# whether it honours --dry-run: prints its bill and returns, calling and creating nothing).
# A command that can spend must honour it; the others refuse it by name (see _dispatch).
COMMANDS: dict[str, tuple[str, bool, bool]] = {
    "list": ("evoprompt.cli.inspect", True, False),
    "status": ("evoprompt.cli.inspect", True, False),
    "verify": ("evoprompt.cli.inspect", True, False),
    "report": ("evoprompt.cli.inspect", True, False),
    "fork": ("evoprompt.cli.branch", True, True),
    "rollback": ("evoprompt.cli.branch", True, False),
    "sweep": ("evoprompt.cli.sweep", False, True),
    "sweep-report": ("evoprompt.cli.sweep_report", False, False),
    "test": ("evoprompt.cli.retest", False, True),
    "track": ("evoprompt.cli.track", False, False),
}
SUBCOMMANDS = tuple(COMMANDS)
DRY_RUN = "--dry-run"
EXIT_USAGE, EXIT_BUG = 2, 1


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


def asks_dry_run(args: list[str]) -> bool:
    """Whether argv holds ``--dry-run`` as argparse reads it (``--dry`` too: a unique prefix).
    Erring towards yes is safe: a dry run only forbids calls."""
    return any(arg.startswith("--dr") and DRY_RUN.startswith(arg) for arg in args)


def _dispatch(args: list[str]) -> int:
    dry = asks_dry_run(args)
    if args and args[0] in COMMANDS:
        module, with_name, honours_dry_run = COMMANDS[args[0]]
        if dry and not honours_dry_run:
            spenders = ", ".join(["run", *(c for c, entry in COMMANDS.items() if entry[2])])
            print(
                f"error: {args[0]} takes no --dry-run (it never calls the endpoint; only the "
                f"commands that can spend have one: {spenders}): drop the flag",
                file=sys.stderr,
            )
            return EXIT_USAGE
        entry = importlib.import_module(module).main
        return _guarded(lambda: int(entry(args if with_name else args[1:])), dry)
    if args and not args[0].startswith("-"):
        print(unknown_command(args[0]), file=sys.stderr)
        return EXIT_USAGE
    from evoprompt.cli.run import main as run_main

    return _guarded(lambda: run_main(args), dry)


def _guarded(command: Callable[[], int], dry: bool) -> int:
    """Run ``command``; during a dry run with every backend's construction forbidden, so
    even a command that forgot its dry run cannot open a connection, let alone pay."""
    if not dry:
        return command()
    from evoprompt.llm.dry_run_guard import CallsForbidden, calls_forbidden

    try:
        with calls_forbidden("a dry run"):
            return command()
    except CallsForbidden as exc:
        print(f"internal error (please report): {exc}; no call was made", file=sys.stderr)
        return EXIT_BUG


def _readable(run: Callable[[], int]) -> int:
    """A folder written by a newer evoprompt stops every command with one line, whatever
    reads it first; the reader raised before writing anything."""
    from evoprompt.checkpoint.schema.fields import NewerFormat

    try:
        return run()
    except NewerFormat as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    return _quiet_pipe(lambda: _readable(lambda: _dispatch(args)))


def console() -> int:
    """The process's entry (``main.py``, the ``evoprompt`` script): :func:`main`, then every
    object frozen so the interpreter's last collection skips them. Everything is saved and
    closed by then; the walk over numpy's and scipy's objects took ~0.1 s of every exit."""
    code = main()
    gc.freeze()
    return code
