"""CPU a health store adds to each routed request: in memory, and shared through Redis.

    python bench/bench_health.py --redis redis://127.0.0.1:6379/0 [--requests 3000] [--rounds 5]

A provider that answers at once (no network) is called through a
:class:`~g4f_lite.router.Router`, ``--concurrency`` calls at a time, with
each store; the figure is this process's CPU time per request (the Redis
server's own CPU is not counted: it is another process, as in production).
Also shown: the same with ``rpm`` set (a Redis round trip per request).
Each figure is the best of ``--rounds`` alternating rounds. Numbers only.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from g4f_lite import config
from g4f_lite.health import HealthStore, InMemoryHealthStore, RedisHealthStore
from g4f_lite.provider import AsyncGeneratorProvider
from g4f_lite.registry import registry
from g4f_lite.router import RetryPolicy, Router

USER = [{"role": "user", "content": "Hi"}]


class Instant(AsyncGeneratorProvider):
    """Answers "ok" at once."""

    name = "Instant"
    working = True

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Any, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[str]:
        yield "ok"


async def per_request(store: HealthStore, requests: int, concurrency: int) -> float:
    router = Router(health=store, retry=RetryPolicy(max_attempts=1))
    queue = iter(range(requests))

    async def worker() -> None:
        for _ in queue:
            await router.complete("m", USER, provider="Instant")

    await router.complete("m", USER, provider="Instant")  # warm
    start = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    flush = getattr(store, "flush", None)
    if flush is not None:
        await flush()  # its writes are part of its cost
    return (time.process_time() - start) / requests * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", required=True)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    registry.register(Instant)
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    redis = RedisHealthStore(args.redis, prefix=prefix, timeout=1.0)
    memory = InMemoryHealthStore()
    best: dict[str, float] = {}
    for limited in (False, True):
        config.configure({"providers": {"Instant": {"rpm": 10**9}}} if limited else {})
        for _ in range(args.rounds):
            for name, store in (("memory", memory), ("redis", redis)):
                label = f"{name}{' + rpm' if limited else ''}"
                cost = await per_request(store, args.requests, args.concurrency)
                best[label] = min(best.get(label, cost), cost)
    redis.reset()
    await redis.aclose()
    for label, cost in best.items():
        print(f"{label:14} {cost:8.1f} us CPU per request")
    print(f"redis - memory {best['redis'] - best['memory']:8.1f} us")
    print(f"(with rpm)     {best['redis + rpm'] - best['memory + rpm']:8.1f} us")


if __name__ == "__main__":
    asyncio.run(main())
