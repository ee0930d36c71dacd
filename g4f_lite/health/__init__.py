"""Live provider health: counters, moving averages, a circuit breaker and rate limits.

The router only talks to the :class:`HealthStore` protocol. Two stores ship:
:class:`InMemoryHealthStore` (the default: this process's memory) and
:class:`~g4f_lite.health.redis_store.RedisHealthStore` (the ``g4f-lite[redis]``
extra: several ``serve`` instances share breakers, latency statistics and
rate limits through one Redis), chosen with ``[router] health_store`` or
``$G4F_LITE_HEALTH_STORE`` (:func:`open_health_store`).

* :mod:`~g4f_lite.health.memory`: health keys, the breaker, the protocol and
  the in-memory store;
* :mod:`~g4f_lite.health.limits`: requests and tokens per minute;
* :mod:`~g4f_lite.health.redis_store`: the shared store (imports ``redis``
  only when one is opened).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .limits import RateLimit, WindowLimiter
from .memory import (
    TARGET_SEPARATOR,
    Admission,
    CircuitBreaker,
    HealthStore,
    InMemoryHealthStore,
    default_health_store,
    health_key,
    normalize_target,
    split_key,
    target_health,
)

if TYPE_CHECKING:
    from .redis_store import RedisHealthStore

__all__ = [
    "ENV_HEALTH_STORE",
    "TARGET_SEPARATOR",
    "Admission",
    "CircuitBreaker",
    "HealthStore",
    "InMemoryHealthStore",
    "RateLimit",
    "RedisHealthStore",
    "WindowLimiter",
    "default_health_store",
    "health_key",
    "normalize_target",
    "open_health_store",
    "split_key",
    "target_health",
]

#: The environment variable naming the health store when ``[router] health_store`` does not.
ENV_HEALTH_STORE = "G4F_LITE_HEALTH_STORE"

# Shared stores by (url, prefix, timeout): a router rebuilt from the same
# configuration keeps its store (and its connection and mirror).
_opened: dict[tuple[str, str, float], HealthStore] = {}


def open_health_store(
    url: str,
    *,
    prefix: str = "g4f_lite:",
    timeout: float = 0.05,
    breaker: CircuitBreaker | None = None,
) -> HealthStore:
    """The store ``url`` names: ``memory://`` (a fresh in-memory one) or ``redis://...``.

    ``redis://`` and ``rediss://`` (and ``unix://``) open a
    :class:`~g4f_lite.health.redis_store.RedisHealthStore` with keys under
    ``prefix`` and ``timeout`` seconds per Redis command; the same arguments
    give the same store. Needs the ``g4f-lite[redis]`` extra.
    """
    from ..errors import ConfigurationError

    scheme = url.partition("://")[0].lower()
    if scheme == "memory":
        return InMemoryHealthStore(breaker)
    if scheme not in ("redis", "rediss", "unix"):
        raise ConfigurationError(
            "health_store must be memory:// or a redis://, rediss:// or unix:// URL"
        )
    key = (url, prefix, timeout)
    store = _opened.get(key)
    if store is None:
        from .redis_store import RedisHealthStore

        store = _opened[key] = RedisHealthStore(
            url, prefix=prefix, timeout=timeout, breaker=breaker
        )
    return store


def __getattr__(name: str) -> Any:
    # The Redis store imports ``redis``: only when asked for.
    if name == "RedisHealthStore":
        from .redis_store import RedisHealthStore

        return RedisHealthStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
