"""What every benchmark here shares: emulators in their own processes, timing, load."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

__all__ = ["emulator", "many", "timed"]


@contextmanager
def emulator(words: int = 0) -> Iterator[str]:
    """Serve the AI Engine emulator from its own process; yield its URL.

    ``words``: answer with that many words (0: echo the message). A separate
    process, as a real site would be, so it does not share our CPU time slice.
    """
    cmd = [sys.executable, "-m", "g4f_lite.testing", "--port", "0", "--reply-words", str(words)]
    with announced(cmd) as url:
        yield url


@contextmanager
def announced(cmd: list[str]) -> Iterator[str]:
    """Run ``cmd``, a server that prints its URL as its first line; yield that URL."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def timed(make: Callable[[], Awaitable[int]]) -> tuple[float, int]:
    """Seconds ``make()`` took, and the count it returned."""
    start = time.perf_counter()
    count = await make()
    return time.perf_counter() - start, count


async def many(call: Callable[[], Awaitable[object]], total: int, concurrency: int) -> int:
    """Run ``call()`` ``total`` times, ``concurrency`` at a time; return ``total``."""
    queue = iter(range(total))

    async def worker() -> None:
        for _ in queue:
            await call()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total
