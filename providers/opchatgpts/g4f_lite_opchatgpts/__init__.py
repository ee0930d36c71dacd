"""Opchatgpts: the reference g4f-lite provider, the whole exchange in one module.

opchatgpts.net was a WordPress site running the "AI Engine" chat plugin
(<= 1.9, so no nonce). Copy this module when you write a provider: it uses
only the public g4f-lite API (``g4f_lite.http`` to send and read,
``g4f_lite.errors`` to report) and shows every step, top to bottom:

1. refuse what the site cannot answer before sending anything: a last turn
   that is not the user's (:class:`~g4f_lite.errors.InvalidMessagesError`),
   images or tools (:class:`~g4f_lite.errors.UnsupportedFeatureError`; the
   router never sends them here, a direct caller might); text parts are
   joined, since the site reads text;
2. with ``use_nonce=True`` (plugin >= 2.0), read the nonce from the chat
   page, refuse one that could not travel in a header, and remember it for
   the site only once the site has accepted it;
3. send the request; a non-2xx status becomes its typed error, the site's
   content filter ("query has been rejected") is the request's fault
   (:class:`~g4f_lite.errors.RequestRejectedError`), and a remembered nonce
   the site calls stale is fetched again, once;
4. read the server-sent events: ``live`` text, ``error``, and ``end`` (the
   whole reply, its ``usage``, perhaps the next nonce). A stream that closes
   without ``end`` is truncated, never a success;
5. after the text, yield the site's token counts as a
   :class:`~g4f_lite.types.Usage` event, when it reported well-formed ones.

It always streams: ``stream=False`` (a whole-answer call) changes nothing on
the wire, since the ``end`` event carries all a JSON reply would. It takes
no sampling options (the router drops them), as the seed sent none.

Seed behaviour kept on purpose: ``messages`` holds the whole conversation
*including* the new turn, and ``newMessage`` repeats that turn, so the site
sees the last user message twice. The generic AI Engine provider
(``g4f-lite-aiengine``) sends the history without the new turn; it shares
nothing with this module but the core helpers.
"""

from __future__ import annotations

import html
import logging
import random
import re
import string
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import aiohttp
from pydantic import ValidationError

import g4f_lite
from g4f_lite.errors import (
    BrokenLineError,
    HTTPStatusError,
    InvalidMessagesError,
    ProtocolError,
    ProviderError,
    RequestRejectedError,
    TruncatedResponseError,
    UnsupportedFeatureError,
    UpstreamError,
)
from g4f_lite.http import (
    DEFAULT_MAX_LINE_BYTES,
    check_token,
    drain,
    get_session,
    iter_lines,
    parse_json,
    raise_for_status,
    read_body,
    request_timeout,
    sse_event,
)
from g4f_lite.types import Chunk, Messages, Usage, has_images, has_tool_turns, text_of

__all__ = ["Opchatgpts", "forget_nonces", "register_providers"]

logger = logging.getLogger("g4f_lite.opchatgpts")

SUBMIT_PATH = "/wp-json/mwai-ui/v1/chats/submit"
#: The page that shows the chat: sent as Referer, and read for a nonce.
PAGE_PATH = "/chatgpt-free-use/"

# WordPress codes for "nonce missing or stale"; other 401/403 answers are final.
_NONCE_ERRORS = frozenset({"rest_forbidden", "rest_cookie_invalid_nonce"})
# How the plugin words its refusal of a request (empty input, content filter).
_REJECTED = "query has been rejected"
# A chat page is a whole WordPress page: bound what is read of it.
_MAX_PAGE_BYTES = 4 * 1024 * 1024
# The chatbot's settings, HTML-escaped JSON in an attribute of the chat page.
_DATA_SYSTEM = re.compile(rb"""data-system\s*=\s*(["'])(.*?)\1""", re.DOTALL)

# The nonce each site accepted last (its base URL as key). Anonymous nonces
# are shared by every visitor for 12 hours, so one per site is enough.
_nonces: dict[str, str] = {}


def forget_nonces() -> None:
    """Forget every remembered nonce (tests, or a site that changed its salts)."""
    _nonces.clear()


def chat_id(length: int = 10) -> str:
    """A random chat id of lowercase letters and digits, as the seed made them.

    It only names the conversation on the server; it is not a secret.
    """
    return "".join(random.choices(string.ascii_lowercase + string.digits, k=length))


