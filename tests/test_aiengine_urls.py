"""AI Engine sites as users point at them: a chat page's address, subdirectory installs,
pages that show no chatbot."""

from __future__ import annotations

from typing import Any

import pytest
from g4f_lite_aiengine import AIEngineProvider
from g4f_lite_aiengine.nonce import NoChatbotError, rest_root, site_state

import g4f_lite
from g4f_lite.errors import BadRequestError, ConfigurationError, ProtocolError
from g4f_lite.provider import BaseProvider, collect, run_provider
from g4f_lite.testing import AIEngineEmulator, Fault

pytestmark = pytest.mark.usefixtures("first_party_plugins")

SUBMIT = "/wp-json/mwai-ui/v1/chats/submit"
SESSION = "/wp-json/mwai/v1/start_session"
HELLO = [{"role": "user", "content": "Hello"}]


def declare(url: str, name: str = "MySite", **options: Any) -> type[BaseProvider]:
    return g4f_lite.declare_provider(name, "aiengine", url=url, **options)


async def ask(provider: type[BaseProvider], **kwargs: Any) -> str:
    return await collect(run_provider(provider, "", HELLO, **kwargs), provider.name)


def calls(site: AIEngineEmulator) -> list[str]:
    return [f"{r.method} {r.path}" for r in site.requests]


# -- url = the chat page's address ---------------------------------------------------


def test_a_page_address_splits_into_site_and_page_path() -> None:
    provider = declare("https://example.org/chat/")
    assert issubclass(provider, AIEngineProvider)
    assert provider.url == "https://example.org"
    assert provider.page_path == "/chat/"
    # A bare site keeps meaning the site, with or without its trailing slash.
    bare = declare("https://example.org/", name="Bare")
    assert issubclass(bare, AIEngineProvider)
    assert (bare.url, bare.page_path) == ("https://example.org", "/")


def test_an_explicit_page_path_keeps_url_as_the_site_root() -> None:
    provider = declare("https://host.example/blog/", page_path="/chat/")
    assert issubclass(provider, AIEngineProvider)
    assert provider.url == "https://host.example/blog"
    assert provider.page_path == "/chat/"


def test_a_url_without_a_host_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="url"):
        declare("https:///chat/")


@pytest.mark.parametrize("generation", ["1.9", "2.0", "3.x"])
async def test_a_chat_page_address_works_as_url(generation: Any) -> None:
    async with AIEngineEmulator(generation=generation, page_path="/chat/", reply="Hi") as site:
        provider = declare(site.page_url)
        assert await ask(provider) == "Hi"
        submit = site.requests[-1]
        assert submit.path == SUBMIT
        assert submit.headers["Referer"] == site.page_url
        # Read once: the second answer goes straight to the chatbot.
        site.reset()
        assert await ask(provider) == "Hi"
        assert calls(site) == [f"POST {SUBMIT}"]


async def test_a_subdirectory_install_is_found_from_the_page() -> None:
    # WordPress at http://host/blog/: the REST routes are under /blog, not at
    # the origin, and the chat page says so.
    async with AIEngineEmulator(
        generation="3.x", root="/blog", page_path="/chat/", reply="from the blog"
    ) as site:
        provider = declare(site.page_url)
        assert await ask(provider) == "from the blog"
        assert calls(site) == [
            "GET /blog/chat/",
            f"POST /blog{SUBMIT}",
            f"POST /blog{SESSION}",
            f"POST /blog{SUBMIT}",
        ]
        assert site_state(site.url).method == "session"


async def test_a_subdirectory_install_without_a_chatbot_on_the_page_uses_the_link() -> None:
    # No data-system to read restUrl from: WordPress's api.w.org link still names the root.
    async with AIEngineEmulator(
        generation="1.9", root="/wp", page_path="/about/", chatbot=False, reply="ok"
    ) as site:
        assert await ask(declare(site.page_url)) == "ok"
        assert calls(site) == ["GET /wp/about/", f"POST /wp{SUBMIT}"]


