"""Recent requests per provider, for the dashboard: rate, latency percentiles, last errors.

One :class:`RequestStats` per server application keeps, for each provider,
a ring buffer of its latest requests (when, how long, whether it failed)
and of its latest errors, scrubbed when recorded. Recording is O(1) (two
``deque`` appends at most), so the hot path pays nothing noticeable;
percentiles and rates are computed only when the dashboard asks.

This is a view of what *this* process served, not the router's health
(which decides routing and may be shared): the dashboard shows both.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable

from .. import errors
from ..redact import scrub

__all__ = ["ErrorSample", "ProviderStats", "RequestStats", "Summary"]

#: Requests kept per provider: enough for a p95 and a minute's rate at a few requests/s.
DEFAULT_SAMPLES = 256
#: Errors kept per provider.
DEFAULT_ERRORS = 5
# Upstream error pages can be long; the dashboard shows a line.
_MAX_ERROR_TEXT = 300
#: The window of the request rate, in seconds.
RATE_WINDOW = 60.0


class ErrorSample:
    """One recorded failure: when (the stats clock), and its scrubbed ``"Type: message"``."""

    __slots__ = ("at", "text")

    def __init__(self, at: float, text: str) -> None:
        self.at = at
        self.text = text


class ProviderStats:
    """The ring buffers of one provider: ``(at, seconds, ok)`` per request, and errors."""

    __slots__ = ("errors", "failures", "requests", "samples")

    def __init__(self, samples: int, errors: int) -> None:
        self.samples: deque[tuple[float, float, bool]] = deque(maxlen=samples)
        self.errors: deque[ErrorSample] = deque(maxlen=errors)
        #: Totals since the server started.
        self.requests = 0
        self.failures = 0


class Summary:
    """What the dashboard shows of one provider's recent requests.

    ``rate``: requests in the last minute; ``p50`` / ``p95``: latency
    percentiles in seconds of the successful requests kept (``None``
    without any); ``recent``: the latest of those latencies, oldest first;
    ``errors``: ``(age in seconds, text)``, newest first.
    """

    __slots__ = ("errors", "failures", "p50", "p95", "rate", "recent", "requests")

    def __init__(
        self,
        rate: int,
        p50: float | None,
        p95: float | None,
        recent: list[float],
        errors: list[tuple[float, str]],
        requests: int,
        failures: int,
    ) -> None:
        self.rate = rate
        self.p50 = p50
        self.p95 = p95
        self.recent = recent
        self.errors = errors
        self.requests = requests
        self.failures = failures


_EMPTY = Summary(0, None, None, [], [], 0, 0)


def _percentile(ordered: list[float], fraction: float) -> float:
    # Nearest rank: always a latency that was observed, never an interpolation.
    index = max(0, min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1))
    return ordered[index]


class RequestStats:
    """Per-provider ring buffers of recent requests; one per server application.

    ``clock`` gives monotonic seconds (tests may pass their own).
    """

    def __init__(
        self,
        *,
        samples: int = DEFAULT_SAMPLES,
        errors: int = DEFAULT_ERRORS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._samples = samples
        self._errors = errors
        self.clock = clock
        self._providers: dict[str, ProviderStats] = {}

    def _of(self, provider: str) -> ProviderStats:
        stats = self._providers.get(provider)
        if stats is None:
            stats = self._providers[provider] = ProviderStats(self._samples, self._errors)
        return stats

    def record(
        self,
        provider: str,
        elapsed: float,
        error: BaseException | None = None,
        secrets: Iterable[str] = (),
    ) -> None:
        """Count one request to ``provider`` that took ``elapsed`` s and failed with ``error``.

        The error's text is scrubbed of ``secrets`` and of anything shaped
        like a credential before it is kept.
        """
        stats = self._of(provider)
        now = self.clock()
        ok = error is None
        stats.samples.append((now, elapsed, ok))
        stats.requests += 1
        if error is not None:
            stats.failures += 1
            stats.errors.append(ErrorSample(now, describe_error(error, secrets)))

    def record_outcome(
        self,
        provider: str | None,
        elapsed: float,
        error: BaseException | None,
        secrets: Callable[[], Iterable[str]] = tuple,
    ) -> None:
        """Count one served request, whatever its outcome.

        A success counts for ``provider`` (the one that answered). A failure
        counts for every provider that was tried: each attempt of an
        :class:`~g4f_lite.errors.AllProvidersFailedError` with its own time,
        or the provider a :class:`~g4f_lite.errors.ProviderError` names,
        else ``provider`` when one had answered (a stream broken later).
        Failures before any provider was tried (a bad body, nothing
        available, every candidate benched) count for none. ``secrets`` is
        called only when an error is kept.
        """
        if error is None:
            if provider is not None:
                self.record(provider, elapsed)
            return
        if isinstance(error, errors.AllProvidersFailedError):
            known = tuple(secrets())
            for attempt in error.attempts:
                self.record(attempt.provider, attempt.elapsed, attempt.error, known)
        elif isinstance(error, errors.ProviderBenchedError):
            return  # skipped: no request was made
        elif isinstance(error, errors.ProviderError):
            self.record(error.provider, elapsed, error, tuple(secrets()))
        elif provider is not None:
            self.record(provider, elapsed, error, tuple(secrets()))

    def summary(self, provider: str) -> Summary:
        """The rate, percentiles, recent latencies and errors of ``provider`` now."""
        stats = self._providers.get(provider)
        if stats is None:
            return _EMPTY
        now = self.clock()
        since = now - RATE_WINDOW
        samples = list(stats.samples)
        rate = sum(1 for at, _, _ in samples if at >= since)
        latencies = [seconds for _, seconds, ok in samples if ok]
        ordered = sorted(latencies)
        return Summary(
            rate=rate,
            p50=_percentile(ordered, 0.50) if ordered else None,
            p95=_percentile(ordered, 0.95) if ordered else None,
            recent=latencies[-60:],
            errors=[(max(0.0, now - e.at), e.text) for e in reversed(stats.errors)],
            requests=stats.requests,
            failures=stats.failures,
        )

    def providers(self) -> list[str]:
        """The providers with at least one recorded request."""
        return list(self._providers)


def describe_error(error: BaseException, secrets: Iterable[str] = ()) -> str:
    """``"Type: message"`` of ``error`` on one line, scrubbed and shortened."""
    detail = getattr(error, "detail", None)
    message = detail if isinstance(detail, str) and detail else str(error)
    text = " ".join(f"{type(error).__name__}: {message}".split())
    text = scrub(text, secrets)
    if len(text) > _MAX_ERROR_TEXT:
        text = text[: _MAX_ERROR_TEXT - 1] + "…"
    return text
