"""Run g4f-lite's async code from synchronous callers.

Synchronous calls are served by one background thread running one event
loop for the whole process. That loop keeps its pooled HTTP session between
calls (``asyncio.run`` per call would open a new one each time), and it works
even when the caller's thread already runs a loop, as in Jupyter.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
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
        """Iterate an async iterator from synchronous code, closing it when done.

        One task on the background loop reads the whole stream, an item per
        request, so that the stream sees a single consuming task (as with
        ``async for``; the router's time limits rely on that) and nothing is
        read ahead of the caller.
        """
        if threading.current_thread() is self._thread:
            raise RuntimeError(
                "g4f-lite's synchronous API was called from its own event loop; "
                "use the async API (create_async) inside async code"
            )
        loop = self._ensure_loop()
        requests: asyncio.Queue[concurrent.futures.Future[T] | None] = asyncio.Queue()
        pump = asyncio.run_coroutine_threadsafe(_pump(stream, requests), loop)
        try:
            while True:
                reply: concurrent.futures.Future[T] = concurrent.futures.Future()
                loop.call_soon_threadsafe(requests.put_nowait, reply)
                try:
                    item = reply.result()
                except StopAsyncIteration:
                    return
                yield item
        except GeneratorExit:
            raise  # the caller stopped early: closed gracefully below
        except BaseException:
            # KeyboardInterrupt while waiting: the pump must not outlive us.
            if not loop.is_closed():
                pump.cancel()
            raise
        finally:
            if not pump.done() and not loop.is_closed():
                loop.call_soon_threadsafe(requests.put_nowait, None)
                with contextlib.suppress(concurrent.futures.CancelledError):
                    pump.result()

    def close(self) -> None:
        """Close the pooled sessions of the background loop and stop it."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(_shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        atexit.unregister(self.close)


async def _shutdown() -> None:
    """Cancel what is still running (abandoned streams), then close async generators.

    shutdown_asyncgens() is also what closes the loop's pooled HTTP session.
    """
    current = asyncio.current_task()
    pending = [task for task in asyncio.all_tasks() if task is not current]
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    await asyncio.get_running_loop().shutdown_asyncgens()


async def _pump(
    stream: AsyncIterator[T], requests: asyncio.Queue[concurrent.futures.Future[T] | None]
) -> None:
    """Answer each request from the synchronous side with the stream's next item."""
    try:
        while (reply := await requests.get()) is not None:
            try:
                reply.set_result(await stream.__anext__())
            except BaseException as exc:
                # The stream's end, its error, or our own cancellation: the
                # waiting thread must hear of it either way, or it waits forever.
                reply.set_exception(exc)
                if isinstance(exc, Exception):  # StopAsyncIteration included
                    return
                raise
    finally:
        # Closed here, not through provider.close_stream: the portal sits below
        # the provider layer and imports nothing from it.
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


_portal = Portal()


def portal() -> Portal:
    """The process-wide portal used by every synchronous API."""
    return _portal