class Opchatgpts(g4f_lite.AsyncGeneratorProvider):
    """opchatgpts.net, an AI Engine site (no nonce). The site is gone: not working."""

    url = "https://opchatgpts.net"
    working = False
    supports_message_history = True
    supports_gpt_35_turbo = True

    @classmethod
    async def create_async_generator(
        cls,
        model: str,
        messages: Messages,
        proxy: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | None = None,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        use_nonce: bool = False,
        **kwargs: Any,
    ) -> AsyncIterator[Chunk]:
        """Stream the answer, then its usage when the site reports it.

        ``base_url`` points the provider at another AI Engine site;
        ``use_nonce=True`` sends the ``X-WP-Nonce`` a plugin >= 2.0 wants.
        """
        site = (base_url or cls.url).rstrip("/")
        # The site answers the last message as the user's: anything else is
        # the caller's mistake, refused before a request is spent on it.
        if not messages or messages[-1].get("role") != "user":
            raise InvalidMessagesError(
                f"{cls.name}: an AI Engine site answers a user message: "
                "the last message must have role 'user'"
            )
        if has_images(messages):
            raise UnsupportedFeatureError(cls.name, "vision", "the site reads text, not images")
        if kwargs.get("tools") or has_tool_turns(messages):
            raise UnsupportedFeatureError(cls.name, "tools", "the site cannot call tools")
        messages = [{"role": m["role"], "content": text_of(m["content"])} for m in messages]
        page_url = f"{site}{PAGE_PATH}"
        headers = {
            "User-Agent": (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
                "(KHTML, like Gecko) Chrome/116.0.0.0 Safari/537.36"
            ),
            "Accept": "*/*",
            "Accept-Language": "de,en-US;q=0.7,en;q=0.3",
            "Origin": site,
            "Alt-Used": "opchatgpts.net",
            "Referer": page_url,
            "Sec-Fetch-Dest": "empty",
            "Sec-Fetch-Mode": "cors",
            "Sec-Fetch-Site": "same-origin",
        }
        data = {
            "botId": "default",
            "chatId": chat_id(),
            "contextId": 28,
            "customId": None,
            "messages": messages,
            "newMessage": messages[-1]["content"],
            "session": "N/A",
            "stream": True,
        }
        session = await get_session()
        nonce = _nonces.get(site) if use_nonce else None
        remembered = nonce is not None  # only a remembered nonce can have gone stale
        while True:
            if use_nonce and nonce is None:
                nonce = await cls._page_nonce(session, page_url, headers, proxy, timeout)
            async with session.post(
                f"{site}{SUBMIT_PATH}",
                json=data,
                headers={**headers, "X-WP-Nonce": nonce} if nonce else headers,
                proxy=proxy,
                timeout=request_timeout(timeout),
            ) as response:
                try:
                    await raise_for_status(response, cls.name)
                except HTTPStatusError as exc:
                    if exc.status == 403 and _REJECTED in exc.server_message.lower():
                        raise _failure(cls.name, exc.server_message) from None
                    if remembered and exc.status in (401, 403) and exc.code in _NONCE_ERRORS:
                        _nonces.pop(site, None)
                        remembered, nonce = False, None  # fetch a fresh one, once
                        continue
                    raise
                if nonce is not None:
                    _nonces[site] = nonce  # accepted: worth remembering
                end: dict[str, Any] = {}
                try:
                    if nonce is not None and (header := response.headers.get("X-WP-Nonce")):
                        _nonces[site] = check_token(cls.name, header, "X-WP-Nonce header")
                    async for text in read_answer(response, cls.name, max_line_bytes, end):
                        yield text
                except ProtocolError:
                    # An answer off the protocol (a nonce that cannot be sent
                    # back, a changed plugin): keep nothing from it, so that the
                    # next call starts afresh instead of failing for ever.
                    _nonces.pop(site, None)
                    raise
                # Plugin >= 2.8.5 replaces a nonce that is 12-24 hours old.
                if nonce is not None and end.get("new_token"):
                    _nonces[site] = end["new_token"]
                if end.get("usage") is not None:
                    yield end["usage"]
                return

    @classmethod
    async def _page_nonce(
        cls,
        session: aiohttp.ClientSession,
        page_url: str,
        headers: Mapping[str, str],
        proxy: str | None,
        timeout: float | None,
    ) -> str:
        """The ``restNonce`` of the chat page's ``data-system`` attribute (plugin >= 2.0)."""
        page_headers = {**headers, "Accept": "text/html", "Sec-Fetch-Mode": "navigate"}
        async with session.get(
            page_url, headers=page_headers, proxy=proxy, timeout=request_timeout(timeout)
        ) as response:
            await raise_for_status(response, cls.name)
            page = await read_body(response, cls.name, _MAX_PAGE_BYTES)
        for match in _DATA_SYSTEM.finditer(page):
            text = html.unescape(match.group(2).decode("utf-8", "replace"))
            settings = parse_json(cls.name, text, "the chat page's data-system attribute")
            nonce = settings.get("restNonce") if isinstance(settings, dict) else None
            if isinstance(nonce, str) and nonce:
                # It goes into a header of every later request: a CR/LF in it
                # would corrupt them all, so it is refused, never remembered.
                return check_token(cls.name, nonce, "nonce")
        raise ProtocolError(
            cls.name, f"the chat page {page_url} carries no restNonce: is use_nonce needed?"
        )

    @classmethod
    def secret_values(cls, kwargs: Mapping[str, Any]) -> frozenset[str]:
        """The call's secrets, plus the nonce remembered for its site."""
        site = str(kwargs.get("base_url") or cls.url).rstrip("/")
        nonce = _nonces.get(site)
        return super().secret_values(kwargs) | ({nonce} if nonce else set())


