"""The generic AI Engine provider, and the sibling sites declared as data.

Many WordPress sites run the "AI Engine" chat plugin and speak the same
protocol (``protocol``), differing only in URL, ``botId``, ``customId``,
``contextId`` and how a visitor gets a nonce (``nonce``). One provider class,
:class:`AIEngineProvider`, implements every plugin generation; each site is
a subclass made from data by :func:`make_provider`:

* the historical sites in :data:`SITES` are registered by this plugin;
* users declare their own with ``kind = "aiengine"`` in the configuration
  file, or ``g4f_lite.declare_provider("MySite", "aiengine", url=...)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

import aiohttp
from pydantic import Field, field_validator

import g4f_lite
from g4f_lite.errors import (
    ConfigurationError,
    HTTPStatusError,
    ProtocolError,
    ProviderError,
    error_for_status,
)
from g4f_lite.http import (
    DEFAULT_MAX_LINE_BYTES,
    check_token,
    get_session,
    raise_for_status,
    request_timeout,
)
from g4f_lite.kinds import ProviderKind, ProviderSettings
from g4f_lite.types import Chunk, Messages

from . import protocol
from .nonce import (
    METHODS,
    Credentials,
    Method,
    NoChatbotError,
    NonceMode,
    NonceUnavailableError,
    fetch_page,
    forget_sites,
    known_credentials,
    known_root,
    obtain,
    remember_root,
    rest_root,
    site_state,
)

__all__ = [
    "KIND",
    "SITES",
    "AIEngineProvider",
    "AIEngineSite",
    "NonceMode",
    "forget_sites",
    "make_provider",
    "register_provider_kinds",
    "register_providers",
]

_NONCE_MODES: tuple[NonceMode, ...] = ("auto", "none", "page", "session")


class AIEngineProvider(g4f_lite.AsyncGeneratorProvider):
    """Any site running the AI Engine plugin, every generation of it.

    Configure a site with the class attributes below (``make_provider`` does
    that from data). Per call, ``base_url=`` points at another site,
    ``nonce=`` overrides the nonce mode and ``stream=False`` asks the site
    for one JSON answer instead of a stream (the router passes it for
    whole-answer calls). The answer's text is followed by a
    :class:`~g4f_lite.types.Usage` event when the site reports its counts.

    A chatbot takes text: text parts are joined, and images, tools or a
    ``response_format`` are refused with
    :class:`~g4f_lite.errors.UnsupportedFeatureError` before any request.
    """

    name = "AIEngine"
    working = False
    supports_message_history = True
    supports_system_message = True
    #: The plugin (1.9.99 to 3.6.2 at least) lets the request body override
    #: the chatbot's ``temperature`` and ``maxTokens``, unless the chatbot
    #: runs in "prompt" mode. It clamps ``temperature`` to [0, 1]. Its
    #: ``stop`` takes a single string only, so it is not offered.
    sampling_options: ClassVar[frozenset[str]] = frozenset(
        {"temperature", "max_tokens", "max_completion_tokens"}
    )

    #: The chatbot to talk to; ``None``: the one the chat page names, else ``"default"``.
    bot_id: ClassVar[str | None] = None
    #: The chatbot's custom id (sites that define chatbots by shortcode set it).
    custom_id: ClassVar[str | None] = None
    #: The post id the chatbot lives on; ``None``: the page's, else ``null``.
    context_id: ClassVar[int | None] = None
    #: How to get in: ``"none"``, ``"page"``, ``"session"``, or ``"auto"`` to find out.
    nonce: ClassVar[NonceMode] = "auto"
    #: The chat page: sent as Referer, and read for its ``data-system`` settings.
    page_path: ClassVar[str] = "/"
    #: Whether the site root is read from the chat page rather than being
    #: ``url`` (set when ``url`` was the chat page's own address; see
    #: :func:`~g4f_lite_aiengine.nonce.rest_root`).
    discover_root: ClassVar[bool] = False
    #: Whether to ask the site for a stream (``stream: true``) by default.
    stream: ClassVar[bool] = True

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
        nonce: NonceMode | None = None,
        stream: bool | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        max_completion_tokens: int | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[Chunk]:
        """Stream the answer from the site (its ``reply`` when ``stream=False``), then its usage."""
        protocol.refuse_unsupported(cls.name, messages, kwargs)
        sampling = protocol.sampling_fields(
            cls.name, temperature, max_completion_tokens or max_tokens
        )
        site = (base_url or cls.url).rstrip("/")
        if not site:
            raise ConfigurationError(f"{cls.name}: no site URL; pass base_url=")
        mode = nonce or cls.nonce
        if mode not in _NONCE_MODES:
            raise ConfigurationError(
                f"{cls.name}: nonce must be one of {', '.join(_NONCE_MODES)}, got {mode!r}"
            )
        use_stream = cls.stream if stream is None else stream
        history, new_message = protocol.split_messages(messages, cls.name)
        page_url = f"{site}/{cls.page_path.lstrip('/')}"
        session = await get_session()
        # The page read to find the site root, kept for the "page" method.
        fetched: bytes | None = None
        if cls.discover_root:
            root = known_root(page_url)
            if root is None:
                fetched = await fetch_page(
                    session, page_url, cls.name, proxy=proxy, timeout=timeout
                )
                root = remember_root(page_url, rest_root(fetched, page_url) or site)
            site = root
        state = site_state(site)
        # Set when the page showed no chatbot and "auto" went on to start_session.
        no_chatbot: NoChatbotError | None = None

        async def get(method: Method) -> Credentials:
            nonlocal fetched
            page = None
            if method == "page":
                page, fetched = fetched, None
            return await obtain(
                method,
                session,
                site,
                page_url,
                cls.name,
                bot_id=cls.bot_id,
                proxy=proxy,
                timeout=timeout,
                page=page,
            )

        async def first_available(order: list[Method], start: int) -> tuple[int, Credentials]:
            # In "auto" mode a page without a nonce, or without a chatbot at
            # all, means "try start_session"; the bot settings the page states
            # still count.
            nonlocal no_chatbot
            page: dict[str, Any] = {}
            for index in range(start, len(order)):
                last = index == len(order) - 1
                try:
                    credentials = await get(order[index])
                except NonceUnavailableError as exc:
                    if last:
                        raise
                    if isinstance(exc, NoChatbotError):
                        no_chatbot = exc
                    page = exc.page
                    continue
                except HTTPStatusError as exc:
                    if order[index] == "page" and exc.status in (404, 410) and not last:
                        reason = f"the page {page_url} answered HTTP {exc.status}"
                        no_chatbot = NoChatbotError(cls.name, reason, reason)
                        continue
                    if order[index] == "session" and no_chatbot is not None:
                        raise cls._both_failed(exc, no_chatbot) from None
                    raise
                except ProtocolError as exc:
                    if order[index] == "session" and no_chatbot is not None:
                        raise cls._both_failed(exc, no_chatbot) from None
                    raise
                credentials.page = credentials.page or page
                return index, credentials
            raise AssertionError("unreachable: order is never empty")

        # "auto" starts from what worked last time and only ever moves forward.
        start = METHODS.index(state.method or "none")
        order = list(METHODS[start:]) if mode == "auto" else [mode]
        cached = state.credentials
        # Only a remembered nonce can go stale; "none" has nothing to refresh.
        from_cache = cached is not None and cached.method == order[0] and cached.nonce is not None
        if cached is not None and from_cache:
            index, credentials = 0, cached
        else:
            index, credentials = await first_available(order, 0)

        while True:
            try:
                response = await cls._submit(
                    session,
                    site,
                    page_url,
                    credentials,
                    history,
                    new_message,
                    use_stream,
                    sampling,
                    proxy,
                    timeout,
                )
                break
            except HTTPStatusError as exc:
                if protocol.is_rejection(exc):
                    raise protocol.rejected(cls.name, exc) from None
                if not protocol.is_nonce_error(exc):
                    raise
                if from_cache:
                    # A remembered nonce went stale: refresh it once, the same way
                    # (or, in "auto" mode, the next way if the site changed).
                    from_cache = False
                    stale = credentials
                    index, credentials = await first_available(order, index)
                    credentials.page = credentials.page or stale.page
                    continue
                if index + 1 < len(order):
                    index, credentials = await first_available(order, index + 1)
                    continue
                raise cls._final_nonce_error(exc, mode, credentials.method) from None

        state.credentials = credentials
        if mode == "auto":
            state.method = credentials.method
        async with response:
            try:
                header_nonce = response.headers.get("X-WP-Nonce")
                if credentials.nonce and header_nonce:
                    credentials.nonce = check_token(cls.name, header_nonce, "X-WP-Nonce header")
                result = protocol.StreamResult()
                if use_stream:
                    async for text in protocol.iter_text(
                        response, cls.name, max_line_bytes, result
                    ):
                        yield text
                else:
                    body = await protocol.read_body(response, cls.name, max_line_bytes)
                    result.end = protocol.parse_reply(cls.name, body)
            except ProtocolError:
                # An answer off the protocol (a new_token or nonce header that
                # cannot be sent back, a changed plugin): keep nothing from this
                # exchange, so that the next call fetches fresh credentials
                # instead of failing for the rest of the process.
                if state.credentials is credentials:
                    state.credentials = None
                raise
            # Plugin >= 2.8.5 replaces a nonce that is 12-24 hours old.
            if result.end is not None and result.end.new_token and credentials.nonce:
                credentials.nonce = result.end.new_token
            if not use_stream and result.end is not None:
                yield result.end.reply
            if result.end is not None and result.end.usage is not None:
                yield result.end.usage

    @classmethod
    def secret_values(cls, kwargs: Mapping[str, Any]) -> frozenset[str]:
        """The call's secrets, plus the nonce and session id remembered for its site."""
        # Here ``nonce=`` names a mode ("auto", "page"...), not a secret:
        # masking "auto" would garble every message that mentions it.
        options = {k: v for k, v in kwargs.items() if k != "nonce" or v not in _NONCE_MODES}
        found = set(super().secret_values(options))
        site = str(kwargs.get("base_url") or cls.url).rstrip("/")
        if site and cls.discover_root:
            site = known_root(f"{site}/{cls.page_path.lstrip('/')}") or site
        credentials = known_credentials(site) if site else None
        if credentials is not None:
            found.update(v for v in (credentials.nonce, credentials.session) if v and v != "N/A")
        return frozenset(found)

    @classmethod
    async def _submit(
        cls,
        session: aiohttp.ClientSession,
        site: str,
        page_url: str,
        credentials: Credentials,
        history: list[dict[str, str]],
        new_message: str,
        use_stream: bool,
        sampling: Mapping[str, Any],
        proxy: str | None,
        timeout: float | None,
    ) -> aiohttp.ClientResponse:
        """POST the message; return the open response, or raise for a non-2xx status."""
        page = credentials.page
        data = {
            "botId": cls.bot_id or page.get("botId") or "default",
            "customId": cls.custom_id if cls.custom_id is not None else page.get("customId"),
            "session": credentials.session,
            "chatId": protocol.chat_id(),
            "contextId": cls.context_id if cls.context_id is not None else page.get("contextId"),
            "messages": history,
            "newMessage": new_message,
            "newFileId": None,
            "stream": use_stream,
            **sampling,
        }
        accept = "text/event-stream" if use_stream else "application/json"
        headers = protocol.browser_headers(site, page_url, accept=accept)
        headers.update(credentials.headers())
        response = await session.post(
            f"{site}{protocol.SUBMIT_PATH}",
            json=data,
            headers=headers,
            proxy=proxy,
            timeout=request_timeout(timeout),
        )
        try:
            await raise_for_status(response, cls.name)
        except BaseException:
            response.release()
            raise
        return response

    @classmethod
    def _both_failed(cls, exc: ProviderError, no_chatbot: NoChatbotError) -> ProviderError:
        """The error of ``start_session``, naming the chat page tried before it."""
        before = f"start_session failed after {no_chatbot.reason}"
        if isinstance(exc, HTTPStatusError):
            said = exc.server_message
            return error_for_status(
                cls.name,
                exc.status,
                f"{before}: {said}" if said else before,
                code=exc.code,
                retry_after=exc.retry_after,
            )
        return ProtocolError(cls.name, f"{before}: {exc.detail}")

    @classmethod
    def _final_nonce_error(
        cls, exc: HTTPStatusError, mode: NonceMode, method: Method
    ) -> HTTPStatusError:
        if mode == "none":
            hint = "the site wants a nonce (AI Engine >= 2.0): use nonce='auto'"
        elif mode == "auto" and method == "session":
            hint = "rejected without a nonce, with the page's nonce and with a session nonce"
        else:
            hint = f"still rejected after fetching a fresh nonce ({method})"
        return error_for_status(
            cls.name,
            exc.status,
            f"{exc.server_message} ({hint})" if exc.server_message else hint,
            code=exc.code,
            retry_after=exc.retry_after,
        )


