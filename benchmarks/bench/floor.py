"""The transport floor: a bare httpx loop, the runner's transport without the runner.

    python benchmarks/bench/floor.py URL REQUESTS CONCURRENCY

Sends REQUESTS classification-shaped chat requests to URL with CONCURRENCY workers over the
same transport the runner uses (``httpx.AsyncClient`` pools of at most 2 connections, the
least busy one per request, the body parsed as JSON) and nothing else: no limiter, no journal,
no scoring. The process's CPU time (rusage, taken by the caller) over REQUESTS is the floor
that CPU per call is compared with; like the runner's figure it includes interpreter start.
"""

from __future__ import annotations

import asyncio
import sys

import httpx

POOL_SHARD = 2


async def loop(url: str, requests: int, concurrency: int) -> None:
    shards = -(-concurrency // POOL_SHARD)
    size = -(-concurrency // shards)
    limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
    headers = {"Authorization": "Bearer sk-bench"}
    clients = [
        httpx.AsyncClient(base_url=url, headers=headers, limits=limits) for _ in range(shards)
    ]
    busy = [0] * shards
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
            shard = busy.index(min(busy))
            busy[shard] += 1
            try:
                response = await clients[shard].post("/chat/completions", json=payload)
            finally:
                busy[shard] -= 1
            response.raise_for_status()
            response.json()["choices"][0]["message"]["content"]

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    for client in clients:
        await client.aclose()


if __name__ == "__main__":
    asyncio.run(loop(sys.argv[1].rstrip("/"), int(sys.argv[2]), int(sys.argv[3])))
