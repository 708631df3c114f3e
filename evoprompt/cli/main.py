"""Entry point: ``run`` by default, or an inspection subcommand."""

from __future__ import annotations

import sys

SUBCOMMANDS = ("list", "status", "verify", "report")
BRANCHING = ("fork", "rollback")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in SUBCOMMANDS:
        from evoprompt.cli.inspect import main as inspect_main

        return inspect_main(args)
    if args and args[0] in BRANCHING:
        from evoprompt.cli.branch import main as branch_main

        return branch_main(args)
    from evoprompt.cli.run import main as run_main

    return run_main(args)


if __name__ == "__main__":
    sys.exit(main())
