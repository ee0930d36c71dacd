"""Nonces and sessions: how each AI Engine generation lets a visitor in.

=========  ==========================================================
plugin     what a logged-out visitor needs
=========  ==========================================================
<= 1.9     nothing (``"none"``)
>= 2.0     the ``X-WP-Nonce`` header, its value read from the chat page's
           ``data-system`` attribute (``"page"``)
>= 2.4.4   ``POST /wp-json/mwai/v1/start_session`` gives ``restNonce`` and
           ``sessionId`` (``"session"``); 3.x pages carry ``null`` instead
           of a nonce, so this is the only way in
>= 2.8.5   a nonce 12-24 hours old comes back replaced (``end.new_token``)
=========  ==========================================================

What a site needs is remembered per site (its base URL) for the life of
the process: ``nonce="auto"`` discovers it once. Nonces and session ids are
kept out of every ``repr``, log line and error message.
"""

from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeAlias
from urllib.parse import urljoin, urlsplit

from g4f_lite.errors import ProtocolError
from g4f_lite.http import (
    JSONNestingError,
    check_token,
    loads_json,
    parse_json,
    raise_for_status,
    read_body,
    request_timeout,
)

from .protocol import START_SESSION_PATH, browser_headers

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "METHODS",
    "Credentials",
    "Method",
    "NoChatbotError",
    "NonceMode",
    "NonceUnavailableError",
    "SiteState",
    "fetch_page",
    "fetch_page_settings",
    "forget_sites",
    "known_credentials",
    "known_root",
    "obtain",
    "page_settings",
    "remember_root",
    "rest_root",
    "site_state",
]

logger = logging.getLogger("g4f_lite.aiengine")

#: How a site lets visitors in; ``"auto"`` finds out and remembers.
NonceMode: TypeAlias = Literal["auto", "none", "page", "session"]
Method: TypeAlias = Literal["none", "page", "session"]
#: The order ``nonce="auto"`` tries the methods in, oldest plugin first.
METHODS: tuple[Method, ...] = ("none", "page", "session")

# A chat page is a whole WordPress page; bound what we read of it.
_MAX_PAGE_BYTES = 4 * 1024 * 1024
_DATA_SYSTEM = re.compile(rb"""data-system\s*=\s*(?:'([^']*)'|"([^"]*)")""")
# WordPress announces its REST root on every page: <link rel="https://api.w.org/" href="...">.
_LINK_TAG = re.compile(rb"<link\b[^>]*>", re.IGNORECASE)
_ATTRIBUTE = re.compile(rb"""([a-zA-Z-]+)\s*=\s*(?:'([^']*)'|"([^"]*)"|([^\s'">]+))""")
_API_REL = "https://api.w.org/"


class NonceUnavailableError(ProtocolError):
    """The chat page offers no nonce (AI Engine 3.x for logged-out visitors).

    ``page`` keeps the bot settings the page did state, for the next method.
    """

    def __init__(self, provider: str, message: str, page: dict[str, Any]) -> None:
        super().__init__(provider, message)
        self.page = page


class NoChatbotError(NonceUnavailableError):
    """The chat page shows no AI Engine chatbot (no ``data-system`` attribute).

    With ``nonce="auto"`` the next way in (``start_session``, which needs no
    page) is still tried; ``reason`` says what the page lacked, for the final
    error should that fail too.
    """

    def __init__(self, provider: str, message: str, reason: str) -> None:
        super().__init__(provider, message, {})
        self.reason = reason


@dataclass
class Credentials:
    """What the next submit sends: the nonce header, the session and the page's bot settings."""

    method: Method
    nonce: str | None = field(default=None, repr=False)
    session: str = field(default="N/A", repr=False)
    #: ``botId``, ``customId`` and ``contextId`` as the chat page states them.
    page: dict[str, Any] = field(default_factory=dict)

    def headers(self) -> dict[str, str]:
        """The request headers that carry the nonce (none without one)."""
        return {"X-WP-Nonce": self.nonce} if self.nonce else {}


