"""Entry point: ``run`` by default, an inspection subcommand, or ``test`` (a held-out test of
an experiment's finalists or of given prompts)."""

from __future__ import annotations

import sys

SUBCOMMANDS = ("list", "status", "verify", "report")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in SUBCOMMANDS:
        from evoprompt.cli.inspect import main as inspect_main

        return inspect_main(args)
    if args and args[0] == "test":
        from evoprompt.cli.retest import main as retest_main

        return retest_main(args[1:])
    from evoprompt.cli.run import main as run_main

    return run_main(args)


if __name__ == "__main__":
    sys.exit(main())
