"""Rate limits per provider: requests and tokens per minute, over a sliding window.

A ``[providers.NAME]`` table may set ``rpm`` (requests per minute) and
``tpm`` (tokens per minute, counted from the usage providers report). Before
each request to a limited provider the router asks its health store for a
slot; a provider at its limit is skipped like a benched one, for as long as
its window needs to free one (the router's ``wait_for_cooldown`` applies).

The window slides: at most ``rpm`` requests start in any ``window`` seconds,
and a new one is refused while the tokens reported in the last ``window``
seconds reach ``tpm``. :class:`WindowLimiter` keeps the windows in this
process (the memory store's, and a shared store's fallback); the Redis store
keeps them in Redis, so that the limit holds across instances.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

__all__ = ["RateLimit", "Refusal", "WindowLimiter"]

#: Why a request may not start now: seconds until it may, and the reason.
Refusal = tuple[float, str]


@dataclass(frozen=True)
class RateLimit:
    """A provider's limits; ``None`` leaves that one out."""

    rpm: int | None = None
    tpm: int | None = None
    #: The sliding window, in seconds: a minute.
    window: float = 60.0

    def __post_init__(self) -> None:
        for name in ("rpm", "tpm"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.window <= 0:
            raise ValueError("window must be positive")

    def refused_requests(self) -> str:
        """The reason given when ``rpm`` is reached."""
        return f"rate limit: {self.rpm} requests per {self.window:g} s reached"

    def refused_tokens(self) -> str:
        """The reason given when ``tpm`` is reached."""
        return f"rate limit: {self.tpm} tokens per {self.window:g} s reached"


class WindowLimiter:
    """Sliding windows of requests and tokens per provider, in this process; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[str, deque[float]] = {}
        self._tokens: dict[str, deque[tuple[float, int]]] = {}

    def acquire(self, name: str, now: float, limit: RateLimit) -> Refusal | None:
        """Take a request slot for ``name`` at ``now``; ``None`` if taken, else why not."""
        since = now - limit.window
        with self._lock:
            if limit.tpm is not None:
                tokens = self._tokens.get(name)
                if tokens:
                    while tokens and tokens[0][0] <= since:
                        tokens.popleft()
                    total = sum(count for _, count in tokens)
                    if total >= limit.tpm:
                        # Wait until enough of the oldest usage leaves the window.
                        for at, count in tokens:
                            total -= count
                            if total < limit.tpm:
                                return at + limit.window - now, limit.refused_tokens()
            if limit.rpm is not None:
                requests = self._requests.setdefault(name, deque())
                while requests and requests[0] <= since:
                    requests.popleft()
                if len(requests) >= limit.rpm:
                    return requests[0] + limit.window - now, limit.refused_requests()
                requests.append(now)
        return None

    def record_usage(self, name: str, now: float, tokens: int) -> None:
        """Count ``tokens`` used by a request to ``name`` that ended at ``now``."""
        if tokens > 0:
            with self._lock:
                self._tokens.setdefault(name, deque()).append((now, tokens))

    def reset(self, name: str | None = None) -> None:
        """Forget one provider's windows, or everyone's."""
        with self._lock:
            if name is None:
                self._requests.clear()
                self._tokens.clear()
            else:
                self._requests.pop(name.lower(), None)
                self._tokens.pop(name.lower(), None)