class AIEngineSite(ProviderSettings):
    """A site declared as data: the options of ``kind = "aiengine"`` tables.

    The common options (``enabled``, ``base_url``, ``proxy``, ``timeout``...)
    apply as to any provider; ``base_url`` overrides the site per call.

    ``url`` is the site, or the address of the chat page itself: with a path
    and no ``page_path``, ``url`` is the page (``https://site/chat/``); its
    path becomes ``page_path`` and the site root is what the page announces
    (WordPress may live in a subdirectory, ``https://host/blog/``), else the
    scheme and host. With ``page_path`` set, ``url`` is the site root as
    given, subdirectory included.
    """

    url: str = Field(description="The site, e.g. https://example.org, or its chat page's address")
    bot_id: str | None = None
    custom_id: str | None = None
    context_id: int | None = None
    nonce: NonceMode = "auto"
    page_path: str = "/"
    stream: bool = True
    working: bool = True
    supports_gpt_35_turbo: bool = False
    supports_gpt_4: bool = False
    #: Model names to route to this site (the site picks its model itself).
    models: list[str] = Field(default_factory=list)
    description: str = ""

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        if not urlsplit(value).hostname:
            raise ValueError("must name a host")
        # A page's trailing slash is kept: WordPress would redirect without it.
        return value if _page_of(value) else value.rstrip("/")

    @field_validator("page_path")
    @classmethod
    def _check_page_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/'")
        return value


