"""Run an async server from synchronous code, on a loop in a thread of its own."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

__all__ = ["loop_in_thread"]


@contextmanager
def loop_in_thread(
    start: Callable[[], Awaitable[None]],
    close: Callable[[], Awaitable[None]],
    *,
    name: str,
    close_timeout: float = 30.0,
) -> Iterator[None]:
    """Run ``start()`` on a new loop in a daemon thread; on exit, ``close()`` and stop it.

    The loop's async generators are shut down before it closes, which is
    what closes its pooled HTTP session (see :mod:`g4f_lite.http`).
    """
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name=name, daemon=True)
    thread.start()
    started = False
    try:
        asyncio.run_coroutine_threadsafe(_call(start), loop).result(timeout=10)
        started = True
        yield
    finally:
        if started:
            asyncio.run_coroutine_threadsafe(_call(close), loop).result(timeout=close_timeout)
        asyncio.run_coroutine_threadsafe(loop.shutdown_asyncgens(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


async def _call(function: Callable[[], Awaitable[None]]) -> None:
    await function()
