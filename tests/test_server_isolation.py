"""Through ``serve``, no client can knock a provider out and no provider bug becomes a 500.

End-to-end versions of issue 9's reproductions, with the default router (its
retries, failover and health store), as a deployed ``serve`` would run.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from g4f_lite import config, registry
from g4f_lite.provider import AsyncGeneratorProvider
from g4f_lite.server import Server, ServerSettings
from g4f_lite.testing import AIEngineEmulator
from g4f_lite.types import Messages

HI = [{"role": "user", "content": "Hi there"}]
ASSISTANT_LAST = [*HI, {"role": "assistant", "content": "Hello!"}]


async def call(server: Server, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, f"{server.url}{path}", json=body) as response,
    ):
        return response.status, await response.json()


@pytest.fixture
async def server(site: AIEngineEmulator, first_party_plugins: None) -> AsyncIterator[Server]:
    config.configure({"providers": {"Opchatgpts": {"base_url": site.url}}})
    async with Server(ServerSettings(port=0)) as running:
        yield running


async def opchatgpts_health(server: Server) -> dict[str, Any]:
    status, body = await call(server, "GET", "/providers")
    assert status == 200
    [info] = [p for p in body["data"] if p["name"] == "Opchatgpts"]
    health: dict[str, Any] = info["health"]
    return health


async def test_bad_conversations_are_400_and_never_bench(server: Server) -> None:
    bad = {"model": "", "messages": ASSISTANT_LAST, "provider": "Opchatgpts"}
    for _ in range(5):  # more than the breaker's threshold
        status, body = await call(server, "POST", "/chat/completions", bad)
        assert status == 400, body["error"]["message"]
        assert body["error"]["param"] == "messages"
    status, body = await call(
        server, "POST", "/chat/completions", {"model": "", "messages": HI, "provider": "Opchatgpts"}
    )
    assert status == 200, body
    assert body["choices"][0]["message"]["content"]
    health = await opchatgpts_health(server)
    assert health["state"] == "closed" and health["failures"] == 0


async def test_an_input_the_site_refuses_as_too_long_is_400(
    server: Server, site: AIEngineEmulator
) -> None:
    site.input_limit = 20
    too_long = [{"role": "user", "content": "x" * 200}]
    for _ in range(5):
        status, body = await call(
            server,
            "POST",
            "/chat/completions",
            {"model": "", "messages": too_long, "provider": "Opchatgpts"},
        )
        assert status == 400, body["error"]["message"]
        assert body["error"]["param"] == "messages"
    status, body = await call(
        server, "POST", "/chat/completions", {"model": "", "messages": HI, "provider": "Opchatgpts"}
    )
    assert status == 200, body
    assert (await opchatgpts_health(server))["failures"] == 0


class Buggy(AsyncGeneratorProvider):
    """A provider with a bug: it raises a plain KeyError."""

    working = True

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[str]:
        raise KeyError("choices")
        yield ""  # pragma: no cover - makes this an async generator


async def test_a_provider_bug_is_a_typed_502_naming_the_provider(server: Server) -> None:
    registry.register(Buggy)
    status, body = await call(
        server, "POST", "/chat/completions", {"model": "", "messages": HI, "provider": "Buggy"}
    )
    assert status == 502, body
    assert "Buggy" in body["error"]["message"]
    assert body["error"]["request_id"]
    assert "Traceback" not in json.dumps(body)
