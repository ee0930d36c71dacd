"""Every first-party provider family keeps the provider contract (g4f_lite.testing.conformance).

One small subclass per family, each against the emulator of its protocol.
The providers are built as users declare them (each kind's settings and
``make_provider``), without registering anything.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, cast

import aiohttp
import g4f_lite_aiengine
import g4f_lite_anthropic
import g4f_lite_gemini
import g4f_lite_openai
import pytest
from g4f_lite_opchatgpts import Opchatgpts

import g4f_lite
from g4f_lite.http import get_session, iter_sse_json, raise_for_status, request_timeout
from g4f_lite.testing import (
    AIEngineEmulator,
    AnthropicEmulator,
    GeminiEmulator,
    LocalProxy,
    LocalServer,
    OpenAIEmulator,
)
from g4f_lite.testing.conformance import ProviderConformance
from g4f_lite.types import Chunk, Messages

# The class-level base URLs are never used: each call passes the emulator's.
_NOWHERE = "http://127.0.0.1:9"


def _url(server: LocalServer) -> str:
    url = getattr(server, "url", None)
    assert isinstance(url, str)
    return url


class TestOpchatgpts(ProviderConformance):
    """The reference provider against the AI Engine emulator (plugin 1.9, no nonce)."""

    provider = Opchatgpts

    def server(self) -> AIEngineEmulator:
        return AIEngineEmulator()

    def call_options(self, server: LocalServer) -> dict[str, Any]:
        return {"base_url": _url(server)}


class TestAIEngineSite(ProviderConformance):
    """A site of kind ``aiengine`` (nonce mode ``auto``) against a plugin 2.8.5 site."""

    provider = g4f_lite_aiengine.make_provider(
        "KitAIEngineSite", g4f_lite_aiengine.AIEngineSite(url=_NOWHERE)
    )

    def server(self) -> AIEngineEmulator:
        return AIEngineEmulator(generation="2.8.5")

    def call_options(self, server: LocalServer) -> dict[str, Any]:
        return {"base_url": _url(server)}


class TestOpenAIEndpoint(ProviderConformance):
    """An endpoint of kind ``openai`` with an API key, against the OpenAI emulator."""

    provider = g4f_lite_openai.make_provider(
        "KitOpenAI",
        g4f_lite_openai.OpenAIEndpoint.model_validate(
            {"base_url": _NOWHERE, "models": ["emulated-model"], "api_key": "sk-kit-test"}
        ),
    )
    model = "emulated-model"

    def server(self) -> OpenAIEmulator:
        return OpenAIEmulator(api_key="sk-kit-test")

    def call_options(self, server: LocalServer) -> dict[str, Any]:
        return {"base_url": _url(server)}


class TestAnthropicEndpoint(ProviderConformance):
    """An endpoint of kind ``anthropic`` against the Anthropic emulator."""

    provider = g4f_lite_anthropic.make_provider(
        "KitAnthropic",
        g4f_lite_anthropic.AnthropicEndpoint.model_validate(
            {"base_url": _NOWHERE, "models": ["claude-emulated"], "api_key": "sk-ant-kit"}
        ),
    )
    model = "claude-emulated"

    def server(self) -> AnthropicEmulator:
        return AnthropicEmulator(api_key="sk-ant-kit")

    def call_options(self, server: LocalServer) -> dict[str, Any]:
        return {"base_url": _url(server)}


class TestGeminiEndpoint(ProviderConformance):
    """An endpoint of kind ``gemini`` against the Gemini emulator."""

    provider = g4f_lite_gemini.make_provider(
        "KitGemini",
        g4f_lite_gemini.GeminiEndpoint.model_validate(
            {"base_url": _NOWHERE, "models": ["gemini-2.5-flash"], "api_key": "AIzaSy-kit-key"}
        ),
    )
    model = "gemini-2.5-flash"

    def server(self) -> GeminiEmulator:
        return GeminiEmulator(api_key="AIzaSy-kit-key")

    def call_options(self, server: LocalServer) -> dict[str, Any]:
        return {"base_url": _url(server)}


# -- the guide's example, as written in docs/writing-a-provider.md -------------------

_GUIDE = Path(__file__).resolve().parents[1] / "docs" / "writing-a-provider.md"


def _guide_example() -> dict[str, Any]:
    """The guide's provider module and emulator, run together as the guide's reader would."""
    if not _GUIDE.exists():  # the kit can run from an installed wheel, without the docs
        return {}
    blocks = re.findall(r"```python\n(.*?)```", _GUIDE.read_text(encoding="utf-8"), re.DOTALL)
    provider = next(b for b in blocks if "class Parrot(" in b)
    emulator = next(b for b in blocks if "class ParrotServer(" in b)
    namespace: dict[str, Any] = {"__name__": "g4f_lite_parrot_guide"}
    exec(compile(provider + "\n" + emulator, str(_GUIDE), "exec"), namespace)
    return namespace


_EXAMPLE = _guide_example()


@pytest.mark.skipif(not _EXAMPLE, reason="docs/writing-a-provider.md is not here")
class TestGuideExample(ProviderConformance):
    """The guide's Parrot provider and ParrotServer keep the contract, as the guide says."""

    provider = _EXAMPLE.get("Parrot", Opchatgpts)
    deviations: ClassVar[Mapping[str, str]] = {
        "import": "the guide's example is a Markdown block here, not an importable module"
    }

    def server(self) -> LocalServer:
        server = _EXAMPLE["ParrotServer"]()
        assert isinstance(server, LocalServer)
        return server

    def call_options(self, server: LocalServer) -> dict[str, Any]:
        return {"base_url": server.origin}


