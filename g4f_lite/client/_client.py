"""``Client`` and ``AsyncClient``: chat completions with OpenAI's call and result shapes.

A client owns what a call needs: its configuration, its registry view (the
process-wide providers plus those its configuration declares), its router,
its health store and its HTTP session. Two clients share none of these
unless given the same objects. :func:`default_client` is the one the legacy
``ChatCompletion`` and ``providers()`` use.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, TypeAlias, overload

from .. import errors
from .._portal import portal
from ..config import CONFIG_PLUGIN, Config, declared_providers, load_config
from ..health import HealthStore, InMemoryHealthStore
from ..http import OwnedSession
from ..registry import Registry
from ..registry import registry as global_registry
from ..router import ProvidersArg, RoutedCall, Router, Timeouts, default_router
from ..strategies import StrategyArg
from ..types import Message, ProviderInfo
from ._stream import AsyncStream, Stream, completion_chunks
from .results import Completion

__all__ = [
    "AsyncClient",
    "AsyncCompletions",
    "Client",
    "Completions",
    "ConfigArg",
    "default_client",
]

MessagesInput: TypeAlias = Sequence[Mapping[str, Any] | Message]
#: What ``Client(config=...)`` takes: a path, a mapping shaped like the file,
#: a loaded :class:`~g4f_lite.config.Config`, or ``None`` to look the file up.
ConfigArg: TypeAlias = "str | os.PathLike[str] | Mapping[str, Any] | Config | None"


class _State:
    """What a client owns; the same for ``Client`` and ``AsyncClient``."""

    def __init__(
        self,
        config: ConfigArg = None,
        *,
        router: Router | None = None,
        health: HealthStore | None = None,
        registry: Registry | None = None,
    ) -> None:
        if router is not None:
            if config is not None or health is not None or registry is not None:
                raise errors.ConfigurationError(
                    "give a client either router= or config=/health=/registry= "
                    "(the router already has its own)"
                )
            self.router = router
        else:
            loaded = config if isinstance(config, Config) else load_config(config)
            base = registry if registry is not None else global_registry
            view = base.with_providers(declared_providers(loaded, base), plugin=CONFIG_PLUGIN)
            self.router = Router.from_settings(
                loaded.router,
                source=loaded.source,
                config=loaded,
                registry=view,
                health=health if health is not None else InMemoryHealthStore(),
            )
        self._owned: OwnedSession | None = OwnedSession()

    @property
    def config(self) -> Config:
        """The configuration this client applies."""
        return self.router.config

    @property
    def registry(self) -> Registry:
        """Where this client finds providers: the process-wide ones plus its declared ones."""
        return self.router.registry

    @property
    def health(self) -> HealthStore:
        """This client's provider health."""
        return self.router.health

    def providers(self, **filters: Any) -> list[ProviderInfo]:
        """Describe this client's providers matching every filter, with this client's health.

        The filters of :func:`g4f_lite.providers` (``working=True``,
        ``supports_tools=True``, ``available=True``, ``model="..."``...). Local
        servers not probed lately are probed first (see
        :meth:`~g4f_lite.router.Router.adescribe`).
        """
        return portal().call(self.router.adescribe(**filters))


def _plan(
    router: Router,
    model: str,
    messages: MessagesInput,
    provider: ProvidersArg,
    stream: bool,
    timeout: float | Timeouts | None,
    strategy: StrategyArg | None,
    options: dict[str, Any],
) -> RoutedCall:
    # Unset (None) options are not forwarded: a provider's configured value stays.
    for key in [key for key, value in options.items() if value is None]:
        del options[key]
    return router.plan(
        model,
        messages,
        provider=provider,
        stream=stream,
        timeout=timeout,
        strategy=strategy,
        **options,
    )


async def _complete(call: RoutedCall, model: str, owned: OwnedSession | None) -> Completion:
    call.session = owned
    return Completion.from_answer(await call.answer(), model)


class Completions:
    """``client.chat.completions``: create chat completions synchronously."""

    def __init__(self, client: Client) -> None:
        self._client = client

    @overload
    def create(
        self,
        model: str,
        messages: MessagesInput,
        *,
        provider: ProvidersArg = ...,
        stream: Literal[False] = False,
        **options: Any,
    ) -> Completion: ...

    @overload
    def create(
        self,
        model: str,
        messages: MessagesInput,
        *,
        provider: ProvidersArg = ...,
        stream: Literal[True],
        **options: Any,
    ) -> Stream: ...

    def create(
        self,
        model: str,
        messages: MessagesInput,
        *,
        provider: ProvidersArg = None,
        stream: bool = False,
        tools: list[Any] | None = None,
        tool_choice: Any = None,
        parallel_tool_calls: bool | None = None,
        response_format: Mapping[str, Any] | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        max_tokens: int | None = None,
        max_completion_tokens: int | None = None,
        stop: str | list[str] | None = None,
        seed: int | None = None,
        presence_penalty: float | None = None,
        frequency_penalty: float | None = None,
        user: str | None = None,
        timeout: float | Timeouts | None = None,
        strategy: StrategyArg | None = None,
        **provider_options: Any,
    ) -> Completion | Stream:
        """Create a chat completion: a :class:`Completion`, or a :class:`Stream` if ``stream``.

        The arguments are OpenAI's (``None`` means "not set" and is not
        sent), plus ``provider`` (a name, a class, a list tried in order, or
        ``None`` for any that can serve the request), ``timeout`` (seconds
        for the whole call, or a :class:`~g4f_lite.router.Timeouts`),
        ``strategy`` and options for the provider (``base_url=``...).
        Bad arguments raise here, before any request.
        """
        client = self._client
        provider_options.update(
            tools=tools,
            tool_choice=tool_choice,
            parallel_tool_calls=parallel_tool_calls,
            response_format=response_format,
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            max_completion_tokens=max_completion_tokens,
            stop=stop,
            seed=seed,
            presence_penalty=presence_penalty,
            frequency_penalty=frequency_penalty,
            user=user,
        )
        call = _plan(
            client.router, model, messages, provider, stream, timeout, strategy, provider_options
        )
        if stream:
            return Stream(completion_chunks(call, model, client._owned))
        return portal().call(_complete(call, model, client._owned))


