"""Helpers for the router tests: a fake clock and providers aimed at emulators."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from g4f_lite_opchatgpts import Opchatgpts

from g4f_lite.health import CircuitBreaker, InMemoryHealthStore
from g4f_lite.provider import AsyncGeneratorProvider, BaseProvider
from g4f_lite.registry import registry
from g4f_lite.router import RetryPolicy, Router, RouterEvent, Timeouts
from g4f_lite.testing import AIEngineEmulator
from g4f_lite.types import Chunk, Messages

USER = [{"role": "user", "content": "Hi"}]


class FakeClock:
    """A clock whose ``sleep`` returns at once, moving time forward; records every sleep."""

    def __init__(self, start: float = 1000.0) -> None:
        self.time = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.time += seconds
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        self.time += seconds


class SiteProvider(Opchatgpts):
    """Opchatgpts aimed at a fixed site; subclasses are made per emulator."""

    site_url: ClassVar[str] = ""
    working = True

    @classmethod
    def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[Chunk]:
        return super().create_async_generator(
            model, messages, proxy, base_url=cls.site_url, **kwargs
        )


def site_provider(
    name: str, site: AIEngineEmulator | str, *, class_name: str | None = None, **flags: Any
) -> type[BaseProvider]:
    """Register a provider called ``name`` that talks to ``site`` (an emulator or a URL)."""
    url = site if isinstance(site, str) else site.url
    attrs = {"name": name, "site_url": url, **flags}
    return registry.register(type(class_name or name, (SiteProvider,), attrs))


class Echo(AsyncGeneratorProvider):
    """A provider without network: answers with its own name."""

    working = True

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[str]:
        yield cls.name


def echo_provider(name: str, **flags: Any) -> type[BaseProvider]:
    """Register an :class:`Echo` provider called ``name`` with the given flags."""
    return registry.register(type(name, (Echo,), {"name": name, **flags}))


def make_router(
    clock: FakeClock,
    events: list[RouterEvent] | None = None,
    *,
    threshold: int = 3,
    cooldown: float = 30.0,
    max_attempts: int = 3,
    timeouts: Timeouts | None = None,
    **options: Any,
) -> Router:
    """A router on ``clock`` with its own health store and jitter-free backoff."""
    if events is not None:
        options["on_event"] = events.append
    return Router(
        clock=clock,
        health=InMemoryHealthStore(CircuitBreaker(failure_threshold=threshold, cooldown=cooldown)),
        retry=RetryPolicy(max_attempts=max_attempts, initial=0.5, max_wait=8.0, jitter=0.0),
        timeouts=timeouts,
        **options,
    )