# -- the kit fails providers that break the contract ---------------------------------


class _Careless(g4f_lite.AsyncGeneratorProvider):
    """Reads the AI Engine stream, but ignores ``proxy``, drops the system message and
    takes a stream without its ``end`` event for a whole answer."""

    name = "Careless"
    supports_system_message = True

    @classmethod
    async def create_async_generator(
        cls,
        model: str,
        messages: Messages,
        proxy: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[Chunk]:
        session = await get_session()
        turns = [m for m in messages if m["role"] != "system"]
        body = {"messages": turns, "newMessage": turns[-1]["content"], "stream": True}
        async with session.post(
            f"{base_url}/wp-json/mwai-ui/v1/chats/submit",
            json=body,
            timeout=request_timeout(timeout),
        ) as response:
            await raise_for_status(response, cls.name)
            async for event in iter_sse_json(response, cls.name):
                if event.get("type") == "live":
                    yield str(event["data"])


class _CarelessKit(ProviderConformance):
    provider = _Careless

    def server(self) -> AIEngineEmulator:
        return AIEngineEmulator()

    def call_options(self, server: LocalServer) -> dict[str, Any]:
        return {"base_url": _url(server)}


_KIT_FAILURE = (AssertionError, pytest.fail.Exception)


def test_the_kit_fails_a_provider_that_ignores_the_proxy() -> None:
    with pytest.raises(_KIT_FAILURE, match="ignored proxy="):
        _CarelessKit().test_proxy_is_honoured()


def test_the_kit_fails_a_silent_truncation() -> None:
    with pytest.raises(_KIT_FAILURE, match="TruncatedResponseError, the call succeeded"):
        _CarelessKit().test_broken_stream_is_typed("truncated")


def test_the_kit_fails_a_flag_the_provider_does_not_honour() -> None:
    with pytest.raises(_KIT_FAILURE, match="system message never reached the server"):
        _CarelessKit().test_system_message_flag_matches_behaviour()


def test_the_kit_fails_an_import_that_loads_heavy_modules() -> None:
    class HeavyKit(_CarelessKit):
        # The kit's own module loads g4f_lite.testing (the emulators), which
        # a provider must not: a provider defined there fails the check.
        provider = cast(
            "type[_Careless]",
            type("Heavy", (_Careless,), {"__module__": "g4f_lite.testing.conformance"}),
        )

    with pytest.raises(_KIT_FAILURE, match=r"loads heavy modules \[.*'g4f_lite\.testing"):
        HeavyKit().test_import_is_cheap_and_offline()


def test_a_declared_deviation_skips_its_check_with_the_reason() -> None:
    class Deviant(_CarelessKit):
        deviations: ClassVar[Mapping[str, str]] = {"proxy": "the site refuses proxies"}

    with pytest.raises(pytest.skip.Exception, match="Careless deviates \\(proxy\\): the site"):
        Deviant().test_proxy_is_honoured()


def test_the_kit_fails_a_provider_that_leaves_a_session_open() -> None:
    class Leaky(_Careless):
        name = "Leaky"

        @classmethod
        async def create_async_generator(
            cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
        ) -> AsyncIterator[Chunk]:
            aiohttp.ClientSession()  # never closed
            yield "leaked"

    class LeakyKit(_CarelessKit):
        provider = Leaky

    with pytest.raises(_KIT_FAILURE, match=r"(?i)unclosed client session"):
        LeakyKit().test_nothing_left_unclosed()


async def test_the_local_proxy_tunnels_to_loopback_and_refuses_the_rest() -> None:
    async with AIEngineEmulator() as site, LocalProxy() as proxy:
        reader, writer = await asyncio.open_connection(proxy.host, proxy.port)
        target = f"127.0.0.1:{site.port}"
        writer.write(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
        writer.write(b"GET / HTTP/1.1\r\nHost: site\r\nConnection: close\r\n\r\n")
        page = await reader.read()
        writer.close()
        await writer.wait_closed()

        reader, writer = await asyncio.open_connection(proxy.host, proxy.port)
        writer.write(b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n")
        refused = await reader.read()
        writer.close()
        await writer.wait_closed()
    assert page.startswith(b"HTTP/1.1 200") and b"mwai-chat" in page
    assert refused.startswith(b"HTTP/1.1 403")
    assert proxy.requests == [f"CONNECT {target}"]
    assert proxy.refused == ["GET http://example.com/"]
