"""The reference provider against the emulated AI Engine site: requests and every fault."""

from __future__ import annotations

import ast
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import g4f_lite_opchatgpts
import pytest
from g4f_lite_opchatgpts import forget_nonces

import g4f_lite
from g4f_lite import errors
from g4f_lite.router import RetryPolicy, Router, set_default_router
from g4f_lite.testing import AIEngineEmulator, Fault
from g4f_lite.types import Messages

HELLO = [{"role": "user", "content": "Hello there"}]
REPLY = "Hello from the AI Engine emulator! You said: Hello there"


@pytest.fixture(autouse=True)
def one_attempt() -> None:
    """These tests are about the provider's own errors, so the router tries once.

    (Its retries, failover and timeouts are tested in ``test_router_*.py``.)
    """
    set_default_router(Router(retry=RetryPolicy(max_attempts=1)))


@pytest.fixture(autouse=True)
def no_remembered_nonces() -> Iterator[None]:
    """Emulators reuse ports: a nonce remembered for one test's site must not reach the next."""
    forget_nonces()
    yield
    forget_nonces()


async def ask(site: AIEngineEmulator, messages: Messages = HELLO, **kwargs: Any) -> str:
    """The whole answer through ChatCompletion; ``kwargs`` go to the provider."""
    text: str = await g4f_lite.ChatCompletion.create_async(
        "", messages, provider="Opchatgpts", base_url=site.url, **kwargs
    )
    return text


async def ask_stream(site: AIEngineEmulator) -> AsyncIterator[str]:
    return await g4f_lite.ChatCompletion.create_async(
        "", HELLO, provider="Opchatgpts", base_url=site.url, stream=True
    )


async def test_sends_the_seed_request(site: AIEngineEmulator) -> None:
    conversation = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "How are you?"},
    ]
    await ask(site, conversation)
    [request] = site.requests
    assert (request.method, request.path) == ("POST", "/wp-json/mwai-ui/v1/chats/submit")
    body = request.body
    chat_id = body.pop("chatId")
    assert len(chat_id) == 10 and chat_id.isalnum() and chat_id == chat_id.lower()
    assert body == {
        "botId": "default",
        "contextId": 28,
        "customId": None,
        # Seed behaviour, documented: the new turn is in messages AND newMessage.
        "messages": conversation,
        "newMessage": "How are you?",
        "session": "N/A",
        "stream": True,
    }
    headers = request.headers
    assert headers["Origin"] == site.url
    assert headers["Referer"] == f"{site.url}/chatgpt-free-use/"
    assert headers["User-Agent"].startswith("Mozilla/5.0 (Windows NT 10.0; Win64; x64)")
    assert headers["Sec-Fetch-Mode"] == "cors" and headers["Alt-Used"] == "opchatgpts.net"


async def test_chat_ids_differ_between_requests(site: AIEngineEmulator) -> None:
    await ask(site)
    await ask(site)
    assert site.requests[0].body["chatId"] != site.requests[1].body["chatId"]


async def test_streams_chunks_as_sent(site: AIEngineEmulator) -> None:
    chunks = [c async for c in await ask_stream(site)]
    assert len(chunks) == len(REPLY.split(" "))
    assert "".join(chunks) == REPLY


async def test_proxy_is_passed_through(site: AIEngineEmulator) -> None:
    # The emulator acts as the HTTP proxy: the request reaches it in proxy form
    # for a host that is never contacted.
    await g4f_lite.ChatCompletion.create_async(
        "", HELLO, provider="Opchatgpts", base_url="http://site.invalid", proxy=site.url
    )
    [request] = site.requests
    assert request.headers["Host"] == "site.invalid"
    assert request.body["newMessage"] == "Hello there"


@pytest.mark.parametrize("fault", [Fault.subtypes(), Fault.json_content_type()])
async def test_tolerated_variants_give_the_full_reply(site: AIEngineEmulator, fault: Fault) -> None:
    site.fault = fault
    assert await ask(site) == REPLY


