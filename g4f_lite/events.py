"""What the router reports while it works: :class:`RouterEvent` and its listeners."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeAlias

__all__ = ["EventKind", "Listener", "RouterEvent"]


#: What a :class:`RouterEvent` reports.
EventKind: TypeAlias = Literal[
    "attempt", "retry", "failover", "success", "cooldown", "skip", "wait"
]


@dataclass(frozen=True)
class RouterEvent:
    """Something the router did, for callbacks and the ``router_event`` hook.

    ========== ===================================================================
    kind       meaning
    ========== ===================================================================
    attempt    a request to ``provider`` starts (``attempt`` counts from 1)
    retry      it failed with ``error``; it is tried again after ``wait`` s
    failover   ``provider`` failed for good with ``error``; ``next_provider`` is next
    success    ``provider`` answered in ``elapsed`` s (a stream: once it ended)
    cooldown   ``provider``'s breaker tripped: benched for ``wait`` s
    skip       ``provider`` was skipped, benched for ``wait`` more s
    wait       every candidate is benched: waiting ``wait`` s for ``provider``
    ========== ===================================================================
    """

    kind: EventKind
    provider: str
    attempt: int = 0
    elapsed: float | None = None
    wait: float | None = None
    error: BaseException | None = None
    next_provider: str | None = None


#: A callback receiving every :class:`RouterEvent`; exceptions it raises are logged.
Listener: TypeAlias = Callable[[RouterEvent], None]