async def read_answer(
    response: aiohttp.ClientResponse,
    provider: str,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    end: dict[str, Any] | None = None,
) -> AsyncIterator[str]:
    """Yield the text of a streamed AI Engine answer; ``end`` receives the final payload.

    The events are SSE-framed JSON with no ``[DONE]``: ``live`` carries
    text (newer plugins add ``subtype``\\ d events that are not answer
    text), ``end`` the whole reply JSON-encoded into a string, ``error`` a
    failure behind an HTTP 200. The Content-Type says little, so the body
    decides: a plain JSON body (a site ignoring ``stream``) is one answer.
    """
    # SSE labelled application/json, opening with `error`: the plugin refused
    # this input before answering (e.g. over its length limit).
    labelled_json = response.content_type == "application/json"
    first = True
    plain: list[bytes] = []
    async for line in iter_lines(response, provider, max_line_bytes):
        if plain or (first and line.lstrip().startswith(b"{")):
            plain.append(line)
            continue
        if not line.startswith(b"data:"):
            continue  # blank separators and comments
        event = sse_event(provider, line)
        kind = event.get("type")
        if kind is None:
            raise BrokenLineError(provider, line, "no 'type'")
        if kind == "live" and event.get("subtype") in (None, "content"):
            text = event.get("data")
            if not isinstance(text, str):
                raise BrokenLineError(provider, line, "a 'live' event without text")
            yield text
        elif kind == "end":
            data = event.get("data")
            if isinstance(data, str):  # JSON-encoded into a string inside the event's JSON
                data = parse_json(provider, data, "the 'end' data")
            payload = _reply(provider, data, line)
            if end is not None:
                end.update(payload)
            await drain(response)  # so that the connection goes back to the pool
            return
        elif kind == "error":
            data = event.get("data")
            message = data if isinstance(data, str) and data else "the site reported an error"
            if event.get("overLimit"):
                message += " (over the site's limit)"
            raise _failure(provider, message, refused=first and labelled_json)
        first = False  # unknown event types belong to newer plugins: skipped
    if plain:
        whole = b"\n".join(plain)
        payload = _reply(provider, parse_json(provider, whole, "the answer"), whole)
        if end is not None:
            end.update(payload)
        yield payload["reply"]
        return
    raise TruncatedResponseError(provider, "the stream closed without an 'end' event")


def _reply(provider: str, data: Any, line: bytes) -> dict[str, Any]:
    """Check a reply (``end`` data, or a JSON answer): ``reply``, ``new_token``, ``usage``."""
    if not isinstance(data, dict):
        raise BrokenLineError(provider, line, "the answer is not a JSON object")
    if data.get("success") is False:
        raise _failure(provider, str(data.get("message") or "the site reported a failure"))
    reply = data.get("reply")
    if not isinstance(reply, str):
        raise BrokenLineError(provider, line, "the answer has no 'reply' text")
    token = data.get("new_token")
    if isinstance(token, str) and token:
        # It becomes the next request's X-WP-Nonce header: a CR/LF in it
        # would break every later request to the site.
        check_token(provider, token, "new_token")
    else:
        token = None
    return {"reply": reply, "new_token": token, "usage": _usage(provider, data.get("usage"))}


def _usage(provider: str, data: Any) -> Usage | None:
    """The site's token counts; malformed ones are dropped, never guessed at."""
    if data is None:
        return None
    try:
        # Strict: "12" or 12.5 is not a count. Extra keys (price...) are ignored.
        usage = Usage.model_validate(data, strict=True)
    except ValidationError:
        logger.debug("%s: ignored a malformed 'usage'", provider)
        return None
    if not (usage.total_tokens or usage.completion_tokens):
        # All zeros is the plugin's placeholder when its engine counted nothing.
        logger.debug("%s: ignored an all-zero 'usage'", provider)
        return None
    return usage


def _failure(provider: str, message: str, *, refused: bool = False) -> ProviderError:
    """The error for a failure the site reports; its refusal is the request's fault."""
    if refused or _REJECTED in message.lower():
        # The same request fails on any site, and this one is not to blame.
        return RequestRejectedError(provider, f"the site refused the request: {message}")
    return UpstreamError(provider, message)


#: Kept for code written against earlier versions of this module.
random_string = chat_id


@g4f_lite.hookimpl
def register_providers(register: Callable[[type[g4f_lite.BaseProvider]], None]) -> None:
    """Register Opchatgpts with g4f-lite."""
    register(Opchatgpts)
