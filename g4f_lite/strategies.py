"""Ordering strategies: in which order the router tries its candidates.

A strategy is any object with a ``name`` and an ``order(providers, health)``
method (:class:`Strategy`); pass one, or one of the names in
:data:`STRATEGIES`, as ``strategy=`` to a :class:`~g4f_lite.router.Router` or
to a single call. Strategies only order: benched providers are skipped later,
by the router, whatever their position.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, TypeAlias

from .errors import ConfigurationError
from .types import ProviderHealth

if TYPE_CHECKING:
    from .provider import BaseProvider

__all__ = [
    "STRATEGIES",
    "Fastest",
    "HealthLookup",
    "LeastFailures",
    "Ordered",
    "Shuffle",
    "Strategy",
    "StrategyArg",
    "get_strategy",
]

#: Returns a provider's current health by name.
HealthLookup: TypeAlias = Callable[[str], ProviderHealth]


class Strategy(Protocol):
    """Orders the candidates of one call."""

    name: str

    def order(
        self, providers: Sequence[type[BaseProvider]], health: HealthLookup
    ) -> list[type[BaseProvider]]:
        """Return ``providers`` (registry or given order) in the order to try them."""
        ...


class Ordered:
    """The given order, or registry order when the router picked the candidates."""

    name = "ordered"

    def order(
        self, providers: Sequence[type[BaseProvider]], health: HealthLookup
    ) -> list[type[BaseProvider]]:
        """Unchanged."""
        return list(providers)


class Shuffle:
    """A random order per call, spreading load evenly. ``rng`` makes it reproducible."""

    name = "shuffle"

    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()

    def order(
        self, providers: Sequence[type[BaseProvider]], health: HealthLookup
    ) -> list[type[BaseProvider]]:
        """A fresh random permutation."""
        result = list(providers)
        self.rng.shuffle(result)
        return result


class LeastFailures:
    """Fewest consecutive failures first, then lowest failure rate; ties keep their order."""

    name = "least-failures"

    def order(
        self, providers: Sequence[type[BaseProvider]], health: HealthLookup
    ) -> list[type[BaseProvider]]:
        """Sorted by (consecutive failures, failure rate)."""

        def key(provider: type[BaseProvider]) -> tuple[int, float]:
            h = health(provider.name)
            calls = h.successes + h.failures
            return h.consecutive_failures, (h.failures / calls if calls else 0.0)

        return sorted(providers, key=key)  # sorted() is stable: ties keep their order


class Fastest:
    """Lowest recent time to first chunk first; providers never measured go last, in order."""

    name = "fastest"

    def order(
        self, providers: Sequence[type[BaseProvider]], health: HealthLookup
    ) -> list[type[BaseProvider]]:
        """Sorted by the moving average of time to first chunk."""

        def key(provider: type[BaseProvider]) -> tuple[bool, float]:
            first_chunk = health(provider.name).first_chunk
            return first_chunk is None, first_chunk or 0.0

        return sorted(providers, key=key)


#: Strategy classes by name, for ``strategy="..."``.
STRATEGIES: dict[str, Callable[[], Strategy]] = {
    Ordered.name: Ordered,
    Shuffle.name: Shuffle,
    LeastFailures.name: LeastFailures,
    Fastest.name: Fastest,
}

#: A strategy object or its name.
StrategyArg: TypeAlias = "str | Strategy"


def get_strategy(strategy: StrategyArg) -> Strategy:
    """Return ``strategy`` itself, or a new instance of the strategy named so."""
    if not isinstance(strategy, str):
        return strategy
    factory = STRATEGIES.get(strategy.strip().lower().replace("_", "-"))
    if factory is None:
        raise ConfigurationError(
            # The value is never echoed: a misplaced key pasted here must not leak.
            f"unknown strategy; choose one of {', '.join(sorted(STRATEGIES))} "
            "or pass an object with name and order()"
        )
    return factory()