def _page_of(url: str) -> str:
    """The path (and query) of ``url`` when it names a page, else ``""``."""
    parts = urlsplit(url)
    path = parts.path if parts.path not in ("", "/") else ""
    if parts.query:
        path = f"{path or '/'}?{parts.query}"
    return path


def make_provider(name: str, site: AIEngineSite) -> type[AIEngineProvider]:
    """Create the provider class ``name`` for one AI Engine site.

    A ``url`` with a path and no ``page_path`` is the chat page's address:
    see :class:`AIEngineSite`.
    """
    doc = site.description or f"{site.url}, an AI Engine site declared as data."
    url, page_path, discover = site.url.rstrip("/"), site.page_path, False
    page = _page_of(site.url)
    if page and "page_path" not in site.model_fields_set:
        parts = urlsplit(site.url)
        url, page_path, discover = f"{parts.scheme}://{parts.netloc}", page, True
    attributes: dict[str, Any] = {
        "__doc__": doc,
        "__module__": __name__,
        "name": name,
        "url": url,
        "working": site.working,
        "supports_gpt_35_turbo": site.supports_gpt_35_turbo,
        "supports_gpt_4": site.supports_gpt_4,
        "models": tuple(site.models),
        "bot_id": site.bot_id,
        "custom_id": site.custom_id,
        "context_id": site.context_id,
        "nonce": site.nonce,
        "page_path": page_path,
        "discover_root": discover,
        "stream": site.stream,
    }
    return type(name, (AIEngineProvider,), attributes)


