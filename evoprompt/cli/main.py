"""Entry point: ``run`` by default, or an inspection subcommand."""

from __future__ import annotations

import importlib
import sys

SUBCOMMANDS = ("list", "status", "verify", "report")
SWEEP_COMMANDS = {"sweep": "evoprompt.cli.sweep", "sweep-report": "evoprompt.sweep.report"}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in SWEEP_COMMANDS:
        return int(importlib.import_module(SWEEP_COMMANDS[args[0]]).main(args[1:]))
    if args and args[0] in SUBCOMMANDS:
        from evoprompt.cli.inspect import main as inspect_main

        return inspect_main(args)
    from evoprompt.cli.run import main as run_main

    return run_main(args)


if __name__ == "__main__":
    sys.exit(main())
