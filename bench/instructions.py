"""Instructions per short request, counted by valgrind's callgrind: repeatable figures.

Wall-clock ratios on a small shared machine move by +-0.2x between runs; the
number of instructions the client process executes per request hardly moves.
Each contender makes ``--small`` and then ``--large`` short requests (after a
warm-up) against the same AI Engine emulator, each count in its own process
under callgrind; the difference, divided by the extra requests, is its cost
per request without start-up and imports. The emulator runs in a separate
process, not counted.

    python bench/instructions.py [--small 50] [--large 150] [--jobs 2] [MODE ...]

Modes: raw (aiohttp, the baseline), direct (the provider called without the
router), chat (``ChatCompletion.create_async``, streamed), chat_text (its
whole answer), client (``AsyncClient`` streamed), client_text (its whole
answer). The ratio to raw reads like a throughput ratio (raw's count over
the contender's). Needs valgrind; without it, says so and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("G4F_LITE_PLUGINS", "opchatgpts")

MODES = ("raw", "direct", "chat", "chat_text", "client", "client_text")
#: Rows compared with another row besides raw: a Client against ChatCompletion.
PAIRS = {"client": "chat", "client_text": "chat_text"}
LABELS = {
    "raw": "raw aiohttp",
    "direct": "provider directly",
    "chat": "ChatCompletion stream",
    "chat_text": "ChatCompletion whole",
    "client": "AsyncClient stream",
    "client_text": "AsyncClient whole",
}
WARM_UP = 30
CONCURRENCY = 8


async def work(mode: str, count: int, url: str) -> None:
    """In the counted process: ``WARM_UP`` requests, then ``count`` more."""
    import aiohttp
    import bench_client as bc
    from _common import many
    from g4f_lite_opchatgpts import Opchatgpts

    import g4f_lite
    from g4f_lite.provider import run_provider

    async def direct() -> int:
        async for _ in run_provider(Opchatgpts, "", bc.MESSAGES, base_url=url):
            pass
        return 1

    async with aiohttp.ClientSession() as session, g4f_lite.AsyncClient(config={}) as client:
        calls: dict[str, Callable[[], Awaitable[int]]] = {
            "raw": lambda: bc.raw_stream(session, url),
            "direct": direct,
            "chat": lambda: bc.lite_stream(url),
            "chat_text": lambda: bc.lite_text(url),
            "client": lambda: bc.async_client_stream(client)(url),
            "client_text": lambda: bc.async_client_text(client)(url),
        }
        call = calls[mode]
        await many(call, WARM_UP, CONCURRENCY)
        await many(call, count, CONCURRENCY)


def counted(mode: str, count: int, url: str) -> int:
    """Instructions the client process ran for ``mode`` with ``count`` requests."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    cmd = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        __file__,
        "--worker",
        mode,
        str(count),
        url,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    match = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"{mode}: the counted run failed:\n{done.stderr[-2000:]}")
    return int(match.group(1))


def main() -> None:
    """Parse arguments; count every mode (or be the counted worker)."""
    if len(sys.argv) == 5 and sys.argv[1] == "--worker":
        sys.path.insert(0, str(Path(__file__).parent))
        asyncio.run(work(sys.argv[2], int(sys.argv[3]), sys.argv[4]))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("modes", nargs="*", metavar="MODE", help=f"some of {', '.join(MODES)}")
    parser.add_argument("--small", type=int, default=50)
    parser.add_argument("--large", type=int, default=150)
    parser.add_argument("--jobs", type=int, default=2, help="counted processes at a time")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: no instruction counts (apt-get install valgrind)")
        return
    if args.large <= args.small:
        parser.error("--large must be more than --small")
    modes = list(dict.fromkeys(args.modes or MODES))
    unknown = [mode for mode in modes if mode not in MODES]
    if unknown:
        parser.error(f"unknown modes {', '.join(unknown)}; choose among {', '.join(MODES)}")
    from _common import emulator

    with emulator() as url, ThreadPoolExecutor(args.jobs) as pool:
        runs = {
            (mode, n): pool.submit(counted, mode, n, url)
            for mode in modes
            for n in (args.small, args.large)
        }
        per_request = {
            mode: (runs[mode, args.large].result() - runs[mode, args.small].result())
            / (args.large - args.small)
            for mode in modes
        }
    print(
        f"instructions per short request (client process, callgrind; "
        f"({args.large} - {args.small} requests) / {args.large - args.small}, "
        f"{CONCURRENCY} at a time)"
    )
    raw = per_request.get("raw")
    for mode, instructions in per_request.items():
        line = f"  {LABELS[mode]:<22} {instructions / 1e6:7.3f}M"
        if raw is not None:
            line += f"  {raw / instructions:5.2f}x raw"
        peer = PAIRS.get(mode)
        if peer is not None and peer in per_request:
            line += f"  {instructions / per_request[peer]:5.2f}x the cost of {LABELS[peer]}"
        print(line)


if __name__ == "__main__":
    main()
