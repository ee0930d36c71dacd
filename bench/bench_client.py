"""ChatCompletion and Client vs raw aiohttp on the same AI Engine emulator, in one run.

Prints tokens/s of one long stream and requests/s of many short requests
(streamed, and whole answers), each beside the raw-aiohttp baseline measured
in the same run; ``Client`` / ``AsyncClient`` rows also show their ratio to
the matching ``ChatCompletion`` call (sync or async), which should be 1.00x.
Plus the seed (g4f 0.1.7.0's Opchatgpts, one session per request) when it
is installed (``pip install -e '.[bench]'``). Sync contenders make their
short requests from ``--concurrency`` threads.

    python bench/bench_client.py [--words 20000] [--requests 400] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
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


async def lite_text(url: str) -> int:
    await g4f_lite.ChatCompletion.create_async("", MESSAGES, provider="Opchatgpts", base_url=url)
    return 1


async def raw_text(session: aiohttp.ClientSession, url: str) -> int:
    await raw_stream(session, url)
    return 1


def async_client_stream(client: g4f_lite.AsyncClient) -> Callable[[str], Awaitable[int]]:
    async def call(url: str) -> int:
        chunks = 0
        stream = await client.chat.completions.create(
            "", MESSAGES, provider="Opchatgpts", stream=True, base_url=url
        )
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                chunks += 1
        return chunks

    return call


def async_client_text(client: g4f_lite.AsyncClient) -> Callable[[str], Awaitable[int]]:
    async def call(url: str) -> int:
        await client.chat.completions.create("", MESSAGES, provider="Opchatgpts", base_url=url)
        return 1

    return call


def sync_lite_stream(url: str) -> int:
    chunks = 0
    for _ in g4f_lite.ChatCompletion.create(
        "", MESSAGES, provider="Opchatgpts", stream=True, base_url=url
    ):
        chunks += 1
    return chunks


def sync_lite_text(url: str) -> int:
    g4f_lite.ChatCompletion.create("", MESSAGES, provider="Opchatgpts", base_url=url)
    return 1


def sync_client_stream(client: g4f_lite.Client) -> Callable[[str], int]:
    def call(url: str) -> int:
        chunks = 0
        with client.chat.completions.create(
            "", MESSAGES, provider="Opchatgpts", stream=True, base_url=url
        ) as stream:
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    chunks += 1
        return chunks

    return call


def sync_client_text(client: g4f_lite.Client) -> Callable[[str], int]:
    def call(url: str) -> int:
        client.chat.completions.create("", MESSAGES, provider="Opchatgpts", base_url=url)
        return 1

    return call


def sync_timed(fn: Callable[[], int]) -> tuple[float, int]:
    start = time.perf_counter()
    count = fn()
    return time.perf_counter() - start, count


def sync_many(fn: Callable[[], object], total: int, concurrency: int) -> int:
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda _: fn(), range(total)))
    return total


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


TABLES = ("long stream", "short requests", "short whole answers")
#: Client rows and the ChatCompletion row they are compared with.
PAIRS = {
    "AsyncClient": "ChatCompletion async",
    "Client (sync)": "ChatCompletion sync",
}


async def run(args: argparse.Namespace) -> None:
    results: dict[str, dict[str, list[float]]] = {table: {} for table in TABLES}

    def record(table: str, name: str, rate: float) -> None:
        results[table].setdefault(name, []).append(rate)

    async_client = g4f_lite.AsyncClient(config={})
    sync_client = g4f_lite.Client(config={})
    with emulator(args.words) as long_url, emulator() as short_url:
        seed_long, seed_short = seed_provider(long_url), seed_provider(short_url)
        async with aiohttp.ClientSession() as session:
            Stream = Callable[[str], Awaitable[int]]
            SyncCall = Callable[[str], int]
            # name -> (stream call, whole-answer call or None, seed targets or None)
            contenders: list[tuple[str, Stream, Stream | None, Any]] = [
                (
                    "raw aiohttp",
                    lambda u: raw_stream(session, u),
                    lambda u: raw_text(session, u),
                    None,
                ),
                ("ChatCompletion async", lite_stream, lite_text, None),
                (
                    "AsyncClient",
                    async_client_stream(async_client),
                    async_client_text(async_client),
                    None,
                ),
            ]
            sync_contenders: list[tuple[str, SyncCall, SyncCall]] = [
                ("ChatCompletion sync", sync_lite_stream, sync_lite_text),
                ("Client (sync)", sync_client_stream(sync_client), sync_client_text(sync_client)),
            ]
            if seed_long is not None:
                contenders.append(("seed g4f 0.1.7.0", seed_stream, None, (seed_long, seed_short)))
            # Warm up every path once (imports, pools, plugin discovery).
            for _, fn, _, seed in contenders:
                await fn(seed[1] if seed else short_url)
            for _, warm, _ in sync_contenders:
                await asyncio.to_thread(warm, short_url)
            for round_ in range(args.rounds):
                # Alternate the order each round so neither side always runs first.
                forward = round_ % 2 == 0
                for name, fn, whole, seed in contenders if forward else contenders[::-1]:
                    target_long = seed[0] if seed else long_url
                    target_short = seed[1] if seed else short_url
                    elapsed, tokens = await timed(partial(fn, target_long))
                    record("long stream", name, tokens / elapsed)
                    elapsed, count = await timed(
                        partial(many, partial(fn, target_short), args.requests, args.concurrency)
                    )
                    record("short requests", name, count / elapsed)
                    if whole is not None:
                        elapsed, count = await timed(
                            partial(
                                many, partial(whole, target_short), args.requests, args.concurrency
                            )
                        )
                        record("short whole answers", name, count / elapsed)
                for name, sync_fn, sync_whole in (
                    sync_contenders if forward else sync_contenders[::-1]
                ):
                    elapsed, tokens = await asyncio.to_thread(
                        sync_timed, partial(sync_fn, long_url)
                    )
                    record("long stream", name, tokens / elapsed)
                    for table, call in (
                        ("short requests", sync_fn),
                        ("short whole answers", sync_whole),
                    ):
                        elapsed, count = await asyncio.to_thread(
                            sync_timed,
                            partial(
                                sync_many,
                                partial(call, short_url),
                                args.requests,
                                args.concurrency,
                            ),
                        )
                        record(table, name, count / elapsed)
    await async_client.aclose()
    await asyncio.to_thread(sync_client.close)

    print(
        f"g4f-lite {g4f_lite.__version__}, Python {sys.version.split()[0]}, "
        f"{args.rounds} rounds (median), emulator in a separate process"
    )
    for table in TABLES:
        unit = "tokens/s" if table == "long stream" else "requests/s"
        rows = {name: statistics.median(rates) for name, rates in results[table].items()}
        base = rows["raw aiohttp"]
        detail = (
            f"one stream of {args.words} tokens"
            if table == "long stream"
            else f"{args.requests} requests, {args.concurrency} at a time"
        )
        print(f"\n{table} ({detail})")
        for line in table_lines(rows, base, unit):
            print(line)
    if seed_provider("http://unused") is None:
        print("\n(seed peer skipped: pip install -e '.[bench]' to compare with g4f 0.1.7.0)")


def table_lines(rows: dict[str, float], base: float, unit: str) -> Iterable[str]:
    """One line per contender: its rate, the ratio to raw, and for a Client to ChatCompletion."""
    for name, rate in rows.items():
        line = f"  {name:<26} {rate:>12,.0f} {unit:<11} {rate / base:5.2f}x raw"
        peer = PAIRS.get(name)
        if peer in rows:
            line += f"  {rate / rows[peer]:5.2f}x {peer}"
        yield line


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
