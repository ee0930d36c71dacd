"""Live provider health: counters, moving averages and a circuit breaker.

After ``failure_threshold`` consecutive failures a provider is *benched*
(breaker ``open``) for a cooldown that grows with every trip in a row. The
router skips a benched provider without any network call. Once the cooldown
is over the breaker is ``half_open``: one call is let through as a probe; its
success closes the breaker, its failure benches the provider again, longer.

The router only talks to the :class:`HealthStore` protocol. Each method is a
single atomic step keyed by provider name, so a store shared by several
processes (e.g. Redis, with a Lua script per method) can replace
:class:`InMemoryHealthStore` without touching the router.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Protocol

from .types import BreakerState, ProviderHealth

__all__ = [
    "Admission",
    "CircuitBreaker",
    "HealthStore",
    "InMemoryHealthStore",
    "default_health_store",
]

logger = logging.getLogger(__name__)

# Weight of the newest sample in the latency moving averages: recent enough
# to follow a provider that slows down, smooth enough to ignore one outlier.
_EWMA_ALPHA = 0.3


@dataclass(frozen=True)
class CircuitBreaker:
    """When to bench a provider, and for how long.

    The n-th trip in a row benches for ``cooldown * cooldown_factor ** (n - 1)``
    seconds, at most ``max_cooldown``; a success resets the count.
    """

    failure_threshold: int = 3
    cooldown: float = 30.0
    cooldown_factor: float = 2.0
    max_cooldown: float = 600.0

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if self.cooldown < 0 or self.max_cooldown < 0 or self.cooldown_factor < 1:
            raise ValueError("cooldowns must be >= 0 and cooldown_factor >= 1")

    def cooldown_for(self, trips: int) -> float:
        """The cooldown of the ``trips``-th trip in a row (1 for the first)."""
        return float(min(self.max_cooldown, self.cooldown * self.cooldown_factor ** (trips - 1)))


@dataclass(frozen=True)
class Admission:
    """Whether the router may call a provider now.

    ``probe`` marks the one call let through a half-open breaker; the router
    must then report its outcome (success, failure or :meth:`HealthStore.release`).
    When not allowed, ``retry_after`` is the seconds until it may be.
    """

    allowed: bool
    probe: bool = False
    retry_after: float = 0.0
    reason: str = ""


# The answer for a healthy provider, asked on every call: built once, since
# a frozen dataclass is slow to construct.
_ADMITTED = Admission(True)


class HealthStore(Protocol):
    """Where the router keeps provider health. Every method must be quick.

    ``now`` always comes from the router's clock. After every allowed
    :meth:`admit` the router calls exactly one of :meth:`record_success`,
    :meth:`record_failure` or :meth:`release`.
    """

    def admit(self, provider: str, now: float) -> Admission:
        """Decide whether ``provider`` may be called now (may claim the half-open probe)."""
        ...

    def record_success(
        self, provider: str, now: float, *, elapsed: float, first_chunk: float | None
    ) -> None:
        """A call succeeded in ``elapsed`` seconds, its first chunk after ``first_chunk``."""
        ...

    def record_failure(self, provider: str, now: float, error: str) -> float | None:
        """A call failed with ``error`` ("Type: message"); return the cooldown if it tripped."""
        ...

    def release(self, provider: str) -> None:
        """An admitted call ended with no verdict (cancelled, or the request was at fault)."""
        ...

    def snapshot(self, provider: str, now: float) -> ProviderHealth:
        """The provider's health as of ``now``."""
        ...

    def reset(self, provider: str | None = None) -> None:
        """Forget one provider's health, or everyone's."""
        ...


class _State:
    __slots__ = (
        "benched_until",
        "consecutive",
        "failures",
        "first_chunk",
        "last_error",
        "latency",
        "probing",
        "state",
        "successes",
        "trips",
    )

    def __init__(self) -> None:
        self.state: BreakerState = "closed"
        self.successes = 0
        self.failures = 0
        self.consecutive = 0
        self.trips = 0
        self.benched_until = 0.0
        self.probing = False
        self.latency: float | None = None
        self.first_chunk: float | None = None
        self.last_error: str | None = None


