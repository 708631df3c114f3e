"""The transport floor: a bare loop of the runner's HTTP transport, without the runner.

    python benchmarks/bench/floor.py URL REQUESTS CONCURRENCY [aiohttp|httpx]

Sends REQUESTS classification-shaped chat requests to URL with CONCURRENCY workers through
the transport the runner uses (``evoprompt.llm.transport``, aiohttp by default: the same
class, pool and settings), the body parsed as JSON, and nothing else: no limiter, no journal,
no scoring. The process's CPU time (rusage, taken by the caller) over REQUESTS is the floor
that CPU per call is compared with; like the runner's figure it includes interpreter start.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # this tree's evoprompt

from evoprompt.llm.transport import DEFAULT, TRANSPORTS, Target


async def loop(url: str, requests: int, concurrency: int, client: str) -> None:
    target = Target(url, {"Authorization": "Bearer sk-bench"}, 60.0, concurrency)
    transport = TRANSPORTS[client](target)
    todo = iter(range(requests))

    async def worker() -> None:
        for i in todo:
            content = (
                f"Classify the sentiment.\n\nInput: sample {i}: a quiet river\n"
                "Possible answers: positive, negative.\nAnswer:"
            )
            payload = {
                "model": "bench",
                "messages": [{"role": "user", "content": content}],
                "temperature": 0.0,
                "max_tokens": 16,
            }
            reply = await transport.post("/chat/completions", payload)
            if reply.status >= 300:
                raise RuntimeError(f"HTTP {reply.status}")
            reply.json()["choices"][0]["message"]["content"]

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    await transport.aclose()


if __name__ == "__main__":
    client = sys.argv[4] if len(sys.argv) > 4 else DEFAULT
    asyncio.run(loop(sys.argv[1].rstrip("/"), int(sys.argv[2]), int(sys.argv[3]), client))
