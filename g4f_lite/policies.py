"""The router's limits: time limits per call and the retry policy per provider."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigurationError

__all__ = ["RetryPolicy", "Timeouts", "check_positive"]


def check_positive(name: str, value: float | None) -> None:
    """Raise :class:`ConfigurationError` unless ``value`` is ``None`` or positive."""
    if value is not None and not value > 0:
        raise ConfigurationError(f"{name} must be positive or None, got {value!r}")


@dataclass(frozen=True)
class Timeouts:
    """Time limits in seconds; ``None`` means no limit.

    Each limit raises its own :class:`~g4f_lite.errors.ProviderTimeoutError`
    subclass. ``connect``, ``first_chunk`` and ``idle`` apply to each attempt
    (and are retryable); ``total`` is the deadline of the whole call, retries
    and failovers included.
    """

    #: Establishing the connection (enforced by the HTTP layer).
    connect: float | None = 30.0
    #: From the start of an attempt to its first chunk of text.
    first_chunk: float | None = 120.0
    #: The longest wait for the next chunk (time the caller takes between
    #: chunks does not count).
    idle: float | None = 120.0
    #: The whole call.
    total: float | None = None

    def __post_init__(self) -> None:
        for name in ("connect", "first_chunk", "idle", "total"):
            check_positive(f"Timeouts.{name}", getattr(self, name))


@dataclass(frozen=True)
class RetryPolicy:
    """How the router retries one provider before failing over.

    Waits grow exponentially from ``initial`` up to ``max_wait`` with up to
    ``jitter`` seconds of randomness, unless the latest error carries a
    ``Retry-After``: then that is honoured, if it is at most
    ``max_retry_after`` (a longer one fails over at once instead).
    """

    max_attempts: int = 3
    initial: float = 0.5
    max_wait: float = 8.0
    jitter: float = 0.5
    max_retry_after: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigurationError("RetryPolicy.max_attempts must be at least 1")
        if min(self.initial, self.max_wait, self.jitter, self.max_retry_after) < 0:
            raise ConfigurationError("RetryPolicy waits must not be negative")
