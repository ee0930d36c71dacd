"""Hostile upstream answers end in typed errors naming the provider, and leave nothing behind.

Deeply nested JSON anywhere an upstream answer is parsed, credentials that
could not travel in a header, absurd ``Retry-After`` values and bugs in a
provider: each is a :mod:`g4f_lite.errors` type, and the next good answer
goes through.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

import g4f_lite
from g4f_lite import errors
from g4f_lite.http import MAX_RETRY_AFTER, check_token, parse_json, parse_retry_after
from g4f_lite.provider import AsyncGeneratorProvider, BaseProvider, collect, run_provider
from g4f_lite.registry import registry
from g4f_lite.router import RetryPolicy, Router, set_default_router
from g4f_lite.testing import AIEngineEmulator, Fault, OpenAIEmulator, deep_json
from g4f_lite.types import Messages

pytestmark = pytest.mark.usefixtures("first_party_plugins")

HELLO = [{"role": "user", "content": "Hello"}]
SUBMIT = "/wp-json/mwai-ui/v1/chats/submit"
SESSION = "/wp-json/mwai/v1/start_session"


def aiengine(site: AIEngineEmulator, **options: Any) -> type[BaseProvider]:
    return g4f_lite.declare_provider("Hostile", "aiengine", url=site.url, **options)


def openai(server: OpenAIEmulator, **options: Any) -> type[BaseProvider]:
    return g4f_lite.declare_provider(
        "HostileAPI", "openai", base_url=server.url, models=["emulated-model"], **options
    )


async def ask(provider: type[BaseProvider], **kwargs: Any) -> str:
    return await collect(run_provider(provider, "", HELLO, **kwargs), provider.name)


def calls(site: AIEngineEmulator) -> list[str]:
    return [f"{r.method} {r.path}" for r in site.requests]


# -- deeply nested JSON ----------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "stream", "generation"),
    [
        ("line", True, "1.9"),
        ("end", True, "1.9"),
        ("body", False, "1.9"),
        ("page", True, "2.0"),
        ("session", True, "3.x"),
    ],
)
async def test_deep_json_from_an_aiengine_site_is_a_protocol_error(
    where: Any, stream: bool, generation: Any
) -> None:
    async with AIEngineEmulator(generation=generation, reply="fine") as site:
        provider = aiengine(site, nonce="auto")
        site.faults.append(Fault.deep_json(where, depth=10_000))
        with pytest.raises(errors.ProtocolError, match="nested too deep") as info:
            await ask(provider, stream=stream)
        assert info.value.provider == "Hostile"
        assert not isinstance(info.value.__cause__, RecursionError)
        # Nothing was learnt from the hostile answer: the next call works.
        assert await ask(provider, stream=stream) == "fine"


async def test_a_deep_error_body_is_shown_as_text() -> None:
    async with AIEngineEmulator() as site:
        site.faults.append(Fault.deep_json("error_body", depth=5000))
        with pytest.raises(errors.ServerError) as info:
            await ask(aiengine(site))
    assert info.value.status == 500
    assert info.value.server_message.startswith("[[[[")
    assert info.value.provider == "Hostile"


@pytest.mark.parametrize(("where", "stream"), [("line", True), ("body", False)])
async def test_deep_json_from_an_openai_server_is_a_protocol_error(
    openai_server: OpenAIEmulator, where: Any, stream: bool
) -> None:
    provider = openai(openai_server, api_key="sk-test")
    openai_server.faults.append(Fault.deep_json(where))
    with pytest.raises(errors.ProtocolError, match="nested too deep") as info:
        await ask(provider, stream=stream)
    assert info.value.provider == "HostileAPI"
    assert await ask(provider, stream=stream)


async def test_a_deep_openai_error_body_is_a_server_error(openai_server: OpenAIEmulator) -> None:
    openai_server.faults.append(Fault.deep_json("error_body", depth=5000))
    with pytest.raises(errors.ServerError) as info:
        await ask(openai(openai_server, api_key="sk-test"))
    assert info.value.status == 500


def test_parse_json_bounds_depth_and_names_the_provider() -> None:
    assert parse_json("P", deep_json(60)) is not None
    with pytest.raises(errors.ProtocolError, match=r"^P: the page is JSON nested too deep"):
        parse_json("P", deep_json(100_000), "the page")
    with pytest.raises(errors.ProtocolError, match=r"^P: the answer is not JSON"):
        parse_json("P", b"\xff{")


# -- credentials that cannot travel in a header ------------------------------------


@pytest.mark.parametrize("value", ["abc\r\nX-Injected: 1", "abc\ndef", "nonce\x00", "n\u00f6nce"])
def test_check_token_refuses_anything_but_visible_ascii(value: str) -> None:
    with pytest.raises(errors.ProtocolError, match="new_token") as info:
        check_token("Site", value, "new_token")
    assert value not in str(info.value)
    assert check_token("Site", "a1B2-c3_d4.e5", "nonce") == "a1B2-c3_d4.e5"


@pytest.mark.parametrize("stream", [True, False])
async def test_a_bad_new_token_is_never_kept(stream: bool) -> None:
    # Today one bad new_token would poison every later request to the site.
    async with AIEngineEmulator(generation="2.0", reply="fine") as site:
        provider = aiengine(site, nonce="page")
        assert await ask(provider, stream=stream) == "fine"
        site.reset()
        site.faults.append(Fault.bad_credential("new_token"))
        with pytest.raises(errors.ProtocolError, match="new_token") as info:
            await ask(provider, stream=stream)
        assert info.value.provider == "Hostile"
        assert "\r\n" not in str(info.value)
        assert await ask(provider, stream=stream) == "fine"
        # The second call fetched a fresh nonce from the page.
        assert calls(site) == [f"POST {SUBMIT}", "GET /", f"POST {SUBMIT}"]
        assert "\n" not in site.requests[-1].headers["X-WP-Nonce"]


@pytest.mark.parametrize(
    ("generation", "where", "value"),
    [
        ("2.0", "page", "abc\r\nX-Injected: 1"),
        ("2.0", "page", "tab\there"),
        ("3.x", "session", "abc\r\nX-Injected: 1"),
        ("3.x", "session", "caf\u00e9"),
    ],
)
async def test_a_bad_nonce_is_refused_and_fetched_again(
    generation: Any, where: Any, value: str
) -> None:
    async with AIEngineEmulator(generation=generation, reply="fine") as site:
        provider = aiengine(site, nonce="page" if where == "page" else "session")
        site.faults.append(Fault.bad_credential(where, value))
        with pytest.raises(errors.ProtocolError, match="nonce") as info:
            await ask(provider)
        assert value not in str(info.value)
        assert info.value.provider == "Hostile"
        assert await ask(provider) == "fine"
    fetches = [c for c in calls(site) if c != f"POST {SUBMIT}"]
    assert len(fetches) == 2  # the bad nonce was not cached: fetched again


async def test_a_bad_nonce_response_header_is_never_kept() -> None:
    async with AIEngineEmulator(generation="2.0", reply="fine") as site:
        provider = aiengine(site, nonce="page")
        site.faults.append(Fault.bad_credential("header", "bad nonce"))
        with pytest.raises(errors.ProtocolError, match="X-WP-Nonce"):
            await ask(provider)
        assert await ask(provider) == "fine"
        assert calls(site).count("GET /") == 2
        assert site.requests[-1].headers["X-WP-Nonce"] == site.nonce


# -- Retry-After ------------------------------------------------------------------


def _http_date(offset_seconds: float) -> str:
    return email.utils.formatdate(time.time() + offset_seconds, usegmt=True)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("inf", MAX_RETRY_AFTER),
        ("+inf", MAX_RETRY_AFTER),
        ("-inf", 0.0),
        ("1e400", MAX_RETRY_AFTER),
        ("-1e400", 0.0),
        ("-5", 0.0),
        ("3.5", 3.5),
        ("86401", MAX_RETRY_AFTER),
        ("nan", None),
        ("NaN", None),
        ("soon", None),
        ("", None),
        (None, None),
        ("Fri, 31 Dec 9999 23:59:59 GMT", MAX_RETRY_AFTER),
        ("Mon, 01 Jan 0001 00:00:00 GMT", 0.0),
        ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0),
        ("Fri, 31 Dec 99999999 23:59:59 GMT", None),
    ],
)
def test_retry_after_is_clamped(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


def test_retry_after_http_dates_near_now() -> None:
    soon = parse_retry_after(_http_date(120))
    assert soon is not None and 60 < soon <= 121  # generous: the clock moves
    assert parse_retry_after(_http_date(-120)) == 0.0


@pytest.mark.parametrize("header", ["inf", "1e400", "nan", "Fri, 31 Dec 9999 23:59:59 GMT"])
async def test_a_hostile_retry_after_is_a_rate_limit_error(
    openai_server: OpenAIEmulator, header: str
) -> None:
    openai_server.faults.append(
        Fault.raw(429, (b'{"error": {"message": "slow down"}}',), (("Retry-After", header),))
    )
    with pytest.raises(errors.RateLimitError) as info:
        await ask(openai(openai_server, api_key="sk-test"))
    retry_after = info.value.retry_after
    assert retry_after is None or 0 <= retry_after <= MAX_RETRY_AFTER
    assert "slow down" in str(info.value)


# -- bugs in a provider -------------------------------------------------------------


def buggy(name: str, exc: Exception) -> type[BaseProvider]:
    class Buggy(AsyncGeneratorProvider):
        working = True

        @classmethod
        async def create_async_generator(
            cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
        ) -> AsyncIterator[str]:
            if kwargs.get("half"):
                yield "half "
            raise exc

    return registry.register(type(name, (Buggy,), {"name": name}))


def _the_provider_error(raised: BaseException) -> errors.ProviderError:
    """The provider's own error, whether the router passed it on or gathered it."""
    if isinstance(raised, errors.AllProvidersFailedError):
        (raised,) = raised.exceptions
    assert isinstance(raised, errors.ProviderError)
    return raised


