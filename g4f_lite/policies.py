"""The router's limits: time limits per call and the retry policy per provider."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import ConfigurationError

__all__ = ["RetryPolicy", "Timeouts", "check_non_negative", "check_positive"]


def _is_number(value: object) -> bool:
    # bool is an int to Python, but `True` seconds is a mistake, not a limit.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_positive(name: str, value: float | None) -> None:
    """Raise :class:`ConfigurationError` unless ``value`` is ``None`` or a finite positive number.

    ``inf`` and ``nan`` are refused: ``None`` already means "no limit", and a
    ``nan`` limit would compare false with everything and never fire. The
    value is never echoed (a misplaced argument may be a secret).
    """
    if value is None:
        return
    if not _is_number(value) or not math.isfinite(value) or not value > 0:
        raise ConfigurationError(f"{name} must be positive (a finite number of seconds) or None")


def check_non_negative(name: str, value: float) -> None:
    """Raise :class:`ConfigurationError` unless ``value`` is a finite number, zero or more."""
    if not _is_number(value) or not math.isfinite(value) or value < 0:
        raise ConfigurationError(f"{name} must not be negative (a finite number of seconds)")


@dataclass(frozen=True)
class Timeouts:
    """Time limits in seconds; ``None`` means no limit.

    Each limit raises its own :class:`~g4f_lite.errors.ProviderTimeoutError`
    subclass. ``connect``, ``first_chunk`` and ``idle`` apply to each attempt
    (and are retryable); ``total`` is the deadline of the whole call, retries
    and failovers included. A limit must be a finite positive number.
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
    ``max_retry_after`` (a longer one fails over at once instead). Waits are
    finite numbers of seconds, zero or more.
    """

    max_attempts: int = 3
    initial: float = 0.5
    max_wait: float = 8.0
    jitter: float = 0.5
    max_retry_after: float = 30.0

    def __post_init__(self) -> None:
        if (
            not isinstance(self.max_attempts, int)
            or isinstance(self.max_attempts, bool)
            or self.max_attempts < 1
        ):
            raise ConfigurationError("RetryPolicy.max_attempts must be a whole number, at least 1")
        for name in ("initial", "max_wait", "jitter", "max_retry_after"):
            check_non_negative(f"RetryPolicy.{name}", getattr(self, name))
