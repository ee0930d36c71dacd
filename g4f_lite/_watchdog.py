"""Time limits on waiting for chunks, cheap enough to apply to every chunk."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable
from typing import Any, TypeVar

__all__ = ["Expired", "StreamGuard", "Watchdog"]

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


class StreamGuard:
    """Idle and deadline limits for the rest of a stream, at almost no cost per chunk.

    Even :class:`Watchdog`'s per-chunk ``arm`` (a clock read and
    ``asyncio.current_task()``) cost a long stream a measurable share of its
    throughput. Here the consuming loop only bumps :attr:`seq` before and after
    each wait (odd: waiting for the provider; even: the caller holds the
    stream, which never counts as idle), and a timer ticking every eighth of
    the idle limit notices when ``seq`` has stood still, odd, for the whole
    limit. The idle error therefore comes between 1 and 1.25 limits after the
    last chunk, never early. The stream must be consumed by one task (as
    ``async for`` does); the deadline is one timer.

    Use::

        guard = StreamGuard(idle, remaining)
        try:
            while True:
                guard.seq += 1
                if guard.fired:             # the deadline passed between chunks
                    raise ...
                try:
                    chunk = await chunks.__anext__()
                except asyncio.CancelledError:
                    if (kind := guard.claim()) is not None:
                        raise MyTimeout(kind) from None
                    raise
                guard.seq += 1
                ...
        finally:
            guard.close()
    """

    __slots__ = (
        "_cancelled",
        "_deadline_handle",
        "_idle",
        "_loop",
        "_period",
        "_seen",
        "_since",
        "_task",
        "_tick_handle",
        "fired",
        "seq",
    )

    def __init__(self, idle: float | None, remaining: float | None) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self.seq = 0
        self._seen = 0
        self._since = self._loop.time()
        self._idle = idle
        self._period = max(idle / 8, 1e-3) if idle is not None else 0.0
        #: ``"idle"`` or ``"total"`` once a limit has passed.
        self.fired: str | None = None
        self._cancelled = False
        self._tick_handle: asyncio.TimerHandle | None = None
        self._deadline_handle: asyncio.TimerHandle | None = None
        if idle is not None:
            self._tick_handle = self._loop.call_later(self._period, self._tick)
        if remaining is not None:
            self._deadline_handle = self._loop.call_later(max(remaining, 0.0), self._fire, "total")

    def _tick(self) -> None:
        now, seq = self._loop.time(), self.seq
        if seq != self._seen or not seq & 1:
            self._seen, self._since = seq, now  # progress, or the caller holds the stream
        elif self._idle is not None and now - self._since >= self._idle:
            self._tick_handle = None
            self._fire("idle")
            return
        self._tick_handle = self._loop.call_later(self._period, self._tick)

    def _fire(self, kind: str) -> None:
        if self.fired is not None:
            return
        self.fired = kind
        # Only a task waiting for the provider is cancelled; otherwise the
        # consuming loop sees `fired` before its next wait.
        if self.seq & 1 and self._task is not None and not self._task.done():
            self._cancelled = True
            self._task.cancel()

    def claim(self) -> str | None:
        """After a ``CancelledError``: the limit that caused it, or ``None`` if not ours."""
        if not self._cancelled:
            return None
        self._cancelled = False
        uncancel = getattr(self._task, "uncancel", None)  # Python 3.11+
        if uncancel is not None:
            uncancel()
        return self.fired

    def close(self) -> None:
        """Stop both timers."""
        for handle in (self._tick_handle, self._deadline_handle):
            if handle is not None:
                handle.cancel()
        self._tick_handle = self._deadline_handle = None