@pytest.mark.parametrize(
    ("fault", "error", "match"),
    [
        (
            Fault.http_status(401),
            errors.AuthenticationError,
            r"Opchatgpts: HTTP 401 \[rest_forbidden\]",
        ),
        (Fault.http_status(403), errors.PermissionDeniedError, "rest_cookie_invalid_nonce"),
        (Fault.http_status(500), errors.ServerError, "HTTP 500 OpenAI: The server had an error"),
        (Fault.error_event(), errors.UpstreamError, "Opchatgpts: OpenAI: The server had an error"),
        (Fault.no_end(), errors.TruncatedResponseError, "closed without an 'end' event"),
        (Fault.drop(), errors.TruncatedResponseError, "connection dropped mid-answer"),
        (Fault.garbage(), errors.BrokenLineError, r"^Broken line: data: <b>Fatal error"),
        (Fault.no_type(), errors.BrokenLineError, r"^Broken line: .*Opchatgpts: no 'type'"),
        (Fault.huge_line(), errors.LineTooLongError, "exceeded 1048576 bytes"),
    ],
)
async def test_each_fault_ends_in_its_typed_error(
    site: AIEngineEmulator, fault: Fault, error: type[Exception], match: str
) -> None:
    site.faults.append(fault)
    with pytest.raises(error, match=match) as caught:
        await ask(site)
    assert isinstance(caught.value, errors.ProviderError)
    assert caught.value.provider == "Opchatgpts"


async def test_broken_line_is_still_a_runtime_error(site: AIEngineEmulator) -> None:
    site.faults.append(Fault.garbage())
    with pytest.raises(RuntimeError, match=r"^Broken line:"):
        await ask(site)


async def test_rate_limit_carries_retry_after(site: AIEngineEmulator) -> None:
    site.faults.append(Fault.http_status(429, retry_after=7))
    with pytest.raises(errors.RateLimitError) as caught:
        await ask(site)
    assert (caught.value.status, caught.value.retry_after) == (429, 7.0)
    assert caught.value.retryable


async def test_truncated_answer_keeps_the_partial_text(site: AIEngineEmulator) -> None:
    site.faults.append(Fault.drop(after=3))
    with pytest.raises(errors.TruncatedResponseError) as caught:
        await ask(site)
    assert caught.value.partial == "Hello from the "


async def test_stream_that_breaks_is_reported_after_its_chunks(site: AIEngineEmulator) -> None:
    site.faults.append(Fault.no_end())
    received: list[str] = []

    async def consume() -> None:
        async for chunk in await ask_stream(site):
            received.append(chunk)

    with pytest.raises(errors.PartialResponseError) as caught:
        await consume()
    assert "".join(received) == REPLY  # every chunk arrived, and still no silent success
    assert caught.value.partial == REPLY
    assert isinstance(caught.value.cause, errors.TruncatedResponseError)


async def test_line_bound_is_configurable(site: AIEngineEmulator) -> None:
    site.faults.append(Fault.huge_line(size=4000))
    with pytest.raises(errors.LineTooLongError, match="exceeded 1000 bytes"):
        await ask(site, max_line_bytes=1000)
    site.faults.append(Fault.huge_line(size=4000))
    assert len(await ask(site, max_line_bytes=10_000)) > 4000


async def test_a_long_end_line_fits_the_default_bound(site: AIEngineEmulator) -> None:
    site.reply = "word " * 4000  # a 20 kB reply: its end line repeats all of it
    assert await ask(site) == "word " * 4000


async def test_message_too_long_is_a_rejected_request(site: AIEngineEmulator) -> None:
    with pytest.raises(errors.RequestRejectedError, match="too long") as info:
        await ask(site, [{"role": "user", "content": "x" * 600}])
    assert (info.value.provider, info.value.request_fault, info.value.param) == (
        "Opchatgpts",
        True,
        "messages",
    )
    assert not info.value.retryable


async def test_a_content_rejection_is_a_rejected_request(site: AIEngineEmulator) -> None:
    with pytest.raises(errors.RequestRejectedError, match="query has been rejected") as info:
        await ask(site, [{"role": "user", "content": "   "}])
    assert info.value.request_fault


async def test_the_last_message_must_be_the_users(site: AIEngineEmulator) -> None:
    with pytest.raises(errors.InvalidMessagesError, match=r"Opchatgpts: .*role 'user'") as info:
        await ask(site, [*HELLO, {"role": "assistant", "content": "Hi"}])
    assert info.value.param == "messages"
    assert site.requests == []