class AsyncCompletions:
    """``client.chat.completions`` of an :class:`AsyncClient`: await chat completions."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    @overload
    async def create(
        self,
        model: str,
        messages: MessagesInput,
        *,
        provider: ProvidersArg = ...,
        stream: Literal[False] = False,
        **options: Any,
    ) -> Completion: ...

    @overload
    async def create(
        self,
        model: str,
        messages: MessagesInput,
        *,
        provider: ProvidersArg = ...,
        stream: Literal[True],
        **options: Any,
    ) -> AsyncStream: ...

    async def create(
        self,
        model: str,
        messages: MessagesInput,
        *,
        provider: ProvidersArg = None,
        stream: bool = False,
        tools: list[Any] | None = None,
        tool_choice: Any = None,
        parallel_tool_calls: bool | None = None,
        response_format: Mapping[str, Any] | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        max_tokens: int | None = None,
        max_completion_tokens: int | None = None,
        stop: str | list[str] | None = None,
        seed: int | None = None,
        presence_penalty: float | None = None,
        frequency_penalty: float | None = None,
        user: str | None = None,
        timeout: float | Timeouts | None = None,
        strategy: StrategyArg | None = None,
        **provider_options: Any,
    ) -> Completion | AsyncStream:
        """Await a :class:`Completion`, or with ``stream=True`` an :class:`AsyncStream`.

        Takes the arguments of :meth:`Completions.create`.
        """
        client = self._client
        provider_options.update(
            tools=tools,
            tool_choice=tool_choice,
            parallel_tool_calls=parallel_tool_calls,
            response_format=response_format,
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            max_completion_tokens=max_completion_tokens,
            stop=stop,
            seed=seed,
            presence_penalty=presence_penalty,
            frequency_penalty=frequency_penalty,
            user=user,
        )
        call = _plan(
            client.router, model, messages, provider, stream, timeout, strategy, provider_options
        )
        if stream:
            return AsyncStream(completion_chunks(call, model, client._owned))
        return await _complete(call, model, client._owned)


class _Chat:
    """``client.chat``: holds ``completions``."""

    def __init__(self, completions: Any) -> None:
        self.completions = completions


class Client(_State):
    """A synchronous chat client with OpenAI's shapes, owning its state.

    >>> with g4f_lite.Client() as client:
    ...     result = client.chat.completions.create(model="", messages=[...])
    ...     print(result.choices[0].message.content)

    ``config``: a configuration file's path, a mapping shaped like it, or a
    :class:`~g4f_lite.config.Config` (``None``: ``$G4F_LITE_CONFIG`` or
    ``./g4f-lite.toml`` if there is one); the providers it declares are this
    client's alone, and its ``[router]`` table builds the client's router.
    ``router``: use this router instead (with its configuration, registry
    and health). ``health``: the health store (default: a fresh one, so
    providers benched by another client are not benched here).
    ``registry``: where providers are found (default: the process-wide one).
    Calls run on g4f-lite's background event loop, so they also work from
    a thread that already runs one (Jupyter). :meth:`close` (or ``with``)
    closes the client's HTTP session.
    """

    def __init__(
        self,
        config: ConfigArg = None,
        *,
        router: Router | None = None,
        health: HealthStore | None = None,
        registry: Registry | None = None,
    ) -> None:
        super().__init__(config, router=router, health=health, registry=registry)
        #: ``client.chat.completions.create(...)``.
        self.chat = _Chat(Completions(self))

    def close(self) -> None:
        """Close the client's HTTP session (a later call opens a new one)."""
        owned = self._owned
        if owned is not None and owned.session is not None:
            portal().call(owned.aclose())

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class AsyncClient(_State):
    """The async :class:`Client`: ``await client.chat.completions.create(...)``.

    Takes the arguments of :class:`Client`. Its HTTP session is created on
    the event loop of its first call and closed by :meth:`aclose` (or
    ``async with``), or else when that loop shuts down.
    """

    def __init__(
        self,
        config: ConfigArg = None,
        *,
        router: Router | None = None,
        health: HealthStore | None = None,
        registry: Registry | None = None,
    ) -> None:
        super().__init__(config, router=router, health=health, registry=registry)
        #: ``await client.chat.completions.create(...)``.
        self.chat = _Chat(AsyncCompletions(self))

    async def aclose(self) -> None:
        """Close the client's HTTP session (a later call opens a new one)."""
        if self._owned is not None:
            await self._owned.aclose()

    #: OpenAI's ``AsyncOpenAI`` calls it ``close``.
    close = aclose

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


_default: Client | None = None


def default_client() -> Client:
    """The client of the legacy ``ChatCompletion`` and :func:`g4f_lite.providers`.

    It wraps :func:`~g4f_lite.router.default_router` (so it follows
    :func:`g4f_lite.configure` and :func:`~g4f_lite.router.set_default_router`)
    and uses the process-wide registry and the event loop's shared session.
    """
    global _default
    router = default_router()
    client = _default
    if client is None or client.router is not router:
        client = Client(router=router)
        client._owned = None  # the loop's shared session, as ChatCompletion always used
        _default = client
    return client
