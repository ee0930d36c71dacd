"""Circuit breaking: benched providers are skipped, probed again, and reported."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from router_helpers import USER, FakeClock, make_router, site_provider

import g4f_lite
from g4f_lite import ChatCompletion
from g4f_lite.cli import main
from g4f_lite.errors import AllProvidersBenchedError, BadRequestError, ServerError
from g4f_lite.health import CircuitBreaker, InMemoryHealthStore
from g4f_lite.router import RouterEvent, set_default_router
from g4f_lite.testing import AIEngineEmulator, Fault


@pytest.fixture
async def sites() -> AsyncIterator[tuple[AIEngineEmulator, AIEngineEmulator]]:
    """A (failing with HTTP 500) and B (healthy), registered in that order."""
    async with AIEngineEmulator(reply="from A") as a, AIEngineEmulator(reply="from B") as b:
        site_provider("A", a)
        site_provider("B", b)
        a.fault = Fault.http_status(500)
        yield a, b


async def test_benched_provider_is_skipped_without_a_request(
    sites: tuple[AIEngineEmulator, AIEngineEmulator],
) -> None:
    a, _ = sites
    clock, events = FakeClock(), list[RouterEvent]()
    router = make_router(clock, events)
    assert await router.complete("", USER) == "from B"
    assert len(a.requests) == 3  # three consecutive failures trip the breaker
    health = router.health_of("A")
    assert health.benched
    assert (health.state, health.cooldown_remaining) == ("open", 30.0)
    assert health.last_error is not None
    assert health.last_error.startswith("ServerError: HTTP 500")
    assert ("cooldown", "A", 30.0) in [(e.kind, e.provider, e.wait) for e in events]

    events.clear()
    clock.advance(10)
    for _ in range(5):
        assert await router.complete("", USER) == "from B"
    assert len(a.requests) == 3  # not one more request to A
    skips = [e for e in events if e.kind == "skip"]
    assert len(skips) == 5
    assert skips[0].wait == 20.0


async def test_half_open_probe_recovers_the_provider(
    sites: tuple[AIEngineEmulator, AIEngineEmulator],
) -> None:
    a, _ = sites
    clock = FakeClock()
    router = make_router(clock)
    await router.complete("", USER)
    a.fault = None  # the site comes back
    clock.advance(30)
    assert router.health_of("A").state == "half_open"
    assert await router.complete("", USER) == "from A"
    assert len(a.requests) == 4  # exactly one probe
    health = router.health_of("A")
    assert (health.state, health.consecutive_failures, health.trips) == ("closed", 0, 0)


async def test_failed_probe_benches_again_for_longer(
    sites: tuple[AIEngineEmulator, AIEngineEmulator],
) -> None:
    a, _ = sites
    clock = FakeClock()
    router = make_router(clock)
    await router.complete("", USER)
    clock.advance(30)
    assert await router.complete("", USER) == "from B"
    assert len(a.requests) == 4  # the probe only: no retries once benched again
    health = router.health_of("A")
    assert (health.trips, health.cooldown_remaining) == (2, 60.0)


def test_only_one_probe_at_a_time() -> None:
    store = InMemoryHealthStore(CircuitBreaker(failure_threshold=1, cooldown=5))
    assert store.record_failure("A", 0.0, "ServerError: boom") == 5.0
    denied = store.admit("A", 1.0)
    assert (denied.allowed, denied.retry_after) == (False, 4.0)
    assert store.admit("A", 5.0).probe
    assert not store.admit("A", 5.0).allowed  # the probe is still in flight
    store.release("A")  # e.g. the caller cancelled
    assert store.admit("a", 5.0).probe  # names are case-insensitive


def test_cooldown_grows_per_trip_up_to_the_cap() -> None:
    breaker = CircuitBreaker(cooldown=10, cooldown_factor=2, max_cooldown=25)
    assert [breaker.cooldown_for(n) for n in (1, 2, 3, 4)] == [10, 20, 25, 25]
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker(failure_threshold=0)


async def test_all_benched_waits_for_the_first_cooldown_when_it_fits(
    site: AIEngineEmulator,
) -> None:
    site_provider("A", site)
    site.fault = Fault.http_status(500)
    clock, events = FakeClock(), list[RouterEvent]()
    router = make_router(clock, events, cooldown=5)
    with pytest.raises(ServerError):
        await router.complete("", USER, provider="A")
    site.fault = None
    clock.advance(1)
    sleeps_before = len(clock.sleeps)
    assert await router.complete("", USER, provider="A")
    assert clock.sleeps[sleeps_before:] == [4.0]  # waited for the cooldown, then probed
    assert ("wait", "A", 4.0) in [(e.kind, e.provider, e.wait) for e in events]


@pytest.mark.parametrize(
    ("options", "why"),
    [
        ({}, "longer than max_cooldown_wait=10 s"),
        ({"wait_for_cooldown": False}, r"waiting is turned off"),
    ],
)
async def test_all_benched_fails_clearly_when_waiting_does_not_fit(
    sites: tuple[AIEngineEmulator, AIEngineEmulator], options: dict[str, Any], why: str
) -> None:
    a, b = sites
    b.fault = Fault.http_status(500)
    clock = FakeClock()
    router = make_router(clock, **options)
    with pytest.raises(g4f_lite.errors.AllProvidersFailedError):
        await router.complete("", USER)
    clock.advance(5)
    with pytest.raises(AllProvidersBenchedError, match=why) as info:
        await router.complete("", USER)
    error = info.value
    # A was benched 1.5 s (of backoff) before B: it comes back first.
    assert error.retry_after == 23.5
    assert error.benched == {"A": 23.5, "B": 25.0}
    message = str(error)
    assert "A for 23.5 s (3 consecutive failures, last ServerError: HTTP 500" in message
    assert "; B for 25.0 s (" in message
    assert "The first is probed again in 23.5 s, but not waiting" in message
    assert (len(a.requests), len(b.requests)) == (3, 3)


async def test_all_benched_does_not_wait_past_the_deadline(site: AIEngineEmulator) -> None:
    site_provider("A", site)
    site.fault = Fault.http_status(500)
    clock = FakeClock()
    router = make_router(clock, cooldown=5)
    with pytest.raises(ServerError):
        await router.complete("", USER, provider="A")
    with pytest.raises(AllProvidersBenchedError, match="beyond the call's 3 s deadline"):
        await router.complete("", USER, provider="A", timeout=3)


async def test_the_callers_bad_request_is_no_mark_against_the_provider(
    site: AIEngineEmulator,
) -> None:
    site_provider("A", site)
    site.fault = Fault.http_status(404)
    router = make_router(FakeClock(), threshold=1)
    for _ in range(3):
        with pytest.raises(BadRequestError):
            await router.complete("", USER, provider="A")
    assert len(site.requests) == 3
    assert router.health_of("A").failures == 0


async def test_providers_and_cli_show_live_health(
    sites: tuple[AIEngineEmulator, AIEngineEmulator],
) -> None:
    # The default router and g4f_lite.providers() share the process-wide store.
    set_default_router(g4f_lite.Router(retry=g4f_lite.RetryPolicy(initial=0, jitter=0)))
    assert await ChatCompletion.create_async("", USER) == "from B"
    infos = {info.name: info for info in g4f_lite.providers(working=True)}
    a, b = infos["A"].health, infos["B"].health
    assert a is not None
    assert b is not None
    assert (a.state, a.failures, a.benched) == ("open", 3, True)
    assert (b.state, b.successes, b.failures) == ("closed", 1, 0)
    assert b.first_chunk is not None

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["providers", "--working"]) == 0
    lines = out.getvalue().splitlines()
    header = lines[0].split()
    assert header[header.index("health") :][:3] == ["health", "ok/fail", "ttfc"]
    row_a = next(line for line in lines if line.startswith("A "))
    row_b = next(line for line in lines if line.startswith("B "))
    assert "benched 30s" in row_a
    assert "0/3" in row_a
    assert " ok " in row_b
    assert "1/0" in row_b

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["providers", "--json", "--working"]) == 0
    listed = {item["name"]: item for item in json.loads(out.getvalue())}
    assert listed["A"]["health"]["consecutive_failures"] == 3
    assert listed["A"]["working"] is True  # the static flags are still there


async def test_benched_by_a_concurrent_call_between_retries(site: AIEngineEmulator) -> None:
    site_provider("A", site)
    site.fault = Fault.http_status(500)

    class BusyClock(FakeClock):
        """While this call backs off, another call's failure trips A's breaker."""

        async def sleep(self, seconds: float) -> None:
            await super().sleep(seconds)
            router.health.record_failure("A", self.now(), "ServerError: elsewhere")

    router = make_router(BusyClock(), threshold=2)
    with pytest.raises(ServerError) as info:
        await router.complete("", USER, provider="A")
    assert len(site.requests) == 1  # the retry was skipped: A is benched now
    assert not isinstance(info.value.__context__, g4f_lite.errors.ProviderBenchedError)


async def test_concurrent_calls_send_a_single_probe(
    sites: tuple[AIEngineEmulator, AIEngineEmulator],
) -> None:
    a, b = sites
    clock = FakeClock()
    router = make_router(clock)
    await router.complete("", USER)  # benches A
    a.fault = Fault.slow_first_byte(0.2)  # A recovers, slowly
    clock.advance(30)
    answers = await asyncio.gather(*(router.complete("", USER) for _ in range(5)))
    assert len(a.requests) == 4  # three failures, then exactly one probe
    assert sorted(answers) == ["from A"] + ["from B"] * 4
    assert len(b.requests) == 1 + 4
    assert router.health_of("A").state == "closed"