async def test_slow_first_byte_hits_the_timeout(site: AIEngineEmulator) -> None:
    site.faults.append(Fault.slow_first_byte(delay=2))
    with pytest.raises(errors.ProviderTimeoutError, match=r"^Opchatgpts: .*\b0\.3 s"):
        await ask(site, timeout=0.3)


async def test_stall_mid_stream_hits_the_timeout(site: AIEngineEmulator) -> None:
    site.faults.append(Fault.stall(after=2, delay=2))
    with pytest.raises(errors.ProviderTimeoutError):
        await ask(site, timeout=0.5)


async def test_unreachable_site_is_a_connection_error() -> None:
    async with AIEngineEmulator() as gone:
        url = gone.url
    with pytest.raises(errors.ProviderConnectionError, match=r"^Opchatgpts: ") as caught:
        await g4f_lite.ChatCompletion.create_async("", HELLO, provider="Opchatgpts", base_url=url)
    # Nothing listens on a loopback port: retrying would only waste time.
    assert not caught.value.retryable


async def test_end_event_data_is_json_encoded_twice(site: AIEngineEmulator) -> None:
    # Guards the emulator's fidelity, which every other test relies on.
    import aiohttp

    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{site.url}/wp-json/mwai-ui/v1/chats/submit",
            json={"newMessage": "hi", "messages": [], "stream": True},
        ) as response,
    ):
        lines = [line for line in (await response.read()).split(b"\n") if line]
    end = json.loads(lines[-1][len(b"data: ") :])
    assert end["type"] == "end" and isinstance(end["data"], str)
    assert json.loads(end["data"])["reply"] == "Hello from the AI Engine emulator! You said: hi"


# -- self-contained: the public g4f-lite API only ---------------------------------

PACKAGE = Path(g4f_lite_opchatgpts.__file__).parent