@dataclass
class SiteState:
    """What g4f-lite knows about one site."""

    #: The method that worked last with ``nonce="auto"``.
    method: Method | None = None
    credentials: Credentials | None = None


_sites: dict[str, SiteState] = {}
# The site root each chat page address led to (see rest_root).
_roots: dict[str, str] = {}


def site_state(site: str) -> SiteState:
    """The state of ``site`` (its base URL), created empty on first use."""
    return _sites.setdefault(site.rstrip("/"), SiteState())


def known_credentials(site: str) -> Credentials | None:
    """The credentials remembered for ``site``, if any (without creating its state)."""
    state = _sites.get(site.rstrip("/"))
    return state.credentials if state is not None else None


def forget_sites() -> None:
    """Forget every site's nonce, method and discovered root (tests, long-lived servers)."""
    _sites.clear()
    _roots.clear()


def known_root(page_url: str) -> str | None:
    """The site root discovered for the chat page at ``page_url``, if it was read already."""
    return _roots.get(page_url)


def remember_root(page_url: str, root: str) -> str:
    """Remember (and return) the site root the chat page at ``page_url`` announced."""
    _roots[page_url] = root.rstrip("/")
    return _roots[page_url]


def rest_root(page: bytes, page_url: str) -> str | None:
    """The WordPress site root the chat page announces, or ``None`` if it says nothing usable.

    WordPress may live in a subdirectory (``https://host/blog/``), so the
    root is not always the origin. It is read, in this order, from the
    chatbot's ``restUrl`` in ``data-system`` and from the
    ``<link rel="https://api.w.org/" href="...">`` WordPress prints on every
    page; either is the REST root, ``{root}/wp-json``. A REST root on another
    origin is ignored (the messages and the nonce must not leave the site),
    and so is one that is not ``.../wp-json`` (plain permalinks'
    ``?rest_route=``, which this provider does not speak).
    """
    found: list[str] = []
    for match in _DATA_SYSTEM.finditer(page):
        raw = (match.group(1) if match.group(1) is not None else match.group(2)) or b""
        try:
            settings = loads_json(html.unescape(raw.decode("utf-8", "replace")))
        except ValueError:
            continue
        if isinstance(settings, dict) and isinstance(settings.get("restUrl"), str):
            found.append(settings["restUrl"])
    for tag in _LINK_TAG.finditer(page):
        attributes = {
            m.group(1).lower(): html.unescape(
                next(g for g in m.groups()[1:] if g is not None).decode("utf-8", "replace")
            )
            for m in _ATTRIBUTE.finditer(tag.group(0))
        }
        if _API_REL in attributes.get(b"rel", "").split() and attributes.get(b"href"):
            found.append(attributes[b"href"])
    origin = _origin(page_url)
    for candidate in found:
        url = urljoin(page_url, candidate.strip())
        if _origin(url) != origin or urlsplit(url).query:
            continue
        path = urlsplit(url).path.rstrip("/")
        if path.endswith("/wp-json"):
            return origin + path[: -len("/wp-json")]
    return None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


async def fetch_page(
    session: aiohttp.ClientSession,
    page_url: str,
    provider: str,
    *,
    proxy: str | None = None,
    timeout: float | None = None,
) -> bytes:
    """GET the chat page as a browser would, and return its body (bounded)."""
    headers = browser_headers(_origin(page_url), page_url, accept="text/html,application/xhtml+xml")
    headers["Sec-Fetch-Dest"], headers["Sec-Fetch-Mode"] = "document", "navigate"
    async with session.get(
        page_url, headers=headers, proxy=proxy, timeout=request_timeout(timeout)
    ) as response:
        await raise_for_status(response, provider)
        return await read_body(response, provider, _MAX_PAGE_BYTES)


