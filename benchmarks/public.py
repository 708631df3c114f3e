#!/usr/bin/env python3
"""The public-task benchmark: GA and DE against the paper's manual prompts on SST-2, Subj and
AG News, several seeds, held-out test, in one command.

    python benchmarks/public.py                     # the embedded model: 2 to 3 hours on 2 cores
    OPENAI_API_KEY=... python benchmarks/public.py --sweep-id public-4o-mini \\
        --base-url https://api.openai.com/v1 --model gpt-4o-mini       # any endpoint
    python benchmarks/public.py --table-only        # write the table again from the folders

It runs ``sweeps/public.toml`` as the sweep ``public`` (``--sweep-id``) under ``result/``
(``--result-dir``), then writes ``benchmarks/PUBLIC.md``, ``public.json`` and ``public.png``
(``--out``) from the sweep's folders alone (``bench/public_table.py`` reads them,
``bench/public_render.py`` writes the files), and the same summary into README.md's headline
(unless ``--no-readme``, or ``--out`` is elsewhere). The sweep is an ordinary one: stop it at any
moment (Ctrl+C, kill -9, a power cut) and rerun the same command; finished cells are kept,
the others resume from their checkpoints and no answered call is bought again. Any other flag
goes to ``main.py sweep`` (``--max-parallel``, ``--concurrency``, ``--max-cost``,
``--prices``, ...); cells run two at a time unless ``--max-parallel`` says.

Few-shot GA: ``sweeps/public_shots.toml`` runs too, as the sweep ``ID-shots``, and its rows
join the table.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(1, str(ROOT))  # this checkout's evoprompt, whatever else is installed

from bench.public_render import MarkersMissing, write  # noqa: E402

from evoprompt.checkpoint.layout import SweepLayout  # noqa: E402
from evoprompt.config import ConfigError  # noqa: E402
from evoprompt.sweep.spec import read_sweep  # noqa: E402
from evoprompt.sweep.state import SweepError  # noqa: E402

MAIN = ROOT / "main.py"
# A sweep's exit status when Ctrl+C or SIGTERM stopped it; any other failure (a cell that
# failed, a budget) leaves the next sweep free to run.
STOPPED = {130, 143}


def sweeps(args: argparse.Namespace) -> list[tuple[str, Path]]:
    """(sweep id, sweep file) to run: GA and DE, then few-shot GA (unless ``--no-shots``)."""
    chosen = [(args.sweep_id, args.sweep_file)]
    if not args.no_shots:
        chosen.append((f"{args.sweep_id}-shots", args.shots_file))
    return chosen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep-id", default="public", help="sweep folder name (default public)")
    parser.add_argument("--result-dir", type=Path, default=Path("result"))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks", help="table folder")
    parser.add_argument("--sweep-file", type=Path, default=ROOT / "sweeps" / "public.toml")
    parser.add_argument(
        "--shots-file",
        type=Path,
        default=ROOT / "sweeps" / "public_shots.toml",
        help="few-shot GA sweep, run after the GA/DE one",
    )
    parser.add_argument("--no-shots", action="store_true", help="GA and DE only")
    parser.add_argument("--table-only", action="store_true", help="run nothing; write the table")
    parser.add_argument(
        "--no-readme",
        action="store_true",
        help="leave README.md's headline alone (it is rewritten when --out is benchmarks/)",
    )
    args, extra = parser.parse_known_args()
    if not any(a.startswith("--max-parallel") for a in extra):
        extra += ["--max-parallel", "2"]
    code = 0
    for sweep_id, path in sweeps(args):
        if args.table_only:
            break
        command = [sys.executable, str(MAIN), "sweep", str(path), "--sweep-id", sweep_id]
        command += ["--result-dir", str(args.result_dir), *extra]
        ran = subprocess.run(command, check=False).returncode
        code = code or ran
        if ran in STOPPED:  # stopped by the user: the next sweep waits for the rerun
            break
    done = [
        args.result_dir / s for s, _ in sweeps(args) if SweepLayout(args.result_dir / s).is_sweep()
    ]
    if not done:
        print(f"no sweep folder under {args.result_dir}: run without --table-only", file=sys.stderr)
        return code or 2
    try:
        # every chosen sweep's cells count, begun or not, so a partial table says so
        total = sum(len(read_sweep(path).cells()) for _, path in sweeps(args))
        official = args.out.resolve() == (ROOT / "benchmarks").resolve() and not args.no_readme
        write(done, args.out, total, ROOT / "README.md" if official else None)
    except (SweepError, ConfigError, MarkersMissing) as exc:  # one line, as main.py says it
        print(exc, file=sys.stderr)
        return 2
    print(f"table: {args.out / 'PUBLIC.md'} (figure public.png, figures public.json)")
    return code


if __name__ == "__main__":
    sys.exit(main())
