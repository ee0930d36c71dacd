"""Time as the router sees it: a monotonic ``now()`` and an async ``sleep()``.

Injected, so that tests drive backoff, ``Retry-After`` and cooldowns with a
fake clock instead of really sleeping.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

__all__ = ["Clock", "MonotonicClock", "WallClock"]


class Clock(Protocol):
    """What the router needs from a clock."""

    def now(self) -> float:
        """Seconds on a clock that never goes backwards."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (backoff, ``Retry-After``, cooldowns)."""
        ...


class MonotonicClock:
    """The real clock: :func:`time.monotonic` and :func:`asyncio.sleep`.

    A health store shared between processes (e.g. Redis) must use a clock
    that all of them agree on, such as wall time, instead.
    """

    def now(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep(seconds)``."""
        await asyncio.sleep(seconds)


class WallClock(MonotonicClock):
    """Wall time (:func:`time.time`): the clock processes sharing a health store agree on.

    It can jump when the system clock is set; a shared store accepts that
    for a clock every instance reads alike.
    """

    def now(self) -> float:
        """``time.time()``."""
        return time.time()