def _ewma(old: float | None, sample: float) -> float:
    return sample if old is None else old + _EWMA_ALPHA * (sample - old)


class InMemoryHealthStore:
    """A :class:`HealthStore` in this process's memory; thread-safe.

    Providers are keyed by case-insensitive name.
    """

    def __init__(self, breaker: CircuitBreaker | None = None) -> None:
        self.breaker = breaker or CircuitBreaker()
        self._lock = threading.Lock()
        self._states: dict[str, _State] = {}

    def _get(self, provider: str) -> _State:
        key = provider.lower()
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = _State()
        return state

    def admit(self, provider: str, now: float) -> Admission:
        """Closed: yes. Open: no until the cooldown ends, then one probe. Half-open: one probe."""
        with self._lock:
            s = self._get(provider)
            if s.state == "closed":
                return _ADMITTED
            if s.state == "open" and now < s.benched_until:
                return Admission(
                    False,
                    retry_after=s.benched_until - now,
                    reason=f"{s.consecutive} consecutive failures, last {s.last_error}",
                )
            if s.probing:
                return Admission(False, reason="another call is probing it")
            s.state, s.probing = "half_open", True
            return Admission(True, probe=True)

    def record_success(
        self, provider: str, now: float, *, elapsed: float, first_chunk: float | None
    ) -> None:
        """Count the success, close the breaker and update the moving averages."""
        with self._lock:
            s = self._get(provider)
            if s.state != "closed":
                logger.info("provider %s recovered; back in rotation", provider)
            s.successes += 1
            s.consecutive = s.trips = 0
            s.state, s.probing = "closed", False
            s.latency = _ewma(s.latency, elapsed)
            if first_chunk is not None:
                s.first_chunk = _ewma(s.first_chunk, first_chunk)

    def record_failure(self, provider: str, now: float, error: str) -> float | None:
        """Count the failure; bench the provider when the breaker trips."""
        with self._lock:
            s = self._get(provider)
            s.failures += 1
            s.consecutive += 1
            s.last_error = error
            probe_failed = s.state == "half_open"
            s.probing = False
            if not probe_failed and s.consecutive < self.breaker.failure_threshold:
                return None
            s.trips += 1
            cooldown = self.breaker.cooldown_for(s.trips)
            s.state, s.benched_until = "open", now + cooldown
        logger.warning(
            "provider %s benched for %.1f s after %d consecutive failures (last: %s)",
            provider,
            cooldown,
            s.consecutive,
            error,
        )
        return cooldown

    def release(self, provider: str) -> None:
        """Give back an unused half-open probe."""
        with self._lock:
            self._get(provider).probing = False

    def snapshot(self, provider: str, now: float) -> ProviderHealth:
        """The provider's health; never-seen providers are healthy with no history."""
        with self._lock:
            s = self._states.get(provider.lower()) or _State()
            remaining = max(0.0, s.benched_until - now) if s.state == "open" else 0.0
            return ProviderHealth(
                state="half_open" if s.state == "open" and remaining == 0 else s.state,
                successes=s.successes,
                failures=s.failures,
                consecutive_failures=s.consecutive,
                trips=s.trips,
                cooldown_remaining=remaining,
                latency=s.latency,
                first_chunk=s.first_chunk,
                last_error=s.last_error,
            )

    def reset(self, provider: str | None = None) -> None:
        """Forget one provider's health, or everyone's."""
        with self._lock:
            if provider is None:
                self._states.clear()
            else:
                self._states.pop(provider.lower(), None)


_default_store = InMemoryHealthStore()


def default_health_store() -> InMemoryHealthStore:
    """The process-wide store used by the default router and by :func:`g4f_lite.providers`."""
    return _default_store
