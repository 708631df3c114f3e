"""``python -m evoprompt``: the same as ``python main.py`` (what printed commands use when the
program was started some other way, e.g. as the ``evoprompt`` console script)."""

import sys

from evoprompt.cli.main import console

sys.exit(console())
