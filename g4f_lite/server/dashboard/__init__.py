"""The live dashboard of ``serve``: its JSON state, and the page that shows it.

``GET /dashboard`` serves ``index.html`` (with ``dashboard.js`` and
``dashboard.css`` beside it, shipped as package data: no CDN, no build
step). The page polls ``GET /v1/dashboard/state``
(:class:`DashboardState`, behind the API key like every ``/v1/`` route)
and chats through ``POST /v1/chat/completions``.

The state joins three views of each provider: its availability and
capabilities (:class:`~g4f_lite.types.ProviderInfo`), the router's health
at each target (breaker state, cooldown, last error), and this server's
recent requests (:class:`~g4f_lite.server.stats.RequestStats`: rate,
latency percentiles and samples, last errors). Every error text is
scrubbed of the server's and the providers' secrets.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Mapping
from importlib import resources

from pydantic import BaseModel, Field

from ... import __version__
from ...redact import scrub
from ...types import HealthState, ProviderHealth, ProviderInfo
from ..stats import RequestStats

__all__ = [
    "ASSETS",
    "DashboardError",
    "DashboardProvider",
    "DashboardState",
    "DashboardTarget",
    "asset",
    "build_state",
    "page",
]

#: How often the page asks for the state, in seconds.
REFRESH_SECONDS = 2.0

#: The files served under ``/dashboard/``, with their content types.
ASSETS = {
    "dashboard.js": "text/javascript",
    "dashboard.css": "text/css",
}

# Filled in when the page is served: whether the data needs a key, so that
# the page asks for one before its first request instead of collecting a 401.
_AUTH_PLACEHOLDER = "{{auth}}"


class DashboardError(BaseModel):
    """One recent failure of a provider, as this server saw it."""

    age: float = Field(description="Seconds since it happened.")
    message: str = Field(description='"ErrorType: message", secrets masked.')


class DashboardTarget(BaseModel):
    """The router's health of a provider at one target (a ``base_url``)."""

    target: str | None = Field(description="The site, without userinfo; None: not known.")
    state: HealthState
    cooldown_remaining: float = Field(description="Seconds until a benched target is tried again.")
    consecutive_failures: int
    last_error: str | None = Field(description="The router's latest error there, masked.")


class DashboardProvider(BaseModel):
    """One row of the dashboard: a provider, its health and its recent requests."""

    name: str
    available: bool | None = Field(
        description="Credentials present and, for a local server, something listening."
    )
    configured: bool = Field(description="It has a [providers.NAME] table.")
    excluded: str | None = Field(
        default=None, description="Why the server never routes to it (e.g. it is this server)."
    )
    default_model: str | None = None
    state: HealthState = Field(description="The breaker's state at the default target.")
    benched: bool = Field(description="Skipped by the router until its cooldown ends.")
    cooldown_remaining: float
    target: str | None = Field(description="The default target, without userinfo.")
    targets: list[DashboardTarget] = Field(
        description="Every target called so far, the default first."
    )
    requests_per_minute: int = Field(description="Requests it got in the last minute.")
    requests: int = Field(description="Requests it got since the server started.")
    failures: int = Field(description="Of those, how many failed.")
    p50_ms: float | None = Field(description="Median latency of recent successes.")
    p95_ms: float | None = Field(description="95th percentile latency of recent successes.")
    latencies_ms: list[float] = Field(description="Recent successful latencies, oldest first.")
    errors: list[DashboardError] = Field(description="Its latest failures, newest first.")


class DashboardState(BaseModel):
    """``GET /v1/dashboard/state`` (extension): everything the dashboard shows."""

    object: str = "dashboard.state"
    version: str = __version__
    time: float = Field(description="The server's clock, Unix seconds.")
    refresh_seconds: float = REFRESH_SECONDS
    providers: list[DashboardProvider]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _target(health: ProviderHealth, secrets: frozenset[str]) -> DashboardTarget:
    return DashboardTarget(
        target=health.target,
        state=health.state,
        cooldown_remaining=round(health.cooldown_remaining, 2),
        consecutive_failures=health.consecutive_failures,
        last_error=scrub(health.last_error, secrets) if health.last_error else None,
    )


def build_state(
    infos: Iterable[ProviderInfo],
    stats: RequestStats,
    *,
    configured: Iterable[str] = (),
    excluded: Mapping[str, str] | None = None,
    secrets: Iterable[str] = (),
) -> DashboardState:
    """The dashboard's state from the providers' descriptions and the server's stats.

    ``configured``: the provider names with a configuration table (any
    case); ``excluded``: why a provider is never routed to, by name.
    """
    known = frozenset(secrets)
    tables = {name.lower() for name in configured}
    excluded = excluded or {}
    rows = []
    for info in infos:
        health = info.health or ProviderHealth()
        targets = info.targets or [health]
        summary = stats.summary(info.name)
        rows.append(
            DashboardProvider(
                name=info.name,
                available=info.available,
                configured=info.name.lower() in tables,
                excluded=excluded.get(info.name),
                default_model=info.default_model,
                state=health.state,
                benched=health.benched,
                cooldown_remaining=round(health.cooldown_remaining, 2),
                target=health.target,
                targets=[_target(t, known) for t in targets],
                requests_per_minute=summary.rate,
                requests=summary.requests,
                failures=summary.failures,
                p50_ms=_ms(summary.p50),
                p95_ms=_ms(summary.p95),
                latencies_ms=[round(s * 1000, 1) for s in summary.recent],
                # Kept scrubbed already; masked again with today's secrets, which
                # a configuration reload may have added.
                errors=[
                    DashboardError(age=round(age, 1), message=scrub(text, known))
                    for age, text in summary.errors
                ],
            )
        )
    return DashboardState(time=time.time(), providers=rows)


@functools.cache
def _read(name: str) -> bytes:
    return resources.files(__name__).joinpath(name).read_bytes()


def page(auth_required: bool) -> bytes:
    """``index.html``, telling the page whether the data endpoints want a key."""
    return _read("index.html").replace(
        _AUTH_PLACEHOLDER.encode(), b"required" if auth_required else b"none"
    )


def asset(name: str) -> bytes:
    """The bytes of one of :data:`ASSETS`; ``KeyError`` for any other name."""
    if name not in ASSETS:
        raise KeyError(name)
    return _read(name)
