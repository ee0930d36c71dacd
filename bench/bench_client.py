"""ChatCompletion vs raw aiohttp on the same AI Engine emulator, in one run.

Prints tokens/s of one long stream and requests/s of many short requests,
each beside the raw-aiohttp baseline measured in the same run, plus the
seed (g4f 0.1.7.0's Opchatgpts, one session per request) when it is
installed (``pip install -e '.[bench]'``).

    python bench/bench_client.py [--words 20000] [--requests 400] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import aiohttp

os.environ.setdefault("G4F_LITE_PLUGINS", "opchatgpts")

from _common import emulator, many, timed

import g4f_lite

SUBMIT = "/wp-json/mwai-ui/v1/chats/submit"
MESSAGES = [{"role": "user", "content": "Hello there"}]


def body() -> dict[str, Any]:
    return {
        "botId": "default",
        "chatId": "benchmark0",
        "contextId": 28,
        "customId": None,
        "messages": MESSAGES,
        "newMessage": MESSAGES[-1]["content"],
        "session": "N/A",
        "stream": True,
    }


async def raw_stream(session: aiohttp.ClientSession, url: str) -> int:
    """The baseline: the least code that reads the protocol correctly with aiohttp."""
    chunks = 0
    async with session.post(url + SUBMIT, json=body()) as response:
        response.raise_for_status()
        async for line in response.content:
            if line.startswith(b"data: "):
                event = json.loads(line[6:])
                if event["type"] == "live":
                    chunks += 1
                elif event["type"] == "end":
                    break
    return chunks


async def lite_stream(url: str) -> int:
    chunks = 0
    stream = await g4f_lite.ChatCompletion.create_async(
        "", MESSAGES, provider="Opchatgpts", stream=True, base_url=url
    )
    async for _ in stream:
        chunks += 1
    return chunks


def seed_provider(url: str) -> Any | None:
    """g4f 0.1.7.0's Opchatgpts aimed at the emulator, if g4f is installed."""
    try:
        from g4f.Provider import Opchatgpts
    except Exception:
        return None

    return type("SeedOpchatgpts", (Opchatgpts,), {"url": url})


async def seed_stream(provider: Any) -> int:
    chunks = 0
    async for _ in provider.create_async_generator("", MESSAGES):
        chunks += 1
    return chunks


async def run(args: argparse.Namespace) -> None:
    results: dict[str, dict[str, list[float]]] = {"long stream": {}, "short requests": {}}

    def record(table: str, name: str, rate: float) -> None:
        results[table].setdefault(name, []).append(rate)

    with emulator(args.words) as long_url, emulator() as short_url:
        seed_long, seed_short = seed_provider(long_url), seed_provider(short_url)
        async with aiohttp.ClientSession() as session:
            # Warm up every path once (imports, pools, plugin discovery).
            await raw_stream(session, short_url)
            await lite_stream(short_url)
            for round_ in range(args.rounds):
                contenders: list[tuple[str, Callable[[str], Awaitable[int]], Any]] = [
                    ("raw aiohttp", lambda u: raw_stream(session, u), None),
                    ("g4f-lite ChatCompletion", lite_stream, None),
                ]
                if seed_long is not None:
                    contenders.append(("seed g4f 0.1.7.0", seed_stream, (seed_long, seed_short)))
                # Alternate the order each round so neither side always runs first.
                for name, fn, seed in contenders if round_ % 2 == 0 else contenders[::-1]:
                    target_long = seed[0] if seed else long_url
                    target_short = seed[1] if seed else short_url
                    elapsed, tokens = await timed(partial(fn, target_long))
                    record("long stream", name, tokens / elapsed)
                    elapsed, count = await timed(
                        partial(many, partial(fn, target_short), args.requests, args.concurrency)
                    )
                    record("short requests", name, count / elapsed)

    print(
        f"g4f-lite {g4f_lite.__version__}, Python {sys.version.split()[0]}, "
        f"{args.rounds} rounds (median), emulator in a separate process"
    )
    for table, unit in (("long stream", "tokens/s"), ("short requests", "requests/s")):
        rows = {name: statistics.median(rates) for name, rates in results[table].items()}
        base = rows["raw aiohttp"]
        detail = (
            f"one stream of {args.words} tokens"
            if table == "long stream"
            else f"{args.requests} requests, {args.concurrency} at a time"
        )
        print(f"\n{table} ({detail})")
        for name, rate in rows.items():
            print(f"  {name:<26} {rate:>12,.0f} {unit:<11} {rate / base:5.2f}x raw")
    if seed_provider("http://unused") is None:
        print("\n(seed peer skipped: pip install -e '.[bench]' to compare with g4f 0.1.7.0)")


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
