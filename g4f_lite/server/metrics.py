"""What ``serve`` counts, and ``GET /metrics`` in Prometheus' text format.

Each request only adds to plain counters (:class:`ServerMetrics`): no
``prometheus_client`` object is touched, no label string is built, nothing
is locked (the server runs on one event loop). A scrape turns the counters
into metric families through a custom collector on the app's own
:class:`~prometheus_client.CollectorRegistry`, so two apps in one process
never share or clash, and reads the breaker state of every provider target
from the router's health store at that moment.

Router events (retries, failovers, skips, breaker trips) reach the request
they belong to through a context variable: one listener, :func:`on_event`,
is added to each router the server routes with, and counts only the events
raised while one of the server's requests runs.

``prometheus_client`` is imported when an app builds its registry
(:func:`build_registry`), never by ``import g4f_lite``.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from ..events import RouterEvent

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from ..router import Router

__all__ = [
    "CONTENT_TYPE",
    "DURATION_BUCKETS",
    "FIRST_CHUNK_BUCKETS",
    "MAX_MODELS",
    "Exchange",
    "Histogram",
    "ServerMetrics",
    "build_registry",
    "on_event",
    "outcome_of",
    "render",
]

#: The ``Content-Type`` of Prometheus' text exposition format (version 0.0.4).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Upper bounds (seconds) of the whole-answer latency histogram's buckets.
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
#: Upper bounds (seconds) of the time-to-first-chunk histogram's buckets.
FIRST_CHUNK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

#: Distinct ``model`` label values kept; later ones are counted as ``other``.
#: Clients choose the model name: without a bound, a client sending random
#: names would grow every scrape without end.
MAX_MODELS = 200
# Longer model names are cut: a label value ends up in every scrape.
_MAX_MODEL_LENGTH = 120

# Breaker states as exported (an enum: one series per state, 1 for the current).
_STATES = ("closed", "half_open", "open", "auth_failed")


class Histogram:
    """Bucket counts of observed values, cumulated only when scraped."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        #: One count per bucket, then one for values above the last bound.
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        """Count ``value`` in the first bucket whose bound is >= it."""
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def buckets(self) -> list[tuple[str, float]]:
        """Cumulative ``(le, count)`` pairs, ``+Inf`` last, as Prometheus expects."""
        result: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip(self.bounds, self.counts, strict=False):
            running += count
            result.append((repr(float(bound)), running))
        result.append(("+Inf", running + self.counts[-1]))
        return result


class Exchange:
    """One chat-completion request as the server saw it, for the metrics and the access log."""

    __slots__ = (
        "attempts",
        "broken",
        "first_chunk",
        "metrics",
        "model",
        "provider",
        "started",
        "tokens_in",
        "tokens_out",
    )

    def __init__(self, metrics: ServerMetrics) -> None:
        self.metrics = metrics
        self.started = time.perf_counter()
        #: The model asked for, once the body is read.
        self.model = ""
        #: The provider that answered, once one has.
        self.provider: str | None = None
        #: Requests sent to providers (retries and failovers included).
        self.attempts = 0
        #: Seconds to the first chunk of a streamed answer.
        self.first_chunk: float | None = None
        #: The stream broke after its headers were sent.
        self.broken = False
        self.tokens_in = 0
        self.tokens_out = 0


#: How many apps watch each router (by ``id``): several may share the default one.
_watchers: dict[int, int] = {}

#: The exchange of the request being handled, for :func:`on_event`.
_current: ContextVar[Exchange | None] = ContextVar("g4f_lite_exchange", default=None)


def on_event(event: RouterEvent) -> None:
    """The router listener: count ``event`` for the server request it happened in, if any."""
    exchange = _current.get()
    if exchange is None:  # a call of the same router outside the server's requests
        return
    kind = event.kind
    if kind == "attempt":
        exchange.attempts += 1
    elif kind != "success":
        counts = exchange.metrics.events.get(kind)
        if counts is not None:
            counts[event.provider] = counts.get(event.provider, 0) + 1


