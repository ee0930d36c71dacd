"""Time limits on waiting for chunks, cheap enough to apply to every chunk."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable
from typing import Any, TypeVar

__all__ = ["Expired", "Watchdog"]

T = TypeVar("T")


class Expired(Exception):
    """Our own time limit fired (as opposed to a timeout raised by the provider)."""


class Watchdog:
    """Bounds each wait for a chunk, with one timer per attempt instead of one per chunk.

    ``asyncio.timeout`` around every chunk creates and cancels a timer per
    chunk, a cost that showed in long streams. Here the timer is armed once and, when
    it fires, either cancels the waiting task (the limit has passed) or
    re-arms itself for the current limit, which moves on with every chunk.

    Use it without an extra coroutine per chunk::

        watchdog.arm(seconds)
        try:
            chunk = await chunks.__anext__()
        except asyncio.CancelledError:
            if watchdog.claim():
                raise MyTimeout from None
            raise
        finally:
            watchdog.disarm()
    """

    __slots__ = ("_deadline", "_expired", "_handle", "_loop", "_task")

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._handle: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[Any] | None = None
        self._deadline = math.inf
        self._expired = False

    def arm(self, seconds: float) -> None:
        """Cancel the current task if the wait that follows takes over ``seconds``."""
        self._deadline = deadline = self._loop.time() + seconds
        handle = self._handle
        if handle is None or handle.when() > deadline:
            if handle is not None:
                handle.cancel()
            self._handle = self._loop.call_at(deadline, self._fire)
        self._task = asyncio.current_task()

    def disarm(self) -> None:
        """The wait is over (the timer stays, and is re-armed lazily when it fires)."""
        self._task = None

    def claim(self) -> bool:
        """After a ``CancelledError``: whether it was ours (then it is uncancelled)."""
        if not self._expired:
            return False  # cancelled by someone else: not ours to swallow
        self._expired = False
        uncancel = getattr(self._task, "uncancel", None)  # Python 3.11+
        if uncancel is not None:
            uncancel()
        return True

    async def wait(self, awaitable: Awaitable[T], seconds: float) -> T:
        """Await ``awaitable``; raise :class:`Expired` if it takes over ``seconds``."""
        self.arm(seconds)
        try:
            return await awaitable
        except asyncio.CancelledError:
            if self.claim():
                raise Expired from None
            raise
        finally:
            self.disarm()

    def _fire(self) -> None:
        self._handle = None
        if self._task is None:
            return  # nobody is waiting; the next wait arms a new timer
        # Timers may run a clock tick early: tolerate a millisecond.
        if self._loop.time() < self._deadline - 1e-3:
            self._handle = self._loop.call_at(self._deadline, self._fire)
            return
        self._expired = True
        self._task.cancel()

    def close(self) -> None:
        """Disarm the timer for good."""
        self._task = None
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
