"""The generic AI Engine provider against every plugin generation of the emulator."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from g4f_lite_aiengine import SITES, AIEngineProvider
from g4f_lite_aiengine.nonce import NonceUnavailableError, site_state

import g4f_lite
from g4f_lite.errors import (
    AuthenticationError,
    BadRequestError,
    BrokenLineError,
    InvalidMessagesError,
    PermissionDeniedError,
    ProviderError,
    RequestRejectedError,
    TruncatedResponseError,
    UpstreamError,
)
from g4f_lite.provider import BaseProvider, collect, run_provider
from g4f_lite.testing import AIEngineEmulator, Fault, Generation
from g4f_lite.types import Usage

pytestmark = pytest.mark.usefixtures("first_party_plugins")

SUBMIT = "/wp-json/mwai-ui/v1/chats/submit"
SESSION = "/wp-json/mwai/v1/start_session"
HELLO = [{"role": "user", "content": "Hello"}]


def declare(site: AIEngineEmulator, name: str = "MySite", **options: Any) -> type[BaseProvider]:
    return g4f_lite.declare_provider(name, "aiengine", url=site.url, **options)


async def ask(provider: type[BaseProvider], messages: Any = None, **kwargs: Any) -> str:
    return await collect(run_provider(provider, "", messages or HELLO, **kwargs), provider.name)


def calls(site: AIEngineEmulator) -> list[str]:
    """The requests the site received, as ``METHOD path``."""
    return [f"{r.method} {r.path}" for r in site.requests]


# -- every generation, nonce="auto" --------------------------------------------

AUTO_DISCOVERY: dict[Generation, tuple[list[str], str]] = {
    "1.9": ([f"POST {SUBMIT}"], "none"),
    "2.0": ([f"POST {SUBMIT}", "GET /", f"POST {SUBMIT}"], "page"),
    "2.4.4": ([f"POST {SUBMIT}", "GET /", f"POST {SUBMIT}"], "page"),
    "2.8.5": ([f"POST {SUBMIT}", "GET /", f"POST {SUBMIT}"], "page"),
    "3.x": ([f"POST {SUBMIT}", "GET /", f"POST {SESSION}", f"POST {SUBMIT}"], "session"),
}


@pytest.mark.parametrize("generation", list(AUTO_DISCOVERY))
async def test_auto_finds_the_way_in_once_and_remembers_it(generation: Generation) -> None:
    expected, method = AUTO_DISCOVERY[generation]
    async with AIEngineEmulator(generation=generation, reply="Hi there") as site:
        provider = declare(site)
        assert await ask(provider) == "Hi there"
        assert calls(site) == expected
        assert site_state(site.url).method == method

        site.reset()
        assert await ask(provider) == "Hi there"
        assert calls(site) == [f"POST {SUBMIT}"]  # remembered: no discovery the second time


async def test_auto_remembers_per_site() -> None:
    async with (
        AIEngineEmulator(generation="1.9") as old,
        AIEngineEmulator(generation="3.x") as new,
    ):
        provider = declare(old)
        await ask(provider)
        await ask(provider, base_url=new.url)
        old.reset()
        new.reset()
        await ask(provider)
        await ask(provider, base_url=new.url)
        assert calls(old) == [f"POST {SUBMIT}"]
        assert calls(new) == [f"POST {SUBMIT}"]
        assert site_state(old.url).method == "none"
        assert site_state(new.url).method == "session"


async def test_a_site_that_starts_wanting_a_nonce_is_rediscovered() -> None:
    async with AIEngineEmulator(generation="1.9", reply="ok") as site:
        provider = declare(site)
        await ask(provider)
        site.generation = "2.0"
        site.reset()
        assert await ask(provider) == "ok"
        assert site_state(site.url).method == "page"
    # No pointless retry without a nonce: straight on to the page.
    assert calls(site) == [f"POST {SUBMIT}", "GET /", f"POST {SUBMIT}"]


async def test_nonce_and_session_are_sent_as_the_plugin_expects() -> None:
    async with AIEngineEmulator(generation="3.x") as site:
        await ask(declare(site, nonce="session"))
        submit = site.requests[-1]
        assert submit.headers["X-WP-Nonce"] == site.nonce
        assert submit.body["session"] == site.sessions[-1]


# -- explicit modes ---------------------------------------------------------------


async def test_none_mode_on_a_nonce_site_fails_clearly() -> None:
    async with AIEngineEmulator(generation="2.0") as site:
        with pytest.raises(AuthenticationError) as info:
            await ask(declare(site, nonce="none"))
    assert info.value.provider == "MySite"
    assert info.value.code == "rest_forbidden"
    assert "nonce='auto'" in str(info.value)
    assert calls(site) == [f"POST {SUBMIT}"]


async def test_page_mode_on_a_3x_site_says_to_use_sessions() -> None:
    async with AIEngineEmulator(generation="3.x") as site:
        with pytest.raises(NonceUnavailableError, match="nonce='session'") as info:
            await ask(declare(site, nonce="page"))
    assert isinstance(info.value, ProviderError)
    assert calls(site) == ["GET /"]


async def test_session_mode_without_start_session_is_a_404() -> None:
    async with AIEngineEmulator(generation="2.0") as site:
        with pytest.raises(BadRequestError) as info:
            await ask(declare(site, nonce="session"))
    assert info.value.status == 404
    assert info.value.code == "rest_no_route"


async def test_page_mode_reads_the_chat_page_and_its_bot_settings() -> None:
    async with AIEngineEmulator(
        generation="2.0", page_path="/chat/", bot_id="chatbot-7", custom_id="c1", context_id=99
    ) as site:
        await ask(declare(site, nonce="page", page_path="/chat/"))
        page, submit = site.requests
        assert submit.headers["Referer"] == f"{site.url}/chat/"
    assert (page.method, page.path) == ("GET", "/chat/")
    assert submit.body["botId"] == "chatbot-7"
    assert submit.body["customId"] == "c1"
    assert submit.body["contextId"] == 99


def test_a_declared_site_can_name_the_models_it_serves() -> None:
    provider = g4f_lite.declare_provider(
        "Modelled", "aiengine", url="https://m.example", models=["gpt-4o-mini"]
    )
    assert provider.supports_model("gpt-4o-mini")
    assert not provider.supports_model("gpt-4")
    # The OpenAI preset lists gpt-4o-mini too (a plugin's, not declared).
    assert [i.name for i in g4f_lite.providers(model="gpt-4o-mini", plugin="config")] == [
        "Modelled"
    ]


async def test_declared_bot_settings_win_over_the_page() -> None:
    async with AIEngineEmulator(generation="2.0", bot_id="chatbot-7", context_id=99) as site:
        await ask(declare(site, nonce="page", bot_id="mine", context_id=5))
    assert site.requests[-1].body["botId"] == "mine"
    assert site.requests[-1].body["contextId"] == 5


# -- stale nonces: refresh once, then fail ---------------------------------------


@pytest.mark.parametrize(("generation", "mode"), [("2.4.4", "page"), ("3.x", "session")])
async def test_a_stale_nonce_is_refreshed_once(generation: Generation, mode: str) -> None:
    async with AIEngineEmulator(generation=generation, reply="ok") as site:
        provider = declare(site, nonce=mode)
        assert await ask(provider) == "ok"
        site.advance(25)  # two ticks: the nonce expired
        site.reset()
        assert await ask(provider) == "ok"
    refresh = "GET /" if mode == "page" else f"POST {SESSION}"
    assert calls(site) == [f"POST {SUBMIT}", refresh, f"POST {SUBMIT}"]
    rejected, _, accepted = site.requests
    assert rejected.headers["X-WP-Nonce"] != accepted.headers["X-WP-Nonce"] == site.nonce


async def test_auto_follows_a_site_that_upgraded_its_plugin() -> None:
    async with AIEngineEmulator(generation="2.4.4", reply="ok") as site:
        provider = declare(site)
        await ask(provider)
        assert site_state(site.url).method == "page"
        site.generation = "3.x"  # the page no longer carries a nonce
        site.advance(25)
        site.reset()
        assert await ask(provider) == "ok"
        assert site_state(site.url).method == "session"
    assert calls(site) == [f"POST {SUBMIT}", "GET /", f"POST {SESSION}", f"POST {SUBMIT}"]


async def test_revoked_nonces_are_refreshed_too() -> None:
    async with AIEngineEmulator(generation="2.0", reply="ok") as site:
        provider = declare(site, nonce="page")
        await ask(provider)
        site.revoke_nonces()  # as when WordPress's salts change
        site.reset()
        assert await ask(provider) == "ok"
    assert calls(site) == [f"POST {SUBMIT}", "GET /", f"POST {SUBMIT}"]


async def test_a_nonce_rejected_after_the_refresh_fails_clearly() -> None:
    async with AIEngineEmulator(generation="2.4.4") as site:
        provider = declare(site, nonce="page")
        await ask(provider)
        site.reset()
        site.faults.extend([Fault.http_status(403)] * 2)  # 403 rest_cookie_invalid_nonce
        with pytest.raises(PermissionDeniedError, match="still rejected") as info:
            await ask(provider)
    assert info.value.code == "rest_cookie_invalid_nonce"
    assert calls(site) == [f"POST {SUBMIT}", "GET /", f"POST {SUBMIT}"]  # exactly one refresh


async def test_auto_gives_up_after_every_method() -> None:
    async with AIEngineEmulator(generation="3.x") as site:
        site.faults.extend([Fault.http_status(401)] * 2)  # also reject the session nonce
        with pytest.raises(AuthenticationError, match="session nonce"):
            await ask(declare(site))


async def test_a_content_rejection_is_not_mistaken_for_a_stale_nonce() -> None:
    async with AIEngineEmulator(generation="1.9") as site:
        with pytest.raises(RequestRejectedError, match="query has been rejected") as info:
            await ask(declare(site), [{"role": "user", "content": "   "}])
    assert (info.value.request_fault, info.value.param, info.value.provider) == (
        True,
        "messages",
        "MySite",
    )
    assert calls(site) == [f"POST {SUBMIT}"]  # no nonce discovery for a content filter


# -- rotation (plugin >= 2.8.5) ---------------------------------------------------


@pytest.mark.parametrize("stream", [True, False])
async def test_new_token_replaces_the_nonce(stream: bool) -> None:
    async with AIEngineEmulator(generation="2.8.5", refresh_header=False) as site:
        provider = declare(site, nonce="page", stream=stream)
        await ask(provider)
        first = site.requests[-1].headers["X-WP-Nonce"]
        site.advance(13)  # 12-24 hours old: accepted, and replaced through end.new_token
        await ask(provider)
        site.advance(13)  # the first nonce has expired, the rotated one has not
        site.reset()
        await ask(provider)
    assert calls(site) == [f"POST {SUBMIT}"]  # no refresh needed
    rotated = site.requests[0].headers["X-WP-Nonce"]
    assert rotated != first


async def test_the_refreshed_nonce_header_is_used_too() -> None:
    async with AIEngineEmulator(generation="2.8.5") as site:
        provider = declare(site, nonce="page")
        await ask(provider)
        site.advance(13)
        await ask(provider)
        assert site_state(site.url).credentials is not None
        assert site_state(site.url).credentials.nonce == site.nonce  # type: ignore[union-attr]


# -- the request ------------------------------------------------------------------


async def test_history_without_the_new_turn_and_system_folded_first() -> None:
    messages = [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "two"},
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "three"},
    ]
    async with AIEngineEmulator() as site:
        await ask(declare(site), messages)
    body = site.requests[0].body
    assert body["newMessage"] == "three"
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "two"},
    ]
    assert body["session"] == "N/A"
    assert body["stream"] is True
    assert body["botId"] == "default"
    assert site.requests[0].context[-1] == {"role": "user", "content": "three"}


async def test_the_last_message_must_be_the_users() -> None:
    async with AIEngineEmulator() as site:
        with pytest.raises(InvalidMessagesError, match=r"MySite: .*role 'user'") as info:
            await ask(declare(site), [*HELLO, {"role": "assistant", "content": "Hi"}])
    assert site.requests == []
    assert (info.value.request_fault, info.value.param) == (True, "messages")


async def test_stream_false_uses_the_json_reply() -> None:
    async with AIEngineEmulator(reply="The whole answer.") as site:
        chunks = [c async for c in run_provider(declare(site), "", HELLO, stream=False)]
    assert chunks == ["The whole answer.", Usage.of(1, 3)]
    assert site.requests[0].body["stream"] is False


# -- the answer -------------------------------------------------------------------


async def test_subtype_events_are_not_answer_text() -> None:
    async with AIEngineEmulator(reply="a b c", fault=Fault.subtypes()) as site:
        assert await ask(declare(site)) == "a b c"


async def test_sse_labelled_json_is_read_by_its_body() -> None:
    async with AIEngineEmulator(reply="a b c", fault=Fault.json_content_type()) as site:
        assert await ask(declare(site)) == "a b c"


async def test_error_event_and_rejection_before_streaming() -> None:
    async with AIEngineEmulator(faults=[Fault.error_event(after=1)], input_limit=10) as site:
        provider = declare(site)
        with pytest.raises(UpstreamError, match="server had an error") as info:
            await ask(provider)
        assert info.value.partial == "Hello "
        with pytest.raises(RequestRejectedError, match="too long") as rejected:
            await ask(provider, [{"role": "user", "content": "x" * 11}])
        with pytest.raises(RequestRejectedError, match="too long") as rejected_json:
            await ask(provider, [{"role": "user", "content": "x" * 11}], stream=False)
    assert info.value.retryable  # an upstream failure mid-answer may pass
    assert not info.value.request_fault
    for refused in (rejected.value, rejected_json.value):
        # A refused message will be refused again, and is not the site's fault.
        assert not refused.retryable
        assert (refused.request_fault, refused.param) == (True, "messages")


async def test_truncated_and_broken_streams_are_typed_errors() -> None:
    async with AIEngineEmulator(
        reply="a b c d", faults=[Fault.no_end(), Fault.garbage(after=1), Fault.no_type()]
    ) as site:
        provider = declare(site)
        with pytest.raises(TruncatedResponseError) as truncated:
            await ask(provider)
        assert truncated.value.partial == "a b c d"
        with pytest.raises(BrokenLineError, match="Broken line") as broken:
            await ask(provider)
        assert isinstance(broken.value, RuntimeError)
        assert broken.value.provider == "MySite"
        with pytest.raises(BrokenLineError, match="no 'type'"):
            await ask(provider)


# -- secrets ----------------------------------------------------------------------


async def test_nonces_and_sessions_never_reach_errors_reprs_or_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with AIEngineEmulator(generation="3.x") as site:
        provider = declare(site)
        await ask(provider)
        site.faults.extend([Fault.http_status(401)] * 2)
        with pytest.raises(ProviderError) as info:
            await ask(provider)
        state = site_state(site.url)
    leaks = [str(info.value), repr(info.value), repr(state), caplog.text]
    assert caplog.text  # discovery was logged...
    for text in leaks:
        assert site.nonce not in text  # ...without the nonce
        for session in site.sessions:
            assert session not in text


# -- siblings declared as data ----------------------------------------------------


def test_sibling_sites_are_registered_from_data() -> None:
    infos = {i.name: i for i in g4f_lite.providers(plugin="g4f-lite-aiengine")}
    assert set(infos) == set(SITES)
    for name, data in SITES.items():
        info = infos[name]
        assert info.url == data["url"]
        assert (info.working, info.needs_auth, info.supports_stream) == (False, False, True)
        provider = g4f_lite.get_provider(name)
        assert issubclass(provider, AIEngineProvider)
        assert provider.nonce == data.get("nonce", "auto")
    assert g4f_lite.get_provider("NoowAi").custom_id == "d49bc3670c3d858458576d75c8ea0f5d"  # type: ignore[attr-defined]


async def test_a_sibling_speaks_to_any_site_with_base_url() -> None:
    async with AIEngineEmulator(generation="2.0", reply="ok") as site:
        provider = g4f_lite.get_provider("ChatgptAi")
        assert await ask(provider, base_url=site.url) == "ok"
    assert site.requests[-1].body["messages"] == []


async def test_the_generic_provider_is_usable_through_chat_completion() -> None:
    async with AIEngineEmulator(generation="3.x", reply="sync ok") as site:
        declare(site)
        text = await g4f_lite.ChatCompletion.create_async("", HELLO, provider="mysite")
        assert text == "sync ok"


def test_end_payload_is_decoded_twice() -> None:
    from g4f_lite_aiengine.protocol import parse_reply

    end = json.dumps({"success": True, "reply": "x", "new_token": "tok"})
    payload = parse_reply("P", b"data: " + json.dumps({"type": "end", "data": end}).encode())
    assert payload.reply == "x"
    assert payload.new_token == "tok"
    assert "tok" not in repr(payload)


async def test_connections_are_reused_across_nonce_discovery() -> None:
    async with AIEngineEmulator(generation="3.x") as site:
        provider = declare(site)
        await ask(provider)
        await ask(provider, stream=False)
        await ask(provider)
    assert len({r.client_port for r in site.requests}) == 1