def imported_modules(source: str) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def test_the_reference_provider_imports_no_other_plugin() -> None:
    sources = sorted(PACKAGE.rglob("*.py"))
    assert sources
    for source in sources:
        modules = imported_modules(source.read_text(encoding="utf-8"))
        assert not [m for m in modules if m.split(".")[0] == "g4f_lite_aiengine"], source
        # Anything from g4f-lite comes from its public modules.
        private = [m for m in modules if m.startswith("g4f_lite.") and "._" in f".{m}"]
        assert not private, (source, private)
    pyproject = (PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8")
    assert "g4f-lite-aiengine" not in pyproject


# -- use_nonce=True: AI Engine >= 2.0 ---------------------------------------------

PAGE = "/chatgpt-free-use/"
SUBMIT = "GET /chatgpt-free-use/", "POST /wp-json/mwai-ui/v1/chats/submit"


def calls(site: AIEngineEmulator) -> list[str]:
    return [f"{r.method} {r.path}" for r in site.requests]


async def ask_with_nonce(site: AIEngineEmulator, **kwargs: Any) -> str:
    return await ask(site, use_nonce=True, **kwargs)


async def test_the_nonce_is_read_from_the_chat_page_and_remembered() -> None:
    async with AIEngineEmulator(generation="2.0", page_path=PAGE, reply="fine") as site:
        assert await ask_with_nonce(site) == "fine"
        assert await ask_with_nonce(site) == "fine"
        page, submit = SUBMIT
        assert calls(site) == [page, submit, submit]  # the page is read once
        assert site.requests[-1].headers["X-WP-Nonce"] == site.nonce
        assert site.requests[-1].headers["Referer"] == f"{site.url}{PAGE}"


async def test_a_nonce_site_without_use_nonce_is_an_authentication_error() -> None:
    async with AIEngineEmulator(generation="2.0", page_path=PAGE) as site:
        with pytest.raises(errors.AuthenticationError, match="rest_forbidden"):
            await ask(site)
        assert calls(site) == [SUBMIT[1]]


async def test_a_stale_nonce_is_fetched_again_once() -> None:
    async with AIEngineEmulator(generation="2.0", page_path=PAGE, reply="fine") as site:
        assert await ask_with_nonce(site) == "fine"
        site.revoke_nonces()
        site.requests.clear()
        assert await ask_with_nonce(site) == "fine"
        page, submit = SUBMIT
        assert calls(site) == [submit, page, submit]
        assert site.requests[-1].headers["X-WP-Nonce"] == site.nonce


async def test_a_fresh_nonce_that_is_refused_is_not_fetched_again() -> None:
    async with AIEngineEmulator(generation="2.0", page_path=PAGE) as site:
        site.faults.append(Fault.http_status(403))  # rest_cookie_invalid_nonce, at once
        with pytest.raises(errors.PermissionDeniedError, match="rest_cookie_invalid_nonce"):
            await ask_with_nonce(site)
        assert calls(site) == list(SUBMIT)  # no loop: the nonce was brand new


async def test_a_page_without_a_nonce_is_a_clear_protocol_error() -> None:
    async with AIEngineEmulator(generation="3.x", page_path=PAGE) as site:
        with pytest.raises(errors.ProtocolError, match="carries no restNonce") as info:
            await ask_with_nonce(site)
        assert info.value.provider == "Opchatgpts"


@pytest.mark.parametrize("value", ["abc\r\nX-Injected: 1", "tab\there", "caf\u00e9"])
async def test_a_bad_page_nonce_is_refused_and_not_remembered(value: str) -> None:
    async with AIEngineEmulator(generation="2.0", page_path=PAGE, reply="fine") as site:
        site.faults.append(Fault.bad_credential("page", value))
        with pytest.raises(errors.ProtocolError, match="nonce") as info:
            await ask_with_nonce(site)
        assert value not in str(info.value)
        assert calls(site) == [SUBMIT[0]]  # never sent
        assert await ask_with_nonce(site) == "fine"
        assert calls(site).count(SUBMIT[0]) == 2  # fetched again


async def test_a_bad_new_token_is_never_kept() -> None:
    async with AIEngineEmulator(generation="2.0", page_path=PAGE, reply="fine") as site:
        assert await ask_with_nonce(site) == "fine"
        site.faults.append(Fault.bad_credential("new_token"))
        with pytest.raises(errors.ProtocolError, match="new_token") as info:
            await ask_with_nonce(site)
        assert "\r\n" not in str(info.value)
        site.requests.clear()
        assert await ask_with_nonce(site) == "fine"
        assert calls(site) == list(SUBMIT)  # the page was read again
        assert site.requests[-1].headers["X-WP-Nonce"] == site.nonce


async def test_a_bad_nonce_response_header_is_never_kept() -> None:
    async with AIEngineEmulator(generation="2.0", page_path=PAGE, reply="fine") as site:
        site.faults.append(Fault.bad_credential("header", "bad nonce"))
        with pytest.raises(errors.ProtocolError, match="X-WP-Nonce"):
            await ask_with_nonce(site)
        assert await ask_with_nonce(site) == "fine"
        assert calls(site).count(SUBMIT[0]) == 2


async def test_a_rotated_nonce_from_end_is_used_next() -> None:
    # Without the header, only end.new_token tells the client the next nonce.
    async with AIEngineEmulator(
        generation="2.8.5", page_path=PAGE, reply="fine", refresh_header=False
    ) as site:
        assert await ask_with_nonce(site) == "fine"
        old = site.nonce
        site.advance(13)  # the nonce is now 12-24 hours old: accepted and replaced
        assert await ask_with_nonce(site) == "fine"
        assert site.nonce != old
        assert await ask_with_nonce(site) == "fine"
        assert [r.headers["X-WP-Nonce"] for r in site.requests[1:]] == [old, old, site.nonce]
        assert calls(site).count(SUBMIT[0]) == 1


async def test_the_remembered_nonce_is_masked_in_errors() -> None:
    async with AIEngineEmulator(generation="2.0", page_path=PAGE, reply="fine") as site:
        assert await ask_with_nonce(site) == "fine"
        nonce = site.nonce
        site.faults.append(Fault.error_event(after=0, message=f"nonce {nonce} is not valid"))
        with pytest.raises(errors.UpstreamError) as info:
            await ask_with_nonce(site)
    assert nonce not in str(info.value)
    assert "nonce *** is not valid" in str(info.value)
