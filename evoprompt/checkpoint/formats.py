"""The format gate of an experiment folder: a folder a newer evoprompt wrote is refused before
anything in it is opened for writing (the journal's recovery, a rollback, a checkpoint)."""

from __future__ import annotations

import json
from pathlib import Path

from evoprompt.checkpoint.layout import Layout
from evoprompt.checkpoint.nofollow import PathRefused, read_text
from evoprompt.checkpoint.schema.fields import SchemaError, document


def refuse_newer(exp_dir: Path) -> None:
    """Raise NewerFormat when a document of the folder that a resume reads is of a newer
    format. A missing or damaged one passes: the reader that needs it says what is wrong."""
    layout = Layout(exp_dir)
    for path in (layout.config, layout.latest, layout.backup, layout.summary, layout.endpoint):
        try:
            raw = json.loads(read_text(path))
        except (OSError, ValueError, PathRefused):
            continue
        try:
            document(raw, f"{exp_dir.name}/{layout.relative(path)}")
        except SchemaError:
            continue