@pytest.mark.parametrize("exc", [KeyError("choices"), ValueError("bad value"), ZeroDivisionError()])
def test_a_provider_bug_is_a_provider_error_synchronously(exc: Exception) -> None:
    set_default_router(Router(retry=RetryPolicy(max_attempts=1)))
    buggy("Buggy", exc)
    with pytest.raises(errors.G4FLiteError) as info:
        g4f_lite.ChatCompletion.create("", HELLO, provider="Buggy")
    error = _the_provider_error(info.value)
    assert type(error) is errors.ProviderError
    assert error.provider == "Buggy"
    assert f"unexpected {type(exc).__name__}" in str(error)
    assert error.__cause__ is exc


@pytest.mark.parametrize("exc", [KeyError("choices"), ValueError("bad value")])
async def test_a_provider_bug_is_a_provider_error_asynchronously(exc: Exception) -> None:
    set_default_router(Router(retry=RetryPolicy(max_attempts=1)))
    buggy("Buggy", exc)
    with pytest.raises(errors.G4FLiteError) as info:
        await g4f_lite.ChatCompletion.create_async("", HELLO, provider="Buggy")
    error = _the_provider_error(info.value)
    assert error.provider == "Buggy"
    assert error.__cause__ is exc
    # Streamed, after text: still typed, the text kept.
    stream = await g4f_lite.ChatCompletion.create_async(
        "", HELLO, provider="Buggy", stream=True, half=True
    )
    received: list[str] = []

    async def read() -> None:
        async for chunk in stream:
            received.append(chunk)

    with pytest.raises(errors.ProviderError) as streamed:
        await read()
    assert received == ["half "]
    assert streamed.value.provider == "Buggy"


async def test_a_malformed_http_answer_is_a_protocol_error_not_a_bad_request() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\nhello")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        provider = g4f_lite.declare_provider(
            "Malformed", "aiengine", url=f"http://127.0.0.1:{port}", nonce="none"
        )
        with pytest.raises(errors.ProtocolError, match="malformed HTTP answer") as info:
            await ask(provider)
    finally:
        server.close()
        await server.wait_closed()
    assert not info.value.request_fault
    assert info.value.provider == "Malformed"


async def test_a_site_echoing_its_nonce_has_it_masked() -> None:
    async with AIEngineEmulator(generation="2.0", reply="fine") as site:
        provider = aiengine(site, nonce="page")
        assert provider.secret_values({"nonce": "auto"}) == frozenset()  # a mode, not a secret
        assert await ask(provider, nonce="page") == "fine"
        nonce = site.nonce
        assert nonce in provider.secret_values({})
        site.faults.append(Fault.error_event(after=0, message=f"nonce {nonce} is not valid"))
        with pytest.raises(errors.UpstreamError) as info:
            await ask(provider, nonce="page")
    assert nonce not in str(info.value)
    assert "nonce *** is not valid" in str(info.value)
