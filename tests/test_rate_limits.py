"""Rate limits per provider (``rpm``, ``tpm``) with the in-memory store, in one process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest
from router_helpers import USER, FakeClock

from g4f_lite import config, errors
from g4f_lite.health import InMemoryHealthStore, RateLimit, WindowLimiter
from g4f_lite.provider import AsyncGeneratorProvider, BaseProvider
from g4f_lite.registry import registry
from g4f_lite.router import RetryPolicy, Router
from g4f_lite.types import Chunk, Messages, Usage


class Counted(AsyncGeneratorProvider):
    """Answers at once, reporting 100 tokens of usage; counts the requests it gets."""

    working = True
    calls: ClassVar[int] = 0

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[Chunk]:
        cls.calls += 1
        yield "hello"
        yield Usage.of(40, 60)


def counted(name: str) -> type[Counted]:
    provider = registry.register(type(name, (Counted,), {"name": name, "calls": 0}))
    assert issubclass(provider, Counted)
    return provider


def limited_router(clock: FakeClock, **options: Any) -> Router:
    return Router(
        clock=clock,
        health=InMemoryHealthStore(),
        retry=RetryPolicy(max_attempts=1),
        **options,
    )


# -- the window ----------------------------------------------------------------------


def test_requests_per_minute_slide() -> None:
    limiter, limit = WindowLimiter(), RateLimit(rpm=3)
    assert [limiter.acquire("p", t, limit) for t in (0.0, 10.0, 20.0)] == [None, None, None]
    refused = limiter.acquire("p", 30.0, limit)
    assert refused is not None
    assert refused[0] == pytest.approx(30.0)  # the request at 0 leaves the window at 60
    assert "3 requests" in refused[1]
    assert limiter.acquire("p", 60.5, limit) is None  # one slot freed
    assert limiter.acquire("p", 61.0, limit) is not None
    assert limiter.acquire("other", 61.0, limit) is None  # per provider


def test_tokens_per_minute_count_reported_usage() -> None:
    limiter, limit = WindowLimiter(), RateLimit(tpm=150)
    assert limiter.acquire("p", 0.0, limit) is None
    limiter.record_usage("p", 1.0, 100)
    assert limiter.acquire("p", 2.0, limit) is None  # 100 < 150
    limiter.record_usage("p", 3.0, 100)
    refused = limiter.acquire("p", 4.0, limit)
    assert refused is not None
    assert refused[0] == pytest.approx(57.0)  # the first 100 leave at 61
    assert "150 tokens" in refused[1]
    assert limiter.acquire("p", 61.5, limit) is None


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="rpm"):
        RateLimit(rpm=0)
    for value in (0, -1, "10", 1.5):
        with pytest.raises(errors.ConfigurationError, match="rpm"):
            config.load_config({"providers": {"Opchatgpts": {"rpm": value}}})


# -- through the router ----------------------------------------------------------------


async def test_a_provider_at_its_rpm_is_skipped_without_a_request() -> None:
    provider = counted("Limited")
    config.configure({"providers": {"Limited": {"rpm": 2}}})
    router = limited_router(FakeClock(), wait_for_cooldown=False)
    for _ in range(2):
        assert await router.complete("m", USER, provider="Limited") == "hello"
    with pytest.raises(errors.AllProvidersBenchedError) as caught:
        await router.complete("m", USER, provider="Limited")
    assert provider.calls == 2
    assert "2 requests per 60 s" in str(caught.value)


async def test_at_its_limit_the_router_fails_over() -> None:
    limited, spare = counted("Limited"), counted("Spare")
    config.configure({"providers": {"Limited": {"rpm": 1}}})
    router = limited_router(FakeClock(), providers=["Limited", "Spare"])
    assert await router.complete("m", USER) == "hello"
    assert await router.complete("m", USER) == "hello"
    assert (limited.calls, spare.calls) == (1, 1)


async def test_wait_for_cooldown_waits_for_the_window() -> None:
    provider = counted("Limited")
    config.configure({"providers": {"Limited": {"rpm": 1}}})
    clock = FakeClock()
    router = limited_router(clock, max_cooldown_wait=120)
    await router.complete("m", USER, provider="Limited")
    clock.advance(15)
    assert await router.complete("m", USER, provider="Limited") == "hello"
    assert clock.sleeps == [pytest.approx(45.0)]
    assert provider.calls == 2


async def test_tpm_counts_streamed_and_whole_answers() -> None:
    provider: type[BaseProvider] = counted("Limited")
    config.configure({"providers": {"Limited": {"tpm": 150}}})
    router = limited_router(FakeClock(), wait_for_cooldown=False)
    await router.complete("m", USER, provider="Limited")  # 100 tokens
    assert [c async for c in router.stream("m", USER, provider="Limited")] == ["hello"]
    with pytest.raises(errors.AllProvidersBenchedError, match="150 tokens"):
        await router.complete("m", USER, provider="Limited")
    assert provider.calls == 2  # type: ignore[attr-defined]


async def test_a_store_without_limits_gets_the_routers_own() -> None:
    class Plain:
        """A custom store: the protocol's methods only (no acquire, no record_usage)."""

        def __init__(self) -> None:
            self.inner = InMemoryHealthStore()
            self.admit = self.inner.admit
            self.record_success = self.inner.record_success
            self.record_failure = self.inner.record_failure
            self.release = self.inner.release
            self.snapshot = self.inner.snapshot
            self.reset = self.inner.reset

    provider = counted("Limited")
    config.configure({"providers": {"Limited": {"rpm": 1, "tpm": 1000}}})
    router = Router(
        clock=FakeClock(),
        health=Plain(),
        retry=RetryPolicy(max_attempts=1),
        wait_for_cooldown=False,
    )
    await router.complete("m", USER, provider="Limited")
    with pytest.raises(errors.AllProvidersBenchedError):
        await router.complete("m", USER, provider="Limited")
    assert provider.calls == 1


async def test_no_limit_configured_costs_no_window() -> None:
    counted("Free")
    router = limited_router(FakeClock())
    for _ in range(5):
        await router.complete("m", USER, provider="Free")
    store = router.health
    assert isinstance(store, InMemoryHealthStore)
    assert not store.limiter._requests