def outcome_of(status: int, broken: bool) -> str:
    """The ``outcome`` label of a request answered with ``status``.

    ``ok``; ``broken_stream`` (failed after the stream started); ``cancelled``
    (the client went away, 499); ``client_error`` (a 4xx the request caused;
    429 is not one); ``failed`` (no provider could answer: 429 and 5xx).
    """
    if status < 400:
        return "broken_stream" if broken else "ok"
    if status == 499:
        return "cancelled"
    if status < 500 and status != 429:
        return "client_error"
    return "failed"


class ServerMetrics:
    """The counters of one app: plain dicts and ints, turned into metrics when scraped."""

    def __init__(self) -> None:
        self.in_flight = 0
        #: ``(provider, model, outcome)`` -> requests.
        self.requests: dict[tuple[str, str, str], int] = {}
        #: ``(provider, model)`` -> tokens.
        self.tokens_in: dict[tuple[str, str], int] = {}
        self.tokens_out: dict[tuple[str, str], int] = {}
        #: Latency histograms by provider.
        self.duration: dict[str, Histogram] = {}
        self.first_chunk: dict[str, Histogram] = {}
        #: Router events by kind, then provider.
        self.events: dict[str, dict[str, int]] = {
            "retry": {},
            "failover": {},
            "skip": {},
            "cooldown": {},
            "wait": {},
        }
        self._models: set[str] = set()
        #: The routers this app watches (see :meth:`watch`).
        self.routers: list[Router] = []
        self._last: Router | None = None

    def begin(self) -> Exchange:
        """A request starts."""
        self.in_flight += 1
        return Exchange(self)

    def enter(self, exchange: Exchange) -> Any:
        """Make ``exchange`` the one router events count for; returns a token for :meth:`leave`."""
        return _current.set(exchange)

    @staticmethod
    def leave(token: Any) -> None:
        """Undo :meth:`enter`."""
        _current.reset(token)

    def watch(self, router: Router) -> None:
        """Make sure ``router`` reports its events to :func:`on_event` (asked per request)."""
        if router is self._last:
            return
        self._last = router
        if any(known is router for known in self.routers):
            return
        self.routers.append(router)
        _watchers[id(router)] = _watchers.get(id(router), 0) + 1
        if on_event not in router.listeners:
            router.listeners.append(on_event)

    def unwatch(self) -> None:
        """Stop watching; a router no other app watches loses :func:`on_event`."""
        for router in self.routers:
            left = _watchers.pop(id(router), 1) - 1
            if left:
                _watchers[id(router)] = left
            elif on_event in router.listeners:
                router.listeners.remove(on_event)
        self.routers.clear()
        self._last = None

    def end(self, exchange: Exchange, status: int) -> None:
        """A request was answered with ``status`` (its stream, if any, has ended)."""
        self.in_flight -= 1
        elapsed = time.perf_counter() - exchange.started
        outcome = outcome_of(status, exchange.broken)
        provider = exchange.provider or ""
        # A client error's model is the client's text, not one a provider serves.
        model = "" if outcome == "client_error" else self._model_label(exchange.model)
        key = (provider, model, outcome)
        requests = self.requests
        requests[key] = requests.get(key, 0) + 1
        histogram = self.duration.get(provider)
        if histogram is None:
            histogram = self.duration[provider] = Histogram(DURATION_BUCKETS)
        histogram.observe(elapsed)
        if exchange.first_chunk is not None:
            histogram = self.first_chunk.get(provider)
            if histogram is None:
                histogram = self.first_chunk[provider] = Histogram(FIRST_CHUNK_BUCKETS)
            histogram.observe(exchange.first_chunk)
        if exchange.tokens_in or exchange.tokens_out:
            pair = (provider, model)
            self.tokens_in[pair] = self.tokens_in.get(pair, 0) + exchange.tokens_in
            self.tokens_out[pair] = self.tokens_out.get(pair, 0) + exchange.tokens_out

    def _model_label(self, model: str) -> str:
        models = self._models
        if model in models:
            return model
        if len(model) > _MAX_MODEL_LENGTH:
            model = model[:_MAX_MODEL_LENGTH]
            if model in models:
                return model
        if len(models) >= MAX_MODELS:
            return "other"
        models.add(model)
        return model


