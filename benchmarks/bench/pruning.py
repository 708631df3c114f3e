"""Calls saved by exact pruning (GA and DE, same summary as --no-prune), and the dry run's
estimate against an unpruned run's actual calls. Standalone for now:

    cd benchmarks && ../.venv/bin/python -m bench.pruning [--dev 150 --population 10]

Runs the real CLI against the test endpoint (zero latency) on the built-in sentiment set.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from evoprompt.testing.server import FakeLLMServer

from .plan import PY, ROOT


def cli(args: list[str], url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "EVOPROMPT_"))}
    env.update(OPENAI_API_KEY="sk-bench", OPENAI_BASE_URL=url)
    return subprocess.run(
        [PY, str(ROOT / "main.py"), *args], env=env, cwd=ROOT, capture_output=True, text=True
    )


def figures(doc: dict[str, Any]) -> Any:
    """What must be identical with and without pruning."""
    gens = [(g["best_fitness"], g["mean_fitness"], g["best_prompt"]) for g in doc["generations"]]
    return doc["best_prompt"], doc["best_fitness"], gens


def compare(algorithm: str, base: list[str], work: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"algorithm": algorithm}
    docs = {}
    with FakeLLMServer() as server:
        plan = cli([*base, "--algorithm", algorithm, "--dry-run", "--json"], server.url)
        out["estimated_calls"] = json.loads(plan.stdout)["calls"]
        out["dry_run_requests"] = server.counts["requests"]
    for prune in ("--no-prune", "--prune"):
        exp = f"{algorithm}{prune}"
        with FakeLLMServer() as server:
            done = cli([*base, "--algorithm", algorithm, prune, "--experiment-id", exp], server.url)
            assert done.returncode == 0, done.stderr
            docs[prune] = json.loads((work / exp / "summary.json").read_text())
            out[f"{prune} calls"] = server.counts["answered"]
    out["identical"] = figures(docs["--no-prune"]) == figures(docs["--prune"])
    full, pruned = out["--no-prune calls"], out["--prune calls"]
    out["saved"] = round(1 - pruned / full, 4)
    out["estimate_error"] = round(out["estimated_calls"] / full - 1, 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dev", type=int, default=150)
    parser.add_argument("--population", type=int, default=10)
    parser.add_argument("--generations", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = [
            "--dev-size", str(args.dev), "--population-size", str(args.population),
            "--max-generations", str(args.generations), "--concurrency", "32",
            "--result-dir", tmp,
        ]  # fmt: skip
        for algorithm in ("ga", "de"):
            r = compare(algorithm, base, Path(tmp))
            print(
                f"| {algorithm} | {r['--no-prune calls']} | {r['--prune calls']} | "
                f"{r['saved']:.1%} | {r['identical']} | {r['estimated_calls']} | "
                f"{r['estimate_error']:+.1%} | {r['dry_run_requests']} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
