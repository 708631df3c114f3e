#!/usr/bin/env python3
"""Rebuild the public tasks of ``evoprompt/data/public`` from a clone of EvoPrompt.

    python benchmarks/public_data.py PATH/TO/EvoPrompt [--rows 800]

PATH is a work tree or a bare git directory of https://github.com/beeevita/EvoPrompt. For each
task, every published row (``data/cls/TASK/seed{5,10,15}/{dev,dev_500,test}.txt``: text, tab,
label index) is read, repeated texts are kept once, the label index becomes its name (the
verbalizers of EvoPrompt's ``utils.py``), and a seeded sample of ``--rows`` rows is written as
``TASK.csv.gz`` (gzip without a timestamp, so a rebuild is byte-identical). The manual prompts
(``data/cls/TASK/prompts.txt``) become ``TASK.prompts.txt``, one per line, spaces trimmed.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import subprocess
from pathlib import Path

import numpy as np

# Label index -> name, as EvoPrompt's utils.py maps them (its verbalizers).
LABELS = {
    "sst2": ("negative", "positive"),
    "subj": ("subjective", "objective"),
    "agnews": ("World", "Sports", "Business", "Tech"),
}
SPLITS = [f"seed{seed}/{name}.txt" for seed in (5, 10, 15) for name in ("dev", "dev_500", "test")]
SAMPLE_SEED = 32  # the issue that brought the public tasks in
OUT = Path(__file__).resolve().parent.parent / "evoprompt" / "data" / "public"


def _show(repo: Path, path: str) -> str | None:
    """A file of the clone (work tree or bare git directory); None when it has no such file."""
    if (repo / path).is_file():
        return (repo / path).read_text(encoding="utf-8")
    done = subprocess.run(
        ["git", "-C", str(repo), "show", f"HEAD:{path}"], capture_output=True, check=False
    )
    return done.stdout.decode("utf-8") if done.returncode == 0 else None


def rows(repo: Path, task: str) -> list[tuple[str, str]]:
    """Every distinct published row of ``task`` (first label kept), in file order."""
    seen: dict[str, str] = {}
    for split in SPLITS:
        text = _show(repo, f"data/cls/{task}/{split}")
        for line in (text or "").splitlines():
            sentence, _, index = line.rpartition("\t")
            if sentence.strip():
                seen.setdefault(sentence.strip(), LABELS[task][int(index)])
    return list(seen.items())


def write_task(repo: Path, task: str, size: int) -> None:
    found = rows(repo, task)
    order = np.random.default_rng(SAMPLE_SEED).permutation(len(found))[:size]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["text", "label"])
    writer.writerows(found[int(i)] for i in sorted(order))
    data = gzip.compress(buffer.getvalue().encode("utf-8"), compresslevel=9, mtime=0)
    (OUT / f"{task}.csv.gz").write_bytes(data)
    prompts = _show(repo, f"data/cls/{task}/prompts.txt") or ""
    kept = [" ".join(p.split()) for p in prompts.splitlines() if p.strip()]
    (OUT / f"{task}.prompts.txt").write_text("\n".join(kept) + "\n", encoding="utf-8")
    print(f"{task}: {len(order)} of {len(found)} rows, {len(data):,} bytes; {len(kept)} prompts")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", type=Path, help="EvoPrompt work tree or bare git directory")
    parser.add_argument("--rows", type=int, default=800, help="rows kept per task")
    args = parser.parse_args()
    for task in LABELS:
        write_task(args.repo, task, args.rows)


if __name__ == "__main__":
    main()
