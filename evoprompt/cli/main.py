"""Entry point: ``run`` by default, or a subcommand, each in its own module (imported only
when used, so ``list`` never loads the runner)."""

from __future__ import annotations

import importlib
import sys

# subcommand -> (module with main(argv), whether argv starts with the subcommand's name)
COMMANDS: dict[str, tuple[str, bool]] = {
    "list": ("evoprompt.cli.inspect", True),
    "status": ("evoprompt.cli.inspect", True),
    "verify": ("evoprompt.cli.inspect", True),
    "report": ("evoprompt.cli.inspect", True),
    "fork": ("evoprompt.cli.branch", True),
    "rollback": ("evoprompt.cli.branch", True),
    "sweep": ("evoprompt.cli.sweep", False),
    "sweep-report": ("evoprompt.sweep.report", False),
}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in COMMANDS:
        module, with_name = COMMANDS[args[0]]
        entry = importlib.import_module(module).main
        return int(entry(args if with_name else args[1:]))
    from evoprompt.cli.run import main as run_main

    return run_main(args)


if __name__ == "__main__":
    sys.exit(main())
