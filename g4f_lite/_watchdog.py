"""Time limits on waiting for chunks, cheap enough for every request and every chunk.

Two costs shaped this module. A timer per request (``loop.call_at``, then
``cancel``) leaves a cancelled handle in the loop's heap until its time would
have come, so with minutes-long default limits every request paid for a
growing heap. And anything per chunk beyond an integer increment (a clock
read, ``asyncio.current_task()``) showed in long streams' throughput.

So each request gets a :class:`Guard`, and one :class:`_Scheduler` per event
loop owns a single timer for all of them. The consuming loop only tells the
guard before and after each wait (:meth:`Guard.waiting`, :meth:`Guard.received`:
each bumps a counter, odd while waiting for the provider, even while the
caller holds the stream, which never counts as idle; a loop read once per
chunk may bump :attr:`Guard.seq` itself, sparing two calls a chunk)::

    guard = Guard(first=..., idle=..., total=...)
    try:
        while True:
            if guard.waiting():         # a deadline passed between chunks
                raise ...
            try:
                chunk = await chunks.__anext__()
            except asyncio.CancelledError:
                if (kind := guard.claim()) is not None:
                    raise MyTimeout(kind) from None
                raise
            guard.received()
    finally:
        guard.close()

The first-chunk and total limits fire on time. The idle limit is checked
every eighth of itself, so its error comes between 1 and 1.25 limits after the
last chunk, never early. A guard cancels the task that created it (or that
last called :meth:`Guard.rebind`): the stream must be read by one task at a
time, as ``async for`` and g4f-lite's synchronous portal do.
"""

from __future__ import annotations

import asyncio
import math
import weakref
from typing import Any

__all__ = ["Guard"]

# Loop timers may run a clock tick early.
_TOLERANCE = 1e-3


class _Scheduler:
    """One timer per event loop, at the earliest moment any guard needs a look."""

    __slots__ = ("__weakref__", "_guards", "_handle", "_loop", "_when")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._guards: set[Guard] = set()
        self._handle: asyncio.TimerHandle | None = None
        self._when = math.inf

    def reschedule(self, when: float) -> None:
        """Look at the guards at ``when``, sooner than the timer set now."""
        if self._handle is not None:
            self._handle.cancel()
        self._when = when
        self._handle = self._loop.call_at(when, self._run)

    def discard(self, guard: Guard) -> None:
        # The timer stays: it fires once more, finds nothing and stops. Cancelling
        # it on every request would bring back the heap churn this class avoids.
        self._guards.discard(guard)

    def _run(self) -> None:
        self._handle, self._when = None, math.inf
        now = self._loop.time()
        soonest = math.inf
        for guard in list(self._guards):
            when = guard._check(now)
            if when == math.inf:
                self._guards.discard(guard)
            elif when < soonest:
                soonest = when
        if soonest < math.inf:
            self._when = soonest
            self._handle = self._loop.call_at(soonest, self._run)


_schedulers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Scheduler] = (
    weakref.WeakKeyDictionary()
)


# The last loop asked about, weakly: nearly every request runs on the same one,
# and a WeakKeyDictionary lookup builds a weak reference each time.
_last: tuple[weakref.ref[asyncio.AbstractEventLoop], _Scheduler] | None = None


def _scheduler_for(loop: asyncio.AbstractEventLoop) -> _Scheduler:
    global _last
    if _last is not None and _last[0]() is loop:
        return _last[1]
    scheduler = _schedulers.get(loop)
    if scheduler is None:
        scheduler = _schedulers[loop] = _Scheduler(loop)
    _last = (weakref.ref(loop), scheduler)
    return scheduler


class Guard:
    """The time limits of one request: first chunk, idle gap, and total.

    Limits are seconds from now (``None``: no limit). The first-chunk limit
    applies to the first wait only; idle to every later one.
    """

    __slots__ = (
        "_cancelled",
        "_first_at",
        "_idle",
        "_loop",
        "_period",
        "_scheduler",
        "_seen",
        "_since",
        "_task",
        "_total_at",
        "fired",
        "seq",
    )

    def __init__(
        self, first: float | None = None, idle: float | None = None, total: float | None = None
    ) -> None:
        # Made for every request: the scheduler's lookup and bookkeeping inlined.
        loop = self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task[Any] | None = asyncio.current_task(loop)
        #: Odd while the reader waits for the provider; a change tells _check of progress.
        #: Bumped by :meth:`waiting` and :meth:`received`, or by the reader itself.
        self.seq = 0
        #: ``"first_chunk"``, ``"idle"`` or ``"total"`` once that limit has passed.
        self.fired: str | None = None
        self._cancelled = False
        now = loop.time()
        self._first_at = first_at = now + first if first is not None else math.inf
        self._total_at = total_at = now + total if total is not None else math.inf
        self._idle = idle
        self._period = period = max(idle / 8, 1e-3) if idle is not None else math.inf
        self._seen, self._since = 0, now
        last = _last
        scheduler = last[1] if last is not None and last[0]() is loop else _scheduler_for(loop)
        self._scheduler: _Scheduler | None = scheduler
        when = now + period
        if first_at < when:
            when = first_at
        if total_at < when:
            when = total_at
        if when < math.inf:
            scheduler._guards.add(self)
            if when < scheduler._when:
                scheduler.reschedule(when)

    def waiting(self) -> str | None:
        """Before waiting for the provider: the limit that has passed already, if any."""
        self.seq += 1
        return self.fired

    def received(self) -> None:
        """After the provider answered: the caller holds the stream (never idle)."""
        self.seq += 1

    def rebind(self) -> None:
        """Make the current task the one to interrupt (a stream handed to its reader)."""
        self._task = asyncio.current_task()

    def _check(self, now: float) -> float:
        """Fire what has expired; return when to look again (``inf``: never)."""
        if self.fired is not None:
            return math.inf
        seq = self.seq
        if now >= self._total_at - _TOLERANCE:
            return self._fire("total")
        if seq <= 1 and now >= self._first_at - _TOLERANCE:
            if seq == 1:
                return self._fire("first_chunk")
        elif self._idle is not None and seq > 1:
            if seq != self._seen or not seq & 1:
                self._seen, self._since = seq, now  # progress, or the caller holds the stream
            elif now - self._since >= self._idle:
                return self._fire("idle")
        when = min(self._total_at, now + self._period)
        if seq <= 1:
            when = min(when, self._first_at)
        # Never in the past (a guard not yet waiting, past its first-chunk
        # time): that would spin the scheduler instead of looking again soon.
        return max(when, now + _TOLERANCE)

    def _fire(self, kind: str) -> float:
        self.fired = kind
        # Only a task waiting for the provider is cancelled; otherwise the
        # reading loop sees `fired` before its next wait.
        task = self._task
        if self.seq & 1 and task is not None and not task.done():
            self._cancelled = True
            task.cancel()
        return math.inf

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
        """Stop watching (idempotent)."""
        if self._scheduler is not None:
            self._scheduler.discard(self)
            self._scheduler = None