async def test_the_page_read_for_the_root_is_not_fetched_again_for_its_nonce() -> None:
    async with AIEngineEmulator(generation="2.0", root="/blog", page_path="/chat/") as site:
        await ask(declare(site.page_url))
        assert calls(site) == ["GET /blog/chat/", f"POST /blog{SUBMIT}", f"POST /blog{SUBMIT}"]
        assert site.requests[-1].headers["X-WP-Nonce"] == site.nonce


def test_the_root_rule() -> None:
    page = "https://host.example/blog/chat/"

    def html(head: str = "", system: str = "") -> bytes:
        body = f"<div data-system='{system}'></div>" if system else ""
        return f"<html><head>{head}</head><body>{body}</body></html>".encode()

    link = '<link rel="https://api.w.org/" href="https://host.example/blog/wp-json/" />'
    assert rest_root(html(link), page) == "https://host.example/blog"
    # The chatbot's own restUrl first (HTML-escaped JSON, as the plugin writes it).
    system = "{&quot;restUrl&quot;: &quot;https://host.example/site2/wp-json&quot;}"
    assert rest_root(html(link, system), page) == "https://host.example/site2"
    # Nothing said, another origin, or plain permalinks: not a root we can use.
    assert rest_root(html(), page) is None
    other = '<link rel="https://api.w.org/" href="https://evil.example/wp-json/" />'
    assert rest_root(html(other), page) is None
    plain = '<link rel="https://api.w.org/" href="https://host.example/?rest_route=/" />'
    assert rest_root(html(plain), page) is None
    relative = "<link href='/blog/wp-json/' rel='https://api.w.org/'>"
    assert rest_root(html(relative), page) == "https://host.example/blog"


# -- nonce="auto" and a page that shows no chatbot -------------------------------------


async def test_auto_falls_through_to_start_session_when_the_page_shows_no_chatbot() -> None:
    async with AIEngineEmulator(generation="3.x", chatbot=False, reply="in anyway") as site:
        provider = declare(site.url)
        assert await ask(provider) == "in anyway"
        assert calls(site) == [f"POST {SUBMIT}", "GET /", f"POST {SESSION}", f"POST {SUBMIT}"]
        assert site_state(site.url).method == "session"


async def test_auto_falls_through_to_start_session_when_the_page_is_missing() -> None:
    async with AIEngineEmulator(generation="2.4.4", page_path="/chat/", reply="ok") as site:
        provider = declare(site.url, page_path="/no-such-page/")
        assert await ask(provider) == "ok"
        assert calls(site) == [
            f"POST {SUBMIT}",
            "GET /no-such-page/",
            f"POST {SESSION}",
            f"POST {SUBMIT}",
        ]


async def test_without_chatbot_or_start_session_the_error_names_both_attempts() -> None:
    # Plugin 2.0 has no start_session, and this page shows no chatbot.
    async with AIEngineEmulator(generation="2.0", chatbot=False) as site:
        page_url = site.page_url
        with pytest.raises(BadRequestError) as info:
            await ask(declare(site.url))
    message = str(info.value)
    assert info.value.provider == "MySite"
    assert info.value.status == 404
    assert "start_session" in message
    assert f"the page {page_url} shows no AI Engine chatbot" in message
    assert calls(site) == [f"POST {SUBMIT}", "GET /", f"POST {SESSION}"]


async def test_a_broken_start_session_after_a_chatbotless_page_names_both() -> None:
    async with AIEngineEmulator(generation="3.x", chatbot=False) as site:
        site.faults.append(Fault.deep_json("session", depth=50_000))
        with pytest.raises(ProtocolError) as info:
            await ask(declare(site.url))
    assert "start_session failed after the page" in str(info.value)
    assert "no AI Engine chatbot" in str(info.value)


async def test_page_mode_on_a_page_without_a_chatbot_fails_without_falling_through() -> None:
    async with AIEngineEmulator(generation="3.x", chatbot=False) as site:
        with pytest.raises(NoChatbotError, match="set page_path") as info:
            await ask(declare(site.url, nonce="page"))
    assert isinstance(info.value, ProtocolError)
    assert calls(site) == ["GET /"]
