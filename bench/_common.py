"""What every benchmark here shares: emulators and serve in their own processes, timing, load."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

__all__ = ["announced", "emulator", "many", "serve_process", "timed"]


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


@contextmanager
def serve_process(
    config: Path, env: Mapping[str, str] | None = None, on_line: Callable[[str], None] | None = None
) -> Iterator[tuple[str, int]]:
    """``g4f-lite serve --config config`` in its own process; yields its base URL and pid.

    ``env`` adds environment variables; ``on_line`` sees every log line after
    the first. The log is read to the end either way: a full pipe would stall it.
    """
    cmd = [sys.executable, "-m", "g4f_lite.cli", "--config", str(config), "serve", "--port", "0"]
    environ = {**os.environ, "G4F_LITE_API_KEY": "", **(env or {})}
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=environ)
    try:
        assert proc.stderr is not None
        ready = proc.stderr.readline()
        match = re.search(r"at (http://\S+/v1) ", ready)
        if match is None:
            raise RuntimeError(f"the server did not start: {ready}")
        stderr = proc.stderr

        def keep_reading() -> None:
            for line in stderr:
                if on_line is not None:
                    on_line(line)

        threading.Thread(target=keep_reading, daemon=True).start()
        yield match.group(1), proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=20)


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
