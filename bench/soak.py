"""A bounded soak through ``g4f-lite serve`` while the upstream misbehaves at random.

Three processes, all on 127.0.0.1 (no internet): an AI Engine emulator that
answers a random share of requests with a fault (5xx, 429, a stall, a cut or
unfinished stream, a broken or untyped SSE line, an SSE error event, a slow
first byte), ``g4f-lite serve`` routing to it through two declared providers,
and this client, which fires ``--requests`` chat completions (streamed and
whole, mixed) ``--concurrency`` at a time with aiohttp.

It prints the answers by HTTP status and error code, any 5xx other than the
502/503/504 that upstream faults should give (a 500 is a bug), p50/p99
latency, and the server's RSS and open descriptors before and after, which
should come back to where they started.

    python bench/soak.py [--requests 5000] [--concurrency 32] [--fault-rate 0.3] [--seed N]

Not run in CI: it takes a minute or more.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
from _common import announced, serve_process

from g4f_lite.testing import AIEngineEmulator, Fault

#: The faults drawn from, with their weights. Stalls of 4 s outlast the
#: server's 2 s first-chunk and idle limits; the 0.3 s ones do not.
FAULTS: list[tuple[Fault, int]] = [
    (Fault.http_status(500), 3),
    (Fault.http_status(502), 1),
    (Fault.http_status(429, retry_after=1), 2),
    (Fault.drop(after=0), 2),
    (Fault.drop(after=3), 2),
    (Fault.no_end(), 1),
    (Fault.garbage(after=1), 2),
    (Fault.no_type(after=1), 1),
    (Fault.error_event(after=0), 1),
    (Fault.error_event(after=2), 1),
    (Fault.stall(after=1, delay=0.3), 1),
    (Fault.stall(after=1, delay=4.0), 1),
    (Fault.slow_first_byte(0.3), 1),
    (Fault.slow_first_byte(4.0), 1),
]
#: The 5xx statuses upstream faults may legitimately give.
EXPECTED_5XX = {502, 503, 504}
ROUTER = """
[router]
retry = { max_attempts = 2, initial = 0.05, max_wait = 0.2, max_retry_after = 1 }
timeouts = { connect = 2, first_chunk = 2, idle = 2, total = 10 }
wait_for_cooldown = false
"""


# -- the emulator process ---------------------------------------------------------


class FaultyEmulator(AIEngineEmulator):
    """An emulator that draws a fault for each request with probability ``rate``."""

    def __init__(self, rate: float, seed: int) -> None:
        super().__init__(reply=lambda _: "a few words of a reply from the soak emulator")
        self.rate = rate
        self.random = random.Random(seed)
        self.choices = [fault for fault, _ in FAULTS]
        self.weights = [weight for _, weight in FAULTS]

    def _next_fault(self) -> Fault | None:
        if self.random.random() >= self.rate:
            return None
        fault: Fault = self.random.choices(self.choices, self.weights)[0]
        return fault


async def serve_emulator(rate: float, seed: int) -> None:
    """Serve the faulty emulator until killed; print its URL first."""
    async with FaultyEmulator(rate, seed) as site:
        print(site.url, flush=True)
        await asyncio.Event().wait()


@contextlib.contextmanager
def emulator(rate: float, seed: int) -> Iterator[str]:
    """The faulty emulator in its own process; yields its URL."""
    cmd = [sys.executable, __file__, "--emulator", f"--fault-rate={rate}", f"--seed={seed}"]
    with announced(cmd) as url:
        yield url


# -- the server process -------------------------------------------------------------


@contextlib.contextmanager
def server(config: Path) -> Iterator[tuple[str, int, list[str]]]:
    """``g4f-lite serve`` in its own process; yields its base URL, pid and bad log lines."""
    log: list[str] = []

    def keep_bad(line: str) -> None:
        if "Traceback" in line or "-> 500" in line or " ERROR " in line:
            log.append(line.rstrip())

    plugins = {"G4F_LITE_PLUGINS": "opchatgpts,aiengine"}
    with serve_process(config, plugins, keep_bad) as (url, pid):
        yield url, pid, log


def resources(pid: int) -> tuple[float, int]:
    """Resident memory (MiB) and open descriptors of process ``pid`` (Linux /proc)."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kib = int(re.search(r"^VmRSS:\s+(\d+)", status, re.M).group(1))  # type: ignore[union-attr]
    return rss_kib / 1024, len(os.listdir(f"/proc/{pid}/fd"))


# -- the client -----------------------------------------------------------------


class Tally:
    """What came back: outcomes counted, latencies, and anything unexpected."""

    def __init__(self) -> None:
        self.outcomes: collections.Counter[str] = collections.Counter()
        self.latencies: list[float] = []
        self.unexpected: list[str] = []

    def add(self, outcome: str, started: float, unexpected: str | None = None) -> None:
        self.outcomes[outcome] += 1
        self.latencies.append(time.perf_counter() - started)
        if unexpected is not None:
            self.unexpected.append(unexpected)


