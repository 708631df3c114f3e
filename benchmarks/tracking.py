"""Does ``--track mlflow`` slow scoring? Alternated runs with and without it, same settings,
against the fake endpoint; scoring time = the generations' summed ``duration_s`` (breeding and
scoring, where tracking must not intrude), wall = the whole process (tracking's final sync
included). ``python benchmarks/tracking.py PAIRS GENERATIONS`` (needs mlflow installed)."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evoprompt.testing.server import FakeLLMServer, Faults  # noqa: E402

ARGS = ["--population-size", "8", "--dev-size", "64", "--seed", "7", "--test-size", "0"]
ARGS += ["--no-prune"]


def one(
    result_dir: Path, exp_id: str, url: str, track: bool, generations: int
) -> tuple[float, float]:
    env = {"OPENAI_API_KEY": "x", "OPENAI_BASE_URL": url, "PATH": "/usr/bin:/bin"}
    args = [sys.executable, str(ROOT / "main.py"), *ARGS, "--result-dir", str(result_dir)]
    args += ["--experiment-id", exp_id, "--max-generations", str(generations)]
    args += ["--track", "mlflow"] if track else []
    started = time.monotonic()
    subprocess.run(args, env=env, check=True, capture_output=True)
    wall = time.monotonic() - started
    doc = json.loads((result_dir / exp_id / "summary.json").read_text())
    return sum(g["duration_s"] for g in doc["generations"]), wall


def main(pairs: int, generations: int) -> None:
    on: list[tuple[float, float]] = []
    off: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp, FakeLLMServer(faults=Faults(latency=0.02)) as fake:
        for i in range(pairs):
            for track in (True, False) if i % 2 == 0 else (False, True):
                runs = on if track else off
                name = f"{'on' if track else 'off'}{i}"
                runs.append(one(Path(tmp), name, fake.url, track, generations))
    med = statistics.median
    for name, runs in (("with --track mlflow", on), ("without", off)):
        scoring = ", ".join(f"{s:.2f}" for s, _ in runs)
        print(
            f"{name:>20}: scoring s {scoring} (median {med(s for s, _ in runs):.2f}); "
            f"wall median {med(w for _, w in runs):.1f} s"
        )
    change = med(s for s, _ in on) / med(s for s, _ in off) - 1
    print(f"scoring time with tracking: {change:+.1%} (median of {pairs} alternated pairs)")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
