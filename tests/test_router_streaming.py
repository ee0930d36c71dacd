"""Streams through the router: no duplicated text, and every kind of timeout."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar

import pytest
from router_helpers import USER, FakeClock, make_router, site_provider

from g4f_lite import ChatCompletion
from g4f_lite.errors import (
    ConnectTimeoutError,
    FirstChunkTimeoutError,
    IdleTimeoutError,
    PartialResponseError,
    TotalTimeoutError,
    TruncatedResponseError,
)
from g4f_lite.provider import AsyncGeneratorProvider
from g4f_lite.registry import registry
from g4f_lite.router import Router, RouterEvent, Timeouts
from g4f_lite.testing import AIEngineEmulator, Fault
from g4f_lite.types import Messages

REPLY = "Hello from the AI Engine emulator! You said: Hi"


async def drain(chunks: AsyncIterator[str]) -> tuple[list[str], BaseException | None]:
    """Every chunk received, and the error that ended the stream (if any)."""
    received: list[str] = []
    try:
        async for chunk in chunks:
            received.append(chunk)
    except Exception as exc:
        return received, exc
    return received, None


@pytest.fixture
async def two_sites() -> AsyncIterator[tuple[AIEngineEmulator, AIEngineEmulator]]:
    async with AIEngineEmulator() as a, AIEngineEmulator(reply="from B") as b:
        site_provider("A", a)
        site_provider("B", b)
        yield a, b


async def test_mid_stream_failure_is_partial_and_never_replayed(
    two_sites: tuple[AIEngineEmulator, AIEngineEmulator],
) -> None:
    a, b = two_sites
    a.faults.append(Fault.drop(after=2))
    chunks, error = await drain(make_router(FakeClock()).stream("", USER))
    assert chunks == ["Hello ", "from "]
    assert isinstance(error, PartialResponseError)
    assert error.provider == "A"
    assert error.partial == "Hello from "
    assert isinstance(error.cause, TruncatedResponseError)
    assert error.__cause__ is error.cause
    assert len(a.requests) == 1
    assert len(b.requests) == 0  # no silent restart elsewhere


async def test_stream_dropped_before_any_text_is_retried_then_failed_over(
    two_sites: tuple[AIEngineEmulator, AIEngineEmulator],
) -> None:
    a, _ = two_sites
    a.faults.append(Fault.drop(after=0))
    chunks, error = await drain(make_router(FakeClock()).stream("", USER))
    assert error is None
    assert "".join(chunks) == REPLY  # exactly once
    assert len(a.requests) == 2

    a.fault = Fault.drop(after=0)
    chunks, error = await drain(make_router(FakeClock()).stream("", USER))
    assert (chunks, error) == (["from ", "B"], None)


async def test_whole_answer_retry_after_a_mid_answer_drop_returns_it_once(
    two_sites: tuple[AIEngineEmulator, AIEngineEmulator],
) -> None:
    a, _ = two_sites
    a.faults.append(Fault.drop(after=3))
    assert await make_router(FakeClock()).complete("", USER) == REPLY
    assert len(a.requests) == 2


async def test_caller_stopping_early_counts_as_success(
    two_sites: tuple[AIEngineEmulator, AIEngineEmulator],
) -> None:
    router = make_router(FakeClock())
    stream = router.stream("", USER)
    assert await stream.__anext__() == "Hello "
    await stream.aclose()  # type: ignore[attr-defined]
    health = router.health_of("A")
    assert (health.successes, health.failures) == (1, 0)


def test_sync_stream_fails_over_through_the_portal(
    aiengine_emulator: AIEngineEmulator,
) -> None:
    with AIEngineEmulator(reply="second site").run_in_thread() as second:
        site_provider("A", aiengine_emulator)
        site_provider("B", second)
        aiengine_emulator.fault = Fault.http_status(403)
        chunks: Iterator[str] = ChatCompletion.create("", USER, stream=True)
        assert list(chunks) == ["second ", "site"]
        assert ChatCompletion.create("", USER, provider=["B", "A"]) == "second site"


# -- timeouts -----------------------------------------------------------------


def test_idle_timeout_holds_in_a_sync_stream(aiengine_emulator: AIEngineEmulator) -> None:
    # The portal reads a sync stream from one task, so the idle guard can
    # interrupt the wait for the stalled provider.
    site_provider("A", aiengine_emulator)
    aiengine_emulator.fault = Fault.stall(after=2, delay=2)
    router = Router(["A"], timeouts=Timeouts(idle=0.1))
    received: list[str] = []

    def read_all() -> None:
        for chunk in ChatCompletion.create("", USER, stream=True, router=router):
            received.append(chunk)

    with pytest.raises(PartialResponseError) as caught:
        read_all()
    assert received == ["Hello ", "from "]
    assert type(caught.value.cause) is IdleTimeoutError


class Stalled(AsyncGeneratorProvider):
    """A provider that never sends its first chunk; records whether it was let go."""

    working = True
    released: ClassVar[asyncio.Event]

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[str]:
        try:
            await asyncio.Event().wait()  # never set: no limit is ever long enough
        finally:
            cls.released.set()
        yield "never sent"


async def test_first_chunk_timeout_fails_over(site: AIEngineEmulator) -> None:
    # The stalled provider never answers, so the limit can be generous enough
    # for the healthy fallback to make it on a loaded machine: a limit that also
    # had to undercut a finite stall made the fallback miss it too under load.
    released = asyncio.Event()
    registry.register(type("A", (Stalled,), {"name": "A", "released": released}))
    site_provider("B", site)
    events: list[RouterEvent] = []
    router = make_router(FakeClock(), events, max_attempts=1, timeouts=Timeouts(first_chunk=2))
    assert await router.complete("", USER) == REPLY
    failover = next(e for e in events if e.kind == "failover")
    assert (failover.provider, type(failover.error)) == ("A", FirstChunkTimeoutError)
    assert "2 s first-chunk limit" in str(failover.error)
    assert released.is_set()  # the stalled call was cancelled, not left behind


async def test_idle_timeout_mid_stream_is_partial(
    two_sites: tuple[AIEngineEmulator, AIEngineEmulator],
) -> None:
    a, b = two_sites
    a.fault = Fault.stall(after=2, delay=0.5)
    router = make_router(FakeClock(), timeouts=Timeouts(idle=0.05))
    chunks, error = await drain(router.stream("", USER))
    assert chunks == ["Hello ", "from "]
    assert isinstance(error, PartialResponseError)
    assert type(error.cause) is IdleTimeoutError
    assert len(b.requests) == 0


async def test_idle_timeout_of_a_whole_answer_keeps_the_partial_text(
    site: AIEngineEmulator,
) -> None:
    site_provider("A", site)
    site.fault = Fault.stall(after=2, delay=0.5)
    router = make_router(FakeClock(), max_attempts=1, timeouts=Timeouts(idle=0.05))
    with pytest.raises(IdleTimeoutError) as info:
        await router.complete("", USER, provider="A")
    assert info.value.partial == "Hello from "


async def test_total_timeout_is_not_retried(site: AIEngineEmulator) -> None:
    site_provider("A", site)
    site.fault = Fault.slow_first_byte(0.5)
    router = make_router(FakeClock(), timeouts=Timeouts(first_chunk=None))
    with pytest.raises(TotalTimeoutError, match=r"0\.1 s deadline"):
        await router.complete("", USER, provider="A", timeout=0.1)
    assert len(site.requests) == 1


@pytest.fixture
def unanswered_port() -> Iterator[int]:
    """A loopback port whose accept queue is full, so that connecting hangs."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):  # the handshake completes in the kernel
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    try:
        yield port
    finally:
        for filler in fillers:
            filler.close()
        server.close()