#: The kind behind ``kind = "aiengine"`` tables.
KIND: ProviderKind[AIEngineSite] = ProviderKind(
    "aiengine", AIEngineSite, make_provider, "A WordPress site running the AI Engine chat plugin."
)

#: The historical sibling sites of Opchatgpts (from gpt4free's history), as data.
#: None works today (the sites are gone or changed), hence ``working = False``.
SITES: dict[str, dict[str, Any]] = {
    "NoowAi": {
        "url": "https://noowai.com",
        "custom_id": "d49bc3670c3d858458576d75c8ea0f5d",
        "context_id": 25,
        "nonce": "none",
    },
    "Chatgpt4Online": {"url": "https://chatgpt4online.org", "context_id": 58, "nonce": "session"},
    "ChatgptAi": {"url": "https://chatgpt.ai", "nonce": "page"},
    "OnlineGpt": {
        "url": "https://onlinegpt.org",
        "context_id": 9,
        "page_path": "/chat/",
        "nonce": "none",
    },
    "AiChatOnline": {
        "url": "https://aichatonline.org",
        "context_id": 7,
        "page_path": "/chatgpt/chat/",
        "nonce": "none",
    },
    "ChatgptDemoAi": {
        "url": "https://chat.chatgptdemo.ai",
        "custom_id": "8824fe9bdb323a5d585a3223aaa0cb6e",
        "context_id": 2,
        "nonce": "none",
    },
}


def _sites() -> list[type[AIEngineProvider]]:
    providers = []
    for name, data in SITES.items():
        site = AIEngineSite.model_validate(
            {
                "working": False,
                "supports_gpt_35_turbo": True,
                "description": f"{data['url']}: a historical gpt4free provider (site gone).",
                **data,
            }
        )
        providers.append(make_provider(name, site))
    return providers


@g4f_lite.hookimpl
def register_providers(register: Callable[[type[g4f_lite.BaseProvider]], None]) -> None:
    """Register the historical AI Engine sites."""
    for provider in _sites():
        register(provider)


@g4f_lite.hookimpl
def register_provider_kinds(register: Callable[[ProviderKind[Any]], None]) -> None:
    """Register kind ``aiengine``."""
    register(KIND)
