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
    "NonceMode",
    "NonceUnavailableError",
    "SiteState",
    "fetch_page_settings",
    "forget_sites",
    "known_credentials",
    "obtain",
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


class NonceUnavailableError(ProtocolError):
    """The chat page offers no nonce (AI Engine 3.x for logged-out visitors).

    ``page`` keeps the bot settings the page did state, for the next method.
    """

    def __init__(self, provider: str, message: str, page: dict[str, Any]) -> None:
        super().__init__(provider, message)
        self.page = page


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


def site_state(site: str) -> SiteState:
    """The state of ``site`` (its base URL), created empty on first use."""
    return _sites.setdefault(site.rstrip("/"), SiteState())


def known_credentials(site: str) -> Credentials | None:
    """The credentials remembered for ``site``, if any (without creating its state)."""
    state = _sites.get(site.rstrip("/"))
    return state.credentials if state is not None else None


def forget_sites() -> None:
    """Forget every site's nonce and remembered method (tests, long-lived servers)."""
    _sites.clear()


async def fetch_page_settings(
    session: aiohttp.ClientSession,
    page_url: str,
    provider: str,
    *,
    bot_id: str | None = None,
    proxy: str | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Read the chatbot settings the chat page embeds in ``data-system='...'``.

    The attribute holds HTML-escaped JSON with ``restNonce``, ``botId``,
    ``customId``, ``contextId`` and ``sessionId``. With several chatbots on
    the page, the one whose ``botId`` is ``bot_id`` wins, else the first.
    """
    site = page_url.split("/", 3)
    origin = "/".join(site[:3])
    headers = browser_headers(origin, page_url, accept="text/html,application/xhtml+xml")
    headers["Sec-Fetch-Dest"], headers["Sec-Fetch-Mode"] = "document", "navigate"
    async with session.get(
        page_url, headers=headers, proxy=proxy, timeout=request_timeout(timeout)
    ) as response:
        await raise_for_status(response, provider)
        page = await read_body(response, provider, _MAX_PAGE_BYTES)
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
        raise ProtocolError(
            provider,
            f"the page {page_url} has no AI Engine chatbot (no data-system attribute); "
            "set page_path to the page that shows the chat",
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
) -> Credentials:
    """Get fresh credentials for ``site`` by ``method``.

    ``"page"`` raises :class:`NonceUnavailableError` when the page carries
    no nonce, which is the sign of a plugin that wants ``"session"``.
    """
    if method == "none":
        return Credentials("none")
    if method == "page":
        settings = await fetch_page_settings(
            session, page_url, provider, bot_id=bot_id, proxy=proxy, timeout=timeout
        )
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
