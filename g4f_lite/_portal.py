"""Run g4f-lite's async code from synchronous callers.

Synchronous calls are served by one background thread running one event
loop for the whole process. That loop keeps its pooled HTTP session between
calls (``asyncio.run`` per call would open a new one each time), and it works
even when the caller's thread already runs a loop, as in Jupyter.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

__all__ = ["Portal", "portal"]

T = TypeVar("T")


class Portal:
    """A background event loop that synchronous code can call into."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                thread = threading.Thread(target=run, name="g4f-lite-portal", daemon=True)
                thread.start()
                ready.wait()
                self._loop, self._thread = loop, thread
                atexit.register(self.close)
            return self._loop

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the background loop and return its result."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError(
                "g4f-lite's synchronous API was called from its own event loop; "
                "use the async API (create_async) inside async code"
            )
        future = asyncio.run_coroutine_threadsafe(coro, self._ensure_loop())
        try:
            return future.result()
        except BaseException:
            # KeyboardInterrupt in the caller must not leave the request running.
            future.cancel()
            raise

    def iterate(self, stream: AsyncIterator[T]) -> Iterator[T]:
        """Iterate an async iterator from synchronous code, closing it when done."""

        async def next_item() -> T:
            return await stream.__anext__()

        try:
            while True:
                try:
                    yield self.call(next_item())
                except StopAsyncIteration:
                    return
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None and self._loop is not None and not self._loop.is_closed():
                self.call(aclose())

    def close(self) -> None:
        """Close the pooled sessions of the background loop and stop it."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        # shutdown_asyncgens() finalises what holds the loop's HTTP session.
        asyncio.run_coroutine_threadsafe(loop.shutdown_asyncgens(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        atexit.unregister(self.close)


_portal = Portal()


def portal() -> Portal:
    """The process-wide portal used by every synchronous API."""
    return _portal
