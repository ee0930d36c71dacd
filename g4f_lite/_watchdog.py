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

    ``asyncio.timeout`` around every chunk costs a timer per chunk (a third
    of the router's per-chunk time). Here the timer is armed once and, when
    it fires, either cancels the waiting task (the limit has passed) or
    re-arms itself for the current limit, which moves on with every chunk.
    """

    __slots__ = ("_deadline", "_expired", "_handle", "_loop", "_task")

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._handle: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[Any] | None = None
        self._deadline = math.inf
        self._expired = False

    async def wait(self, awaitable: Awaitable[T], seconds: float) -> T:
        """Await ``awaitable``; raise :class:`Expired` if it takes over ``seconds``."""
        self._deadline = deadline = self._loop.time() + seconds
        if self._handle is None or self._handle.when() > deadline:
            if self._handle is not None:
                self._handle.cancel()
            self._handle = self._loop.call_at(deadline, self._fire)
        task = self._task = asyncio.current_task()
        try:
            return await awaitable
        except asyncio.CancelledError:
            if not self._expired:
                raise  # cancelled by someone else: not ours to swallow
            self._expired = False
            uncancel = getattr(task, "uncancel", None)  # Python 3.11+
            if uncancel is not None:
                uncancel()
            raise Expired from None
        finally:
            self._task = None

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
        """Disarm the timer."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