def _breakers(router: Router) -> Iterator[tuple[str, str, str, float]]:
    """``(provider, target, state, cooldown remaining)`` of the provider targets worth a series.

    Those of the providers declared in the configuration, and every target
    called so far; not every provider the plugins register (most are never used).
    """
    declared = {name.lower() for name in router.config.providers}
    for info in router.describe():
        if not router.is_enabled(info.name):
            continue
        targets = info.targets or ([info.health] if info.health is not None else [])
        for index, health in enumerate(targets):
            used = health.successes or health.failures or health.state != "closed"
            if used or (index == 0 and info.name.lower() in declared):
                yield info.name, health.target or "", health.state, health.cooldown_remaining


def build_registry(metrics: ServerMetrics, router: Callable[[], Router]) -> CollectorRegistry:
    """A registry of its own exporting ``metrics`` and the breakers of ``router()``'s providers.

    Also the process' CPU, memory and open files (``g4f_lite_process_*``, Linux).
    """
    from prometheus_client import CollectorRegistry, ProcessCollector
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
        Metric,
    )
    from prometheus_client.registry import Collector

    class _Collector(Collector):
        def collect(self) -> Iterator[Metric]:
            requests = CounterMetricFamily(
                "g4f_lite_requests",
                "Chat-completion requests answered, by provider, model and outcome.",
                labels=["provider", "model", "outcome"],
            )
            for labels, count in metrics.requests.items():
                requests.add_metric(labels, count)
            yield requests
            for name, doc, table in (
                ("g4f_lite_input_tokens", "Prompt tokens (reported, else estimated).", "in"),
                ("g4f_lite_output_tokens", "Answer tokens (reported, else estimated).", "out"),
            ):
                family = CounterMetricFamily(name, doc, labels=["provider", "model"])
                counts = metrics.tokens_in if table == "in" else metrics.tokens_out
                for pair, count in counts.items():
                    family.add_metric(pair, count)
                yield family
            for name, doc, histograms in (
                (
                    "g4f_lite_request_duration_seconds",
                    "Seconds from a request's arrival to the end of its answer.",
                    metrics.duration,
                ),
                (
                    "g4f_lite_time_to_first_chunk_seconds",
                    "Seconds from a streamed request's arrival to its first chunk.",
                    metrics.first_chunk,
                ),
            ):
                latency = HistogramMetricFamily(name, doc, labels=["provider"])
                for provider, histogram in histograms.items():
                    latency.add_metric([provider], histogram.buckets(), histogram.total)
                yield latency
            for kind, name, doc in (
                ("retry", "g4f_lite_retries", "Attempts retried on the same provider."),
                ("failover", "g4f_lite_failovers", "Providers given up on for the next one."),
                (
                    "skip",
                    "g4f_lite_skips",
                    "Providers skipped without a request: benched or at a rate limit.",
                ),
                ("cooldown", "g4f_lite_breaker_trips", "Times a provider's breaker tripped."),
                ("wait", "g4f_lite_cooldown_waits", "Waits for a benched provider to return."),
            ):
                family = CounterMetricFamily(name, doc, labels=["provider"])
                for provider, count in metrics.events[kind].items():
                    family.add_metric([provider], count)
                yield family
            in_flight = GaugeMetricFamily(
                "g4f_lite_in_flight_requests", "Chat-completion requests being answered now."
            )
            in_flight.add_metric([], metrics.in_flight)
            yield in_flight
            yield from _breaker_families(router(), GaugeMetricFamily)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector())
    ProcessCollector(namespace="g4f_lite", registry=registry)
    return registry


def _breaker_families(router: Router, gauge: Any) -> Iterator[Any]:
    state = gauge(
        "g4f_lite_breaker_state",
        "Circuit breaker of each provider target: 1 for its current state.",
        labels=["provider", "target", "state"],
    )
    cooldown = gauge(
        "g4f_lite_breaker_cooldown_seconds",
        "Seconds until a benched provider target is probed again (0: not benched).",
        labels=["provider", "target"],
    )
    for provider, target, current, remaining in _breakers(router):
        for name in _STATES:
            state.add_metric([provider, target, name], 1.0 if name == current else 0.0)
        cooldown.add_metric([provider, target], remaining)
    yield state
    yield cooldown


def render(registry: CollectorRegistry) -> bytes:
    """The registry's metrics in Prometheus' text format."""
    from prometheus_client import generate_latest

    return generate_latest(registry)