async def fetch_page_settings(
    session: aiohttp.ClientSession,
    page_url: str,
    provider: str,
    *,
    bot_id: str | None = None,
    proxy: str | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Fetch the chat page and read its chatbot settings (see :func:`page_settings`)."""
    page = await fetch_page(session, page_url, provider, proxy=proxy, timeout=timeout)
    return page_settings(page, page_url, provider, bot_id=bot_id)


def page_settings(
    page: bytes, page_url: str, provider: str, *, bot_id: str | None = None
) -> dict[str, Any]:
    """Read the chatbot settings the chat page embeds in ``data-system='...'``.

    The attribute holds HTML-escaped JSON with ``restNonce``, ``botId``,
    ``customId``, ``contextId`` and ``sessionId``. With several chatbots on
    the page, the one whose ``botId`` is ``bot_id`` wins, else the first.
    A page without any raises :class:`NoChatbotError`.
    """
    candidates: list[dict[str, Any]] = []
    too_deep = False
    for match in _DATA_SYSTEM.finditer(page):
        raw = (match.group(1) if match.group(1) is not None else match.group(2)) or b""
        try:
            settings = loads_json(html.unescape(raw.decode("utf-8", "replace")))
        except JSONNestingError:
            too_deep = True
            continue
        except ValueError:
            continue
        if isinstance(settings, dict):
            candidates.append(settings)
    if not candidates and too_deep:
        raise ProtocolError(
            provider, f"the page {page_url} has a data-system attribute of JSON nested too deep"
        )
    if not candidates:
        reason = f"the page {page_url} shows no AI Engine chatbot (no data-system attribute)"
        raise NoChatbotError(
            provider, f"{reason}; set page_path to the page that shows the chat", reason
        )
    for settings in candidates:
        if bot_id is not None and settings.get("botId") == bot_id:
            return settings
    return candidates[0]


def _page_bot_settings(settings: dict[str, Any]) -> dict[str, Any]:
    keep = {"botId": str, "customId": str, "contextId": int}
    return {k: v for k, t in keep.items() if isinstance(v := settings.get(k), t)}


async def obtain(
    method: Method,
    session: aiohttp.ClientSession,
    site: str,
    page_url: str,
    provider: str,
    *,
    bot_id: str | None = None,
    proxy: str | None = None,
    timeout: float | None = None,
    page: bytes | None = None,
) -> Credentials:
    """Get fresh credentials for ``site`` by ``method``.

    ``"page"`` raises :class:`NonceUnavailableError` when the page carries
    no nonce, which is the sign of a plugin that wants ``"session"``, and
    :class:`NoChatbotError` when it shows no chatbot at all. ``page``: the
    chat page's body when it was just fetched (it is not fetched again).
    """
    if method == "none":
        return Credentials("none")
    if method == "page":
        if page is None:
            page = await fetch_page(session, page_url, provider, proxy=proxy, timeout=timeout)
        settings = page_settings(page, page_url, provider, bot_id=bot_id)
        nonce = settings.get("restNonce")
        if not isinstance(nonce, str) or not nonce:
            raise NonceUnavailableError(
                provider,
                f"the page {page_url} carries no restNonce (AI Engine 3.x gives logged-out "
                "visitors none): use nonce='session' or nonce='auto'",
                _page_bot_settings(settings),
            )
        session_id = settings.get("sessionId")
        logger.debug("%s: read a nonce from the chat page of %s", provider, site)
        return Credentials(
            "page",
            check_token(provider, nonce, "nonce"),
            _session_id(provider, session_id),
            _page_bot_settings(settings),
        )
    async with session.post(
        f"{site}{START_SESSION_PATH}",
        headers=browser_headers(site, page_url, accept="application/json"),
        proxy=proxy,
        timeout=request_timeout(timeout),
    ) as response:
        await raise_for_status(response, provider)
        body = await read_body(response, provider, 64 * 1024)
    data = parse_json(provider, body, "the start_session answer")
    nonce = data.get("restNonce") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(nonce, str) or not nonce:
        raise ProtocolError(provider, "start_session answered without a restNonce")
    logger.debug("%s: started a session on %s", provider, site)
    return Credentials(
        "session",
        check_token(provider, nonce, "nonce"),
        _session_id(provider, data.get("sessionId")),
    )


def _session_id(provider: str, value: Any) -> str:
    # Sent back in every request body; refused like a nonce if it could not
    # travel in a header, since a site that mangles one mangles the other.
    if isinstance(value, str) and value:
        return check_token(provider, value, "session id")
    return "N/A"