async def test_connect_timeout(unanswered_port: int) -> None:
    site_provider("A", f"http://127.0.0.1:{unanswered_port}")
    router = make_router(FakeClock(), max_attempts=1, timeouts=Timeouts(connect=0.1))
    with pytest.raises(ConnectTimeoutError, match="could not connect in time"):
        await router.complete("", USER, provider="A")


def test_timeouts_must_be_positive() -> None:
    with pytest.raises(ValueError, match=r"Timeouts.idle must be positive"):
        Timeouts(idle=0)
    assert Router().timeouts.total is None


async def test_a_slow_reader_is_not_an_idle_provider() -> None:
    # Only time spent waiting on the provider counts against the idle limit.
    async with AIEngineEmulator(reply="one two three") as a:
        site_provider("A", a)
        router = make_router(FakeClock(), timeouts=Timeouts(idle=0.05))
        received = []
        async for chunk in router.stream("", USER):
            received.append(chunk)
            await asyncio.sleep(0.1)
    assert received == ["one ", "two ", "three"]


async def test_cancelling_the_caller_is_not_a_timeout_nor_a_failure(
    site: AIEngineEmulator,
) -> None:
    site_provider("A", site)
    site.fault = Fault.slow_first_byte(0.3)
    router = make_router(FakeClock(), timeouts=Timeouts(first_chunk=5))
    task = asyncio.ensure_future(router.complete("", USER))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    health = router.health_of("A")
    assert (health.successes, health.failures) == (0, 0)
