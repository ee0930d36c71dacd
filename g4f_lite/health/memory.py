"""Live provider health: counters, moving averages and a circuit breaker.

After ``failure_threshold`` consecutive failures a provider is *benched*
(breaker ``open``) for a cooldown that grows with every trip in a row. The
router skips a benched provider without any network call. Once the cooldown
is over the breaker is ``half_open``: one call is let through as a probe; its
success closes the breaker, its failure benches the provider again, longer.

Health belongs to what failed: a *target*, the provider together with the
site it talks to (the call's ``base_url``, else the provider's ``url``). One
provider pointed at a dead ``base_url`` is benched there only; the same
provider at its usual site, or at another ``base_url``, keeps its own breaker.
:func:`health_key` builds the key: the provider's lowercase name for its
default target (so code that asks by name keeps working), ``"name @ target"``
for any other, the target normalised and without URL userinfo.

Only failures of the provider count. The router never reports a failure the
request caused (``request_fault``); an authentication failure (HTTP 401/403,
missing credentials) is no outage either: it marks the target
``auth_failed`` (:meth:`InMemoryHealthStore.record_auth_failure`) without
moving the breaker, until a success clears it.

The router only talks to the :class:`HealthStore` protocol. Each method is a
single atomic step keyed by a health key (an opaque string to the store), so
a store shared by several processes (e.g. Redis, with a Lua script per
method) can replace :class:`InMemoryHealthStore` without touching the router.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from .._log import get_logger
from ..redact import MASK, scrub
from ..types import BreakerState, HealthState, ProviderHealth
from .limits import RateLimit, WindowLimiter

if TYPE_CHECKING:
    from ..provider import BaseProvider

__all__ = [
    "TARGET_SEPARATOR",
    "Admission",
    "CircuitBreaker",
    "HealthStore",
    "InMemoryHealthStore",
    "default_health_store",
    "health_key",
    "normalize_target",
    "split_key",
    "target_health",
]

# The name users configure logging by, whichever module of the package logs.
logger = get_logger("g4f_lite.health")

#: Between the provider's name and its target in a health key.
TARGET_SEPARATOR = " @ "


@functools.lru_cache(maxsize=1024)
def normalize_target(url: str) -> str:
    """``url`` as a health target: no userinfo, scheme and host lowercased, no trailing ``/``.

    Userinfo is a secret and never part of a target (two credentials for one
    site are one target); credential-shaped query parameters (``?key=...``)
    are masked too, since targets are listed. Cached: the router asks on
    every call.
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:  # not a URL we can take apart: keep it, without userinfo
        parts, host, port = None, "", None
    if parts is None or not parts.netloc:
        # No "//host" (e.g. "user:pass@host:8080"): whatever precedes an "@"
        # before the first "/" is userinfo all the same.
        before, at, after = url.partition("@")
        text = f"{MASK}@{after}" if at and "/" not in before else url
        normalized = text.rstrip("/")
    else:
        if ":" in host:  # IPv6
            host = f"[{host}]"
        netloc = f"{host}:{port}" if port is not None else host
        normalized = urlunsplit(
            (parts.scheme.lower(), netloc, parts.path.rstrip("/"), parts.query, "")
        )
    # No spaces, so that TARGET_SEPARATOR never occurs inside a target.
    return scrub(normalized).replace(" ", "%20")


@functools.lru_cache(maxsize=1024)
def _key(name: str, default_url: str, base_url: str) -> str:
    target = normalize_target(base_url)
    if target == normalize_target(default_url):
        return name
    return f"{name}{TARGET_SEPARATOR}{target}"


def health_key(provider: type[BaseProvider], kwargs: Mapping[str, Any] | None = None) -> str:
    """The health key of a call of ``provider`` with ``kwargs``.

    The target is ``kwargs["base_url"]`` if set, else the provider's ``url``
    (its *default* target, keyed by the lowercase name alone). Cheap: it is
    asked on every routed call.
    """
    base_url = kwargs.get("base_url") if kwargs else None
    if not base_url:
        return provider.name.lower()
    if not isinstance(base_url, str):
        base_url = str(base_url)
    return _key(provider.name.lower(), provider.url, base_url)


