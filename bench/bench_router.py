"""Router overhead, and the time to skip a benched provider.

    python bench/bench_router.py [--requests 300] [--words 20000] [--rounds 5]

Everything talks to AI Engine emulators running in subprocesses (as a real
site would be a separate process), all in the same run:

* many short requests, and one long stream, through ``Opchatgpts`` directly
  (``run_provider``) and through a :class:`~g4f_lite.router.Router`;
* a call whose first candidate is benched (skipped without a request) against
  a call with only the healthy provider, and against a first candidate that
  is down but not benched (one refused connection, no retries).

Each figure is the best of ``--rounds`` alternating rounds, to keep noise
from other processes out of the ratios. Numbers only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from _common import emulator
from g4f_lite_opchatgpts import Opchatgpts

from g4f_lite.health import CircuitBreaker, InMemoryHealthStore
from g4f_lite.provider import AsyncGeneratorProvider, BaseProvider, run_provider
from g4f_lite.registry import registry
from g4f_lite.router import RetryPolicy, Router
from g4f_lite.types import Chunk

USER = [{"role": "user", "content": "Hi"}]


def closed_port() -> int:
    """A loopback port nobody listens on: connections are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def aimed(name: str, url: str) -> type[BaseProvider]:
    """An Opchatgpts subclass called ``name`` that talks to ``url``."""

    class Aimed(Opchatgpts):
        working = True

        @classmethod
        def create_async_generator(
            cls, model: str, messages: Any, proxy: str | None = None, **kwargs: Any
        ) -> AsyncIterator[Chunk]:
            return super().create_async_generator(model, messages, proxy, base_url=url, **kwargs)

    Aimed.name = name
    return registry.register(Aimed)


class Echo(AsyncGeneratorProvider):
    """A provider without I/O: isolates the router's own cost."""

    working = True

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Any, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[str]:
        yield "Hello "
        yield "world"


async def count_chunks(chunks: AsyncIterator[object]) -> int:
    n = 0
    async for _ in chunks:
        n += 1
    return n


async def best_of(rounds: int, runs: dict[str, Callable[[], Awaitable[int]]]) -> dict[str, float]:
    """Seconds of the fastest round of each run; runs alternate within a round."""
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(rounds):
        for label, run in runs.items():
            start = time.perf_counter()
            await run()
            best[label] = min(best[label], time.perf_counter() - start)
    return best


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    print(f"\n{title}")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *rows]:
        print(
            "  ".join(
                cell.rjust(w) if i else cell.ljust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )


async def main(args: argparse.Namespace) -> None:
    requests: int = args.requests
    with emulator(8) as short_url, emulator(args.words) as long_url:
        short, long = aimed("Short", short_url), aimed("Long", long_url)
        router = Router(health=InMemoryHealthStore())

        async def direct_short() -> int:
            for _ in range(requests):
                await count_chunks(run_provider(short, "", USER))
            return requests

        async def routed_short() -> int:
            for _ in range(requests):
                await router.complete("", USER, provider=short)
            return requests

        async def direct_long() -> int:
            return await count_chunks(run_provider(long, "", USER))

        async def routed_long() -> int:
            return await count_chunks(router.stream("", USER, provider=long))

        await direct_short()  # warm up the pooled connections and imports
        chunks = await direct_long()
        shorts = await best_of(args.rounds, {"direct": direct_short, "router": routed_short})
        longs = await best_of(args.rounds, {"direct": direct_long, "router": routed_long})
        table(
            f"Router overhead (best of {args.rounds} rounds)",
            ["workload", "direct", "router", "router/direct", "overhead"],
            [
                [
                    f"{args.requests} short requests",
                    f"{args.requests / shorts['direct']:.0f} req/s",
                    f"{args.requests / shorts['router']:.0f} req/s",
                    f"{shorts['router'] / shorts['direct']:.2f}x",
                    f"{(shorts['router'] - shorts['direct']) / args.requests * 1e6:.0f} us/request",
                ],
                [
                    f"1 stream of {chunks} chunks",
                    f"{chunks / longs['direct']:.0f} chunk/s",
                    f"{chunks / longs['router']:.0f} chunk/s",
                    f"{longs['router'] / longs['direct']:.2f}x",
                    f"{(longs['router'] - longs['direct']) / chunks * 1e6:.1f} us/chunk",
                ],
            ],
        )

        # -- skipping a benched provider -------------------------------------
        dead = aimed("Dead", f"http://127.0.0.1:{closed_port()}")
        benched_store = InMemoryHealthStore(CircuitBreaker(failure_threshold=1, cooldown=3600))
        benched_store.record_failure("Dead", time.monotonic(), "ProviderConnectionError: refused")
        once = RetryPolicy(max_attempts=1)
        runs = {
            "healthy only": Router([short], health=InMemoryHealthStore(), retry=once),
            "benched first": Router([dead, short], health=benched_store, retry=once),
            # Never benched (huge threshold): one refused connection per call.
            "down, not benched": Router(
                [dead, short],
                health=InMemoryHealthStore(CircuitBreaker(failure_threshold=10**9)),
                retry=once,
            ),
        }

        def caller(r: Router) -> Callable[[], Awaitable[int]]:
            async def run() -> int:
                for _ in range(requests):
                    await r.complete("", USER)
                return requests

            return run

        skips = await best_of(args.rounds, {label: caller(r) for label, r in runs.items()})
        base = skips["healthy only"]
        table(
            f"Skipping a failing first candidate ({args.requests} calls, best of {args.rounds})",
            ["first candidate", "per call", "extra per call"],
            [
                [
                    label,
                    f"{s / args.requests * 1e6:.0f} us",
                    f"{(s - base) / args.requests * 1e6:+.0f} us",
                ]
                for label, s in skips.items()
            ],
        )
        print(
            "\n(with the default RetryPolicy a down provider that is not benched also costs "
            "its backoff: 0.5 s + 1 s + jitter per call)"
        )

    # -- the router alone, without I/O ---------------------------------------------
    calls = requests * 10
    live = registry.register(type("Live", (Echo,), {"name": "Live"}))
    sick = registry.register(type("Sick", (Echo,), {"name": "Sick"}))
    benched_store = InMemoryHealthStore(CircuitBreaker(failure_threshold=1, cooldown=3600))
    benched_store.record_failure("Sick", time.monotonic(), "ServerError: HTTP 500")
    plain, skipping = (
        Router([live], health=InMemoryHealthStore()),
        Router([sick, live], health=benched_store),
    )

    def repeat(make: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[int]]:
        async def run() -> int:
            for _ in range(calls):
                await make()
            return calls

        return run

    pure = await best_of(
        args.rounds,
        {
            "provider directly": repeat(lambda: count_chunks(run_provider(live, "", USER))),
            "router": repeat(lambda: plain.complete("", USER)),
            "router, benched first": repeat(lambda: skipping.complete("", USER)),
        },
    )
    table(
        f"The router alone: an in-process provider without I/O ({calls} calls)",
        ["path", "per call"],
        [[label, f"{t / calls * 1e6:.1f} us"] for label, t in pure.items()],
    )
    print(
        f"\n{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--words", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    asyncio.run(main(parser.parse_args()))
