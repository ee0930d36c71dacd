"""The calls users make: :class:`Client` / :class:`AsyncClient`, and the legacy text API.

``Client().chat.completions.create(...)`` returns OpenAI-shaped results
(:mod:`~g4f_lite.client.results`); ``ChatCompletion.create(...)`` returns
text, as g4f's seed did, through :func:`default_client`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal, TypeAlias, overload

from .._portal import portal
from ..registry import check_flag_filter
from ..router import ProvidersArg, RoutedCall, Router, Timeouts
from ..strategies import StrategyArg
from ..types import ProviderInfo
from ._client import (
    AsyncClient,
    AsyncCompletions,
    Client,
    Completions,
    ConfigArg,
    MessagesInput,
    default_client,
)
from ._stream import AsyncStream, Stream
from .results import Completion, CompletionChunk

__all__ = [
    "AsyncClient",
    "AsyncCompletions",
    "AsyncStream",
    "ChatCompletion",
    "Client",
    "Completion",
    "CompletionChunk",
    "Completions",
    "ConfigArg",
    "MessagesInput",
    "ProviderArg",
    "Stream",
    "default_client",
    "providers",
]

#: A provider given by name (case-insensitive) or by class, several of them in
#: the order to try, or ``None`` for "any that fits".
ProviderArg: TypeAlias = ProvidersArg


def _plan(
    model: str,
    messages: MessagesInput,
    provider: ProviderArg,
    stream: bool,
    proxy: str | None,
    timeout: float | Timeouts | None,
    router: Router | None,
    strategy: StrategyArg | None,
    kwargs: dict[str, Any],
) -> RoutedCall:
    """Validate the arguments and choose the providers; raises before any request."""
    return (router or default_client().router).plan(
        model,
        messages,
        provider=provider,
        stream=stream,
        strategy=strategy,
        timeout=timeout,
        proxy=proxy,
        **kwargs,
    )


class ChatCompletion:
    """Create chat completions through any registered provider; the answer is text.

    The legacy API (g4f's), on :func:`default_client`; events such as tool
    calls and usage are left out. :class:`Client` returns them all.
    """

    @overload
    @staticmethod
    def create(
        model: str,
        messages: MessagesInput,
        provider: ProviderArg = None,
        stream: Literal[False] = False,
        proxy: str | None = None,
        timeout: float | Timeouts | None = None,
        *,
        router: Router | None = None,
        strategy: StrategyArg | None = None,
        **kwargs: Any,
    ) -> str: ...

    @overload
    @staticmethod
    def create(
        model: str,
        messages: MessagesInput,
        provider: ProviderArg = None,
        *,
        stream: Literal[True],
        proxy: str | None = None,
        timeout: float | Timeouts | None = None,
        router: Router | None = None,
        strategy: StrategyArg | None = None,
        **kwargs: Any,
    ) -> Iterator[str]: ...

    @overload
    @staticmethod
    def create(
        model: str,
        messages: MessagesInput,
        provider: ProviderArg = None,
        stream: bool = False,
        proxy: str | None = None,
        timeout: float | Timeouts | None = None,
        *,
        router: Router | None = None,
        strategy: StrategyArg | None = None,
        **kwargs: Any,
    ) -> str | Iterator[str]: ...

    @staticmethod
    def create(
        model: str,
        messages: MessagesInput,
        provider: ProviderArg = None,
        stream: bool = False,
        proxy: str | None = None,
        timeout: float | Timeouts | None = None,
        *,
        router: Router | None = None,
        strategy: StrategyArg | None = None,
        **kwargs: Any,
    ) -> str | Iterator[str]:
        """Return the answer as a string, or with ``stream=True`` an iterator of chunks.

        Synchronous, and safe to call from a thread that already runs an event
        loop (Jupyter): the request runs on g4f-lite's own background loop.

        Every call goes through a :class:`~g4f_lite.router.Router` (``router``,
        else the default client's): ``provider`` may be ``None`` (any provider that
        fits the request), a name or class (used even when marked not working),
        or a list of those tried in order. Retryable failures are retried and
        then the next provider is tried; see ``docs/router.md``.
        ``timeout`` is the deadline of the whole call in seconds, or a
        :class:`~g4f_lite.router.Timeouts`; ``strategy`` orders the providers
        (``"ordered"``, ``"shuffle"``, ``"least-failures"``, ``"fastest"``).
        Extra keyword arguments (e.g. ``base_url``) go to the provider.
        Bad arguments raise here, before any request is made.
        """
        call = _plan(model, messages, provider, stream, proxy, timeout, router, strategy, kwargs)
        if stream:
            return portal().iterate(call.stream())
        return portal().call(call.text())

    @overload
    @staticmethod
    async def create_async(
        model: str,
        messages: MessagesInput,
        provider: ProviderArg = None,
        stream: Literal[False] = False,
        proxy: str | None = None,
        timeout: float | Timeouts | None = None,
        *,
        router: Router | None = None,
        strategy: StrategyArg | None = None,
        **kwargs: Any,
    ) -> str: ...

    @overload
    @staticmethod
    async def create_async(
        model: str,
        messages: MessagesInput,
        provider: ProviderArg = None,
        *,
        stream: Literal[True],
        proxy: str | None = None,
        timeout: float | Timeouts | None = None,
        router: Router | None = None,
        strategy: StrategyArg | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[str]: ...

    @overload
    @staticmethod
    async def create_async(
        model: str,
        messages: MessagesInput,
        provider: ProviderArg = None,
        stream: bool = False,
        proxy: str | None = None,
        timeout: float | Timeouts | None = None,
        *,
        router: Router | None = None,
        strategy: StrategyArg | None = None,
        **kwargs: Any,
    ) -> str | AsyncIterator[str]: ...

    @staticmethod
    async def create_async(
        model: str,
        messages: MessagesInput,
        provider: ProviderArg = None,
        stream: bool = False,
        proxy: str | None = None,
        timeout: float | Timeouts | None = None,
        *,
        router: Router | None = None,
        strategy: StrategyArg | None = None,
        **kwargs: Any,
    ) -> str | AsyncIterator[str]:
        """Await the answer as a string, or with ``stream=True`` an async iterator of chunks.

        Takes the same arguments as :meth:`create`.
        """
        call = _plan(model, messages, provider, stream, proxy, timeout, router, strategy, kwargs)
        if stream:
            return call.stream()
        return await call.text()


def providers(
    *,
    working: bool | None = None,
    needs_auth: bool | None = None,
    supports_stream: bool | None = None,
    supports_message_history: bool | None = None,
    supports_system_message: bool | None = None,
    supports_gpt_35_turbo: bool | None = None,
    supports_gpt_4: bool | None = None,
    supports_tools: bool | None = None,
    supports_vision: bool | None = None,
    supports_json_mode: bool | None = None,
    available: bool | None = None,
    model: str | None = None,
    plugin: str | None = None,
) -> list[ProviderInfo]:
    """Describe the registered providers that match every filter given.

    ``providers(working=True, supports_tools=True, model="gpt-3.5-turbo")``;
    an unknown filter name is a ``TypeError``, never silently ignored.
    ``available=True`` keeps the providers usable now: credentials present
    (or none needed) and, for a server on this machine, something listening
    (probed here, at most every 30 s). Each :class:`ProviderInfo` carries
    ``available`` and the provider's live ``health`` (at its
    default target) and ``targets`` (every target called so far) as the
    default client sees them; credentials in a provider's ``url``
    (``http://user:pass@host``) are masked. A filter that is not ``True``,
    ``False`` or ``None`` (``working="yes"``) is a ``TypeError``.
    """
    check_flag_filter("available", available)
    return default_client().providers(
        working=working,
        needs_auth=needs_auth,
        supports_stream=supports_stream,
        supports_message_history=supports_message_history,
        supports_system_message=supports_system_message,
        supports_gpt_35_turbo=supports_gpt_35_turbo,
        supports_gpt_4=supports_gpt_4,
        supports_tools=supports_tools,
        supports_vision=supports_vision,
        supports_json_mode=supports_json_mode,
        available=available,
        model=model,
        plugin=plugin,
    )