def error_code(body: bytes) -> str:
    """The OpenAI error object's code (or type) in ``body``, or a note that there is none."""
    try:
        error = json.loads(body)["error"]
        return str(error.get("code") or error.get("type"))
    except (ValueError, KeyError, TypeError, AttributeError):
        return "no-error-object"


async def one(session: aiohttp.ClientSession, url: str, stream: bool, tally: Tally) -> None:
    """One chat completion; its outcome goes to ``tally``."""
    body = {"model": "", "messages": [{"role": "user", "content": "Hi"}], "stream": stream}
    kind = "stream" if stream else "whole"
    started = time.perf_counter()
    try:
        async with session.post(f"{url}/chat/completions", json=body) as response:
            status = response.status
            if status != 200:
                raw = await response.read()
                odd = status >= 500 and status not in EXPECTED_5XX
                note = f"{status} {raw[:300]!r}" if odd else None
                tally.add(f"{status} {error_code(raw)}", started, note)
                return
            if not stream:
                answer = await response.json()
                text = answer["choices"][0]["message"]["content"]
                tally.add(f"200 {kind}" + ("" if text else " (empty)"), started)
                return
            done, failure = False, None
            async for line in response.content:
                if line.startswith(b"data: [DONE]"):
                    done = True
                elif line.startswith(b"data: ") and b'"error"' in line:
                    failure = error_code(line[6:])
            if failure is not None:
                tally.add(f"200 stream, then error {failure}", started)
            else:
                note = None if done else "a stream that ended without [DONE] or an error"
                tally.add(f"200 {kind}" + ("" if done else " (no [DONE])"), started, note)
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        tally.add(f"client error {type(exc).__name__}", started, f"{kind}: {exc!r}")


async def soak(args: argparse.Namespace, url: str, pid: int) -> tuple[Tally, float]:
    """Fire the requests; return the tally and the seconds taken."""
    tally = Tally()
    choose = random.Random(args.seed + 1)
    plan = [choose.random() < 0.5 for _ in range(args.requests)]
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        queue = iter(plan)

        async def worker() -> None:
            for stream in queue:
                await one(session, url, stream, tally)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        return tally, time.perf_counter() - started


def percentile(values: list[float], share: float) -> float:
    """The ``share`` quantile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def run(args: argparse.Namespace) -> int:
    with emulator(args.fault_rate, args.seed) as site, tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp, "g4f-lite.toml")
        config.write_text(  # noqa: ASYNC240 - before anything is measured
            f'[providers.SoakA]\nkind = "aiengine"\nurl = "{site}"\nnonce = "none"\n\n'
            f'[providers.SoakB]\nkind = "aiengine"\nurl = "{site}"\nnonce = "none"\n' + ROUTER
        )
        with server(config) as (url, pid, log):
            # Warm up (imports, pools), then measure from a settled server.
            await soak(argparse.Namespace(**{**vars(args), "requests": 50}), url, pid)
            await asyncio.sleep(2)
            rss_before, fds_before = resources(pid)
            tally, seconds = await soak(args, url, pid)
            # Idle keep-alive connections are gone once the client closed them.
            await asyncio.sleep(2)
            rss_after, fds_after = resources(pid)

    print(
        f"soak: {args.requests} requests, {args.concurrency} at a time, fault rate "
        f"{args.fault_rate:g}, seed {args.seed}, {seconds:.1f} s "
        f"({args.requests / seconds:.0f} requests/s), {os.cpu_count()} CPUs"
    )
    print("\noutcomes")
    for outcome, count in sorted(tally.outcomes.items(), key=lambda item: -item[1]):
        print(f"  {count:>6}  {outcome}")
    print(
        f"\nlatency  p50 {percentile(tally.latencies, 0.5) * 1000:.0f} ms   "
        f"p99 {percentile(tally.latencies, 0.99) * 1000:.0f} ms   "
        f"max {max(tally.latencies) * 1000:.0f} ms   "
        f"mean {statistics.fmean(tally.latencies) * 1000:.0f} ms"
    )
    print(
        f"server   RSS {rss_before:.1f} -> {rss_after:.1f} MiB   "
        f"open fds {fds_before} -> {fds_after}"
    )
    print(f"\nunexpected answers: {len(tally.unexpected)}")
    for note in tally.unexpected[:20]:
        print(f"  {note}")
    print(f"server log lines with a traceback, an ERROR or a 500: {len(log)}")
    for line in log[:20]:
        print(f"  {line}")
    return 1 if tally.unexpected or log else 0


def main() -> None:
    """Parse arguments and run the soak (or, with ``--emulator``, serve the faulty emulator)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--fault-rate", type=float, default=0.3, help="share of upstream requests that misbehave"
    )
    parser.add_argument("--seed", type=int, default=None, help="default: a random one")
    parser.add_argument("--emulator", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed is None:
        args.seed = random.randrange(1 << 16)
    if args.emulator:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve_emulator(args.fault_rate, args.seed))
        return
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