def split_key(key: str) -> tuple[str, str]:
    """``(provider, target)`` of a health key; the target is ``""`` for the default one."""
    name, separator, target = key.rpartition(TARGET_SEPARATOR)
    return (name, target) if separator else (key, "")


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
    ``remote``: the store cannot decide from what it holds (a shared store
    whose breaker may be half-open elsewhere); the router then awaits the
    store's ``admit_remote(provider, now)`` for the real answer.
    """

    allowed: bool
    probe: bool = False
    retry_after: float = 0.0
    reason: str = ""
    remote: bool = False


# The answer for a healthy provider, asked on every call: built once, since
# a frozen dataclass is slow to construct.
_ADMITTED = Admission(True)


class HealthStore(Protocol):
    """Where the router keeps provider health. Every method must be quick.

    ``provider`` is a health key (:func:`health_key`). ``now`` always comes
    from the router's clock. After every allowed :meth:`admit` the router
    calls exactly one of :meth:`record_success`, :meth:`record_failure` or
    :meth:`release`, or ``record_auth_failure(key, now, error)`` when the
    store has that optional method (refused credentials: mark the target
    ``auth_failed``, give back any probe, leave the breaker alone; a store
    without it just gets :meth:`release`).

    Optional methods, looked up by the router when needed: ``admit_remote``
    (``async``, asked when :meth:`admit` answers ``remote``);
    ``acquire(name, now, limit)`` (``async``: a slot in a provider's
    :class:`~g4f_lite.health.RateLimit`, before each request) and
    ``record_usage(name, now, tokens)``; a store without them gets the
    router's own per-process limiter.
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
        "auth_error",
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
        self.auth_error: str | None = None


class InMemoryHealthStore:
    """A :class:`HealthStore` in this process's memory; thread-safe.

    Keyed by health key (see :func:`health_key`), case-insensitively for a
    bare provider name.
    """

    def __init__(self, breaker: CircuitBreaker | None = None) -> None:
        self.breaker = breaker or CircuitBreaker()
        self._lock = threading.Lock()
        self._states: dict[str, _State] = {}
        #: Requests and tokens per provider in the last minute (rate limits).
        self.limiter = WindowLimiter()

    async def acquire(self, name: str, now: float, limit: RateLimit) -> Admission:
        """A request slot within provider ``name``'s ``limit`` (see :class:`WindowLimiter`)."""
        refused = self.limiter.acquire(name, now, limit)
        if refused is None:
            return _ADMITTED
        return Admission(False, retry_after=refused[0], reason=refused[1])

    def record_usage(self, name: str, now: float, tokens: int) -> None:
        """Count ``tokens`` (reported usage) against provider ``name``'s tokens per minute."""
        self.limiter.record_usage(name, now, tokens)

    def _get(self, provider: str) -> _State:
        # The router's keys are canonical already: one dict lookup on the hot path.
        state = self._states.get(provider)
        if state is None:
            key = _canonical(provider)
            state = self._states.get(key)
            if state is None:
                state = self._states[key] = _State()
        return state

    def admit(self, provider: str, now: float) -> Admission:
        """Closed: yes. Open: no until the cooldown ends, then one probe. Half-open: one probe."""
        # Asked on every call: a closed breaker is read without the lock. Reading
        # it changes nothing, and a concurrent trip is as if it came just after.
        state = self._states.get(provider)
        if state is not None and state.state == "closed":
            return _ADMITTED
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
            s = self._states.get(provider) or self._get(provider)
            if s.state != "closed":
                logger.info("provider %s recovered; back in rotation", provider)
            s.successes += 1
            s.consecutive = s.trips = 0
            s.auth_error = None
            s.state, s.probing = "closed", False
            # Exponentially weighted moving averages, inlined: this runs on every call.
            latency = s.latency
            s.latency = elapsed if latency is None else latency + _EWMA_ALPHA * (elapsed - latency)
            if first_chunk is not None:
                old = s.first_chunk
                s.first_chunk = (
                    first_chunk if old is None else old + _EWMA_ALPHA * (first_chunk - old)
                )

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
            state = self._states.get(_canonical(provider))
            if state is not None:
                state.probing = False

    def record_auth_failure(self, provider: str, now: float, error: str) -> None:
        """Mark ``auth_failed`` with ``error``; the breaker does not move (not an outage)."""
        with self._lock:
            s = self._get(provider)
            s.probing = False
            s.auth_error = s.last_error = error
        logger.warning("provider %s refused the credentials: %s", provider, error)

    def snapshot(self, provider: str, now: float) -> ProviderHealth:
        """The provider's health; never-seen providers are healthy with no history."""
        key = _canonical(provider)
        with self._lock:
            s = self._states.get(key) or _State()
            return _health(s, split_key(key)[1], now)

    def snapshots(self, provider: str, now: float) -> dict[str, ProviderHealth]:
        """The health of every target of ``provider`` seen so far, by target.

        The default target is ``""``; others are normalised URLs without userinfo.
        """
        name = provider.lower()
        with self._lock:
            found = {
                target: _health(s, target, now)
                for target, s in (
                    (split_key(key)[1], s)
                    for key, s in self._states.items()
                    if split_key(key)[0] == name
                )
            }
        return dict(sorted(found.items()))

    def reset(self, provider: str | None = None) -> None:
        """Forget one provider's health (every target of it), one key's, or everyone's."""
        self.limiter.reset(None if provider is None else split_key(provider)[0])
        with self._lock:
            if provider is None:
                self._states.clear()
                return
            key = _canonical(provider)
            if split_key(key)[1]:
                self._states.pop(key, None)
                return
            for other in [k for k in self._states if split_key(k)[0] == key]:
                del self._states[other]


