"""Retries, Retry-After, failover and the all-failed error, against emulated sites."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from router_helpers import USER, FakeClock, make_router, site_provider

import g4f_lite
from g4f_lite import ChatCompletion
from g4f_lite.errors import (
    AllProvidersFailedError,
    AuthenticationError,
    RateLimitError,
    ServerError,
    UpstreamError,
)
from g4f_lite.router import RouterEvent
from g4f_lite.testing import AIEngineEmulator, Fault


def kinds(events: list[RouterEvent]) -> list[tuple[str, str]]:
    return [(e.kind, e.provider) for e in events]


async def test_retry_then_success_with_exponential_backoff(site: AIEngineEmulator) -> None:
    site_provider("A", site)
    site.faults.extend([Fault.http_status(500), Fault.http_status(503)])
    clock, events = FakeClock(), list[RouterEvent]()
    router = make_router(clock, events)
    assert await router.complete("", USER) == "Hello from the AI Engine emulator! You said: Hi"
    assert len(site.requests) == 3
    assert clock.sleeps == [0.5, 1.0]  # exponential, no jitter in tests
    assert kinds(events) == [
        ("attempt", "A"),
        ("retry", "A"),
        ("attempt", "A"),
        ("retry", "A"),
        ("attempt", "A"),
        ("success", "A"),
    ]
    assert router.health_of("A").consecutive_failures == 0


async def test_retry_after_is_honoured_from_the_latest_error(site: AIEngineEmulator) -> None:
    site_provider("A", site)
    site.faults.extend(
        [Fault.http_status(429, retry_after=2), Fault.http_status(429, retry_after=7)]
    )
    clock = FakeClock()
    assert await make_router(clock).complete("", USER)
    assert clock.sleeps == [2.0, 7.0]  # not [2, 2]: each wait follows its own error


async def test_too_long_retry_after_fails_over_instead_of_waiting() -> None:
    async with AIEngineEmulator() as a, AIEngineEmulator(reply="from B") as b:
        site_provider("A", a)
        site_provider("B", b)
        a.faults.append(Fault.http_status(429, retry_after=3600))
        clock = FakeClock()
        assert await make_router(clock).complete("", USER) == "from B"
        assert clock.sleeps == []
        assert len(a.requests) == 1


async def test_failover_follows_the_order_and_skips_retries_for_permanent_errors() -> None:
    async with (
        AIEngineEmulator() as a,
        AIEngineEmulator() as b,
        AIEngineEmulator(reply="from C") as c,
    ):
        site_provider("A", a)
        site_provider("B", b)
        site_provider("C", c)
        a.fault = Fault.http_status(500)  # retryable: tried 3 times
        b.fault = Fault.http_status(401)  # not retryable: tried once
        clock, events = FakeClock(), list[RouterEvent]()
        router = make_router(clock, events, threshold=10)
        assert await router.complete("", USER) == "from C"
        assert (len(a.requests), len(b.requests), len(c.requests)) == (3, 1, 1)
        failovers = [(e.provider, e.next_provider) for e in events if e.kind == "failover"]
        assert failovers == [("A", "B"), ("B", "C")]
        causes = {e.provider: type(e.error) for e in events if e.kind == "failover"}
        assert causes == {"A": ServerError, "B": AuthenticationError}


async def test_given_order_is_the_failover_order() -> None:
    async with AIEngineEmulator(reply="from A") as a, AIEngineEmulator(reply="from B") as b:
        site_provider("A", a)
        site_provider("B", b)
        a.fault = Fault.http_status(403)
        router = make_router(FakeClock())
        assert await router.complete("", USER, provider=["B", "A"]) == "from B"
        assert len(a.requests) == 0
        b.fault = Fault.http_status(403)
        a.fault = None
        assert await router.complete("", USER, provider=["B", "A"]) == "from A"


async def test_all_failed_lists_every_attempt_and_keeps_same_named_classes_apart() -> None:
    async with AIEngineEmulator() as a, AIEngineEmulator() as b:
        # Two providers whose classes share a name: their entries must not collapse.
        site_provider("SiteA", a, class_name="Site")
        site_provider("SiteB", b, class_name="Site")
        a.fault = Fault.http_status(500)
        b.fault = Fault.error_event(message="Upstream: model overloaded")
        router = make_router(FakeClock(), threshold=10, max_attempts=2)
        with pytest.raises(AllProvidersFailedError) as info:
            await router.complete("", USER)
    error = info.value
    assert [(x.provider, x.number, x.error_type) for x in error.attempts] == [
        ("SiteA", 1, "ServerError"),
        ("SiteA", 2, "ServerError"),
        ("SiteB", 1, "UpstreamError"),
        ("SiteB", 2, "UpstreamError"),
    ]
    assert error.providers == ["SiteA", "SiteB"]
    assert [type(e) for e in error.exceptions] == [ServerError] * 2 + [UpstreamError] * 2
    assert error.__cause__ is error.exceptions[-1]
    message = str(error)
    assert error.message == message.splitlines()[0]
    assert error.message.startswith("all 2 provider(s) failed (4 attempt(s)")
    assert "SiteB #2: UpstreamError: Upstream: model overloaded" in message
    assert all(x.elapsed >= 0 for x in error.attempts)


async def test_a_single_named_provider_raises_its_own_error(site: AIEngineEmulator) -> None:
    site.fault = Fault.http_status(401)
    with pytest.raises(AuthenticationError):
        await ChatCompletion.create_async("", USER, provider="Opchatgpts", base_url=site.url)
    assert len(site.requests) == 1  # auth failures are not retried


async def test_single_named_provider_is_retried_and_raises_after_the_budget(
    site: AIEngineEmulator,
) -> None:
    site_provider("A", site)
    site.fault = Fault.http_status(429, retry_after=1)
    clock = FakeClock()
    with pytest.raises(RateLimitError) as info:
        await make_router(clock, threshold=10).complete("", USER, provider="A")
    assert info.value.retry_after == 1
    assert len(site.requests) == 3
    assert clock.sleeps == [1.0, 1.0]


async def test_max_providers_and_deadline_budgets(site: AIEngineEmulator) -> None:
    async with AIEngineEmulator() as other:
        site_provider("A", site)
        site_provider("B", other)
        site.fault = other.fault = Fault.http_status(500)
        router = make_router(FakeClock(), threshold=10, max_providers=1)
        with pytest.raises(AllProvidersFailedError, match="max_providers=1"):
            await router.complete("", USER)
        assert len(other.requests) == 0

        # A 1.2 s deadline leaves room for a 0.5 s backoff per provider, not a 1 s one.
        clock = FakeClock()
        with pytest.raises(
            AllProvidersFailedError, match=r"would pass the 1\.2 s deadline"
        ) as info:
            await make_router(clock, threshold=10).complete("", USER, timeout=1.2)
        assert clock.sleeps == [0.5, 0.5]
        assert [x.provider for x in info.value.attempts] == ["A", "A", "B", "B"]


async def test_events_reach_listeners_and_plugin_hooks(site: AIEngineEmulator) -> None:
    seen: list[str] = []

    class Observer:
        @g4f_lite.hookimpl
        def router_event(self, event: RouterEvent) -> None:
            seen.append(event.kind)

    def broken(event: RouterEvent) -> None:
        raise RuntimeError("observer bug")

    from g4f_lite.registry import registry

    site_provider("A", site)
    registry.plugin_manager.register(Observer())
    events: list[RouterEvent] = []
    router = make_router(FakeClock(), on_event=[events.append, broken])
    assert await router.complete("", USER)  # a failing observer does not fail the call
    assert seen == ["attempt", "success"] == [e.kind for e in events]


async def test_logs_never_contain_secrets(
    site: AIEngineEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    site_provider("A", site, needs_auth=True)
    site.faults.append(Fault.http_status(500))
    secret: dict[str, Any] = {"api_key": "sk-SECRET", "cookies": {"session": "COOKIE-SECRET"}}
    router = make_router(FakeClock(), provider_kwargs={"A": secret})
    with caplog.at_level(logging.DEBUG, logger="g4f_lite"):
        assert await router.complete("", USER)
    assert "attempt 1 of provider A" in caplog.text
    assert "SECRET" not in caplog.text
