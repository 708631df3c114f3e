"""Thin entry point: ``python main.py --help``."""

import sys

from evoprompt.cli.main import console

if __name__ == "__main__":
    sys.exit(console())