@functools.lru_cache(maxsize=1024)
def _canonical(key: str) -> str:
    """Names are case-insensitive; a target (already normalised) is kept as it is."""
    name, target = split_key(key)
    return f"{name.lower()}{TARGET_SEPARATOR}{target}" if target else key.lower()


def _health(s: _State, target: str, now: float) -> ProviderHealth:
    remaining = max(0.0, s.benched_until - now) if s.state == "open" else 0.0
    state: HealthState = "half_open" if s.state == "open" and remaining == 0 else s.state
    if s.auth_error is not None and remaining == 0:
        state = "auth_failed"
    return ProviderHealth(
        state=state,
        successes=s.successes,
        failures=s.failures,
        consecutive_failures=s.consecutive,
        trips=s.trips,
        cooldown_remaining=remaining,
        latency=s.latency,
        first_chunk=s.first_chunk,
        last_error=s.last_error,
        auth_failed=s.auth_error is not None,
        target=target or None,
    )


def target_health(
    provider: type[BaseProvider],
    store: HealthStore,
    now: float,
    options: Mapping[str, Any] | None = None,
) -> tuple[ProviderHealth, list[ProviderHealth]]:
    """``provider``'s health at its default target, and at every target seen (default first).

    The default target is where a call with ``options`` (the provider's
    configured call options, e.g. ``base_url``) goes, else the provider's
    ``url``. Each entry names its target, without userinfo. A store without
    ``snapshots(name, now)`` reports the default target only.
    """
    default_key = health_key(provider, options)
    name, configured = split_key(default_key)
    own_url = normalize_target(provider.url) if provider.url else None
    default = store.snapshot(default_key, now).model_copy(update={"target": configured or own_url})
    targets = [default]
    snapshots = getattr(store, "snapshots", None)
    seen: dict[str, ProviderHealth] = snapshots(name, now) if snapshots is not None else {}
    for target, health in seen.items():
        if target == configured:
            continue
        if not target:  # its own url, while the configuration points elsewhere
            health = health.model_copy(update={"target": own_url})
        targets.append(health)
    return default, targets


_default_store = InMemoryHealthStore()


def default_health_store() -> InMemoryHealthStore:
    """The process-wide store used by the default router and by :func:`g4f_lite.providers`."""
    return _default_store
