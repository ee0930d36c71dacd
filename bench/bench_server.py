"""Server overhead: the same emulator called directly and through ``g4f-lite serve``, in one run.

Prints tokens/s of one long stream and requests/s of many short requests,
each as called directly (``ChatCompletion`` in this process) and through the
OpenAI-compatible server (``g4f-lite serve`` in its own process, read with
plain aiohttp as an OpenAI client would), with the served/direct ratio.
The emulators (``python -m g4f_lite.testing``) run in their own processes.

    python bench/bench_server.py [--words 20000] [--requests 400] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

import aiohttp

os.environ["G4F_LITE_PLUGINS"] = "opchatgpts,aiengine"

from _common import emulator, many, serve_process, timed

import g4f_lite

MESSAGES = [{"role": "user", "content": "Hello there"}]


def declarations(long_url: str, short_url: str) -> str:
    """Two providers, one per emulator, as a configuration file declares them."""
    return (
        f'[providers.Long]\nkind = "aiengine"\nurl = "{long_url}"\nnonce = "none"\n\n'
        f'[providers.Short]\nkind = "aiengine"\nurl = "{short_url}"\nnonce = "none"\n'
    )


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system) used so far by this process, or by process ``pid`` (Linux)."""
    if pid is None:
        return time.process_time()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime: fields 14 and 15 of stat(5), counted from the state field (3rd).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def direct(provider: str) -> int:
    """The provider called in this process, as a library user would."""
    chunks = 0
    stream = await g4f_lite.ChatCompletion.create_async(
        "", MESSAGES, provider=provider, stream=True
    )
    async for _ in stream:
        chunks += 1
    return chunks


async def served(session: aiohttp.ClientSession, url: str, provider: str) -> int:
    """The same call through the server: a streamed chat completion read as SSE."""
    chunks = 0
    body = {"model": "", "messages": MESSAGES, "stream": True, "provider": provider}
    async with session.post(f"{url}/chat/completions", json=body) as response:
        response.raise_for_status()
        async for line in response.content:
            # Read on past [DONE] to the end of the body, as the openai SDK does,
            # so that the connection goes back to the pool.
            if line.startswith(b"data: {"):
                delta = json.loads(line[6:])["choices"][0]["delta"]
                chunks += bool(delta.get("content"))
    return chunks


async def run(args: argparse.Namespace) -> None:
    results: dict[str, dict[str, list[float]]] = {"long stream": {}, "short requests": {}}
    # CPU microseconds per token (long stream) or per request (short), spent by
    # whoever runs g4f-lite: this process when direct, the server when served.
    # On a machine with few cores the rates mostly measure contention between
    # processes; CPU time says what the server itself costs.
    cpu: dict[str, dict[str, list[float]]] = {"long stream": {}, "short requests": {}}

    def record(table: str, name: str, rate: float, cpu_per_item: float) -> None:
        results[table].setdefault(name, []).append(rate)
        cpu[table].setdefault(name, []).append(cpu_per_item * 1e6)

    with (
        emulator(args.words) as long_url,
        emulator() as short_url,
        tempfile.TemporaryDirectory() as tmp,
    ):
        config = Path(tmp, "g4f-lite.toml")
        config.write_text(declarations(long_url, short_url))  # noqa: ASYNC240 - before timing
        g4f_lite.configure(config)
        with serve_process(config) as (url, pid):
            connector = aiohttp.TCPConnector(limit=100)
            async with aiohttp.ClientSession(connector=connector) as session:
                contenders: list[tuple[str, Callable[[str], Awaitable[int]], int | None]] = [
                    ("direct (ChatCompletion)", direct, None),
                    ("through serve", partial(served, session, url), pid),
                ]
                for _, call, _ in contenders:  # warm up: imports, pools, plugin discovery
                    await call("Short")
                for round_ in range(args.rounds):
                    # Alternate the order each round so neither side always runs first.
                    for name, call, owner in contenders if round_ % 2 == 0 else contenders[::-1]:
                        before = cpu_seconds(owner)
                        elapsed, tokens = await timed(partial(call, "Long"))
                        assert tokens == args.words, (name, tokens)
                        used = cpu_seconds(owner) - before
                        record("long stream", name, tokens / elapsed, used / tokens)
                        before = cpu_seconds(owner)
                        elapsed, count = await timed(
                            partial(many, partial(call, "Short"), args.requests, args.concurrency)
                        )
                        used = cpu_seconds(owner) - before
                        record("short requests", name, count / elapsed, used / count)

    print(
        f"g4f-lite {g4f_lite.__version__}, Python {sys.version.split()[0]}, "
        f"{args.rounds} rounds (median); emulators and server each in their own process, "
        f"{os.cpu_count()} CPUs"
    )
    for table, unit, item in (
        ("long stream", "tokens/s", "token"),
        ("short requests", "requests/s", "request"),
    ):
        rows = {name: statistics.median(rates) for name, rates in results[table].items()}
        costs = {name: statistics.median(values) for name, values in cpu[table].items()}
        base = rows["direct (ChatCompletion)"]
        detail = (
            f"one stream of {args.words} tokens"
            if table == "long stream"
            else f"{args.requests} requests, {args.concurrency} at a time"
        )
        print(f"\n{table} ({detail})")
        for name, rate in rows.items():
            print(
                f"  {name:<26} {rate:>12,.0f} {unit:<11} {rate / base:5.2f}x direct   "
                f"g4f-lite CPU {costs[name]:8.1f} us/{item}"
            )


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--words", type=int, default=20000)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
