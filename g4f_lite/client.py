"""``ChatCompletion``: the one call users make."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, Literal, TypeAlias, overload

from ._portal import portal
from .errors import ConfigurationError, NoProviderAvailableError
from .provider import BaseProvider, collect, run_provider
from .registry import registry
from .types import Message, Messages, validate_messages

__all__ = ["ChatCompletion", "MessagesInput", "ProviderArg"]

#: A provider given by name (case-insensitive), by class, or ``None`` for "any".
ProviderArg: TypeAlias = str | type[BaseProvider] | None
MessagesInput: TypeAlias = Sequence[Mapping[str, Any] | Message]


def resolve_provider(provider: ProviderArg, model: str) -> type[BaseProvider]:
    """Turn a provider argument into a provider class.

    A named or given provider is used even when it is marked not working;
    ``None`` picks the first working provider that supports ``model``.
    """
    if provider is None:
        candidates = registry.find(working=True, model=model or None)
        if not candidates:
            known = ", ".join(e.provider.name for e in registry.entries()) or "none"
            raise NoProviderAvailableError(
                f"no working provider supports model {model!r} (registered providers: {known}); "
                "name one explicitly with provider=..."
            )
        return candidates[0].provider
    if isinstance(provider, str):
        return registry.get(provider)
    if isinstance(provider, type) and issubclass(provider, BaseProvider):
        return provider
    raise ConfigurationError(
        f"provider must be a name, a BaseProvider subclass or None, got {provider!r}"
    )


class _Call:
    """A validated request, ready to run."""

    __slots__ = ("kwargs", "messages", "model", "provider")

    def __init__(
        self,
        model: str,
        messages: MessagesInput,
        provider: ProviderArg,
        proxy: str | None,
        timeout: float | None,
        kwargs: dict[str, Any],
    ) -> None:
        if not isinstance(model, str):
            raise ConfigurationError(f"model must be a string, got {type(model).__name__}")
        if timeout is not None and timeout <= 0:
            raise ConfigurationError(f"timeout must be positive, got {timeout!r}")
        self.messages: Messages = validate_messages(messages)
        self.provider = resolve_provider(provider, model)
        self.model = model
        self.kwargs = dict(kwargs, proxy=proxy)
        if timeout is not None:
            self.kwargs["timeout"] = timeout

    def stream(self) -> AsyncIterator[str]:
        return run_provider(self.provider, self.model, self.messages, **self.kwargs)

    async def text(self) -> str:
        return await collect(self.stream(), self.provider.name)


class ChatCompletion:
    """Create chat completions through any registered provider."""

    @overload
    @staticmethod
    def create(
        model: str,
        messages: MessagesInput,
        provider: ProviderArg = None,
        stream: Literal[False] = False,
        proxy: str | None = None,
        timeout: float | None = None,
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
        timeout: float | None = None,
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
        timeout: float | None = None,
        **kwargs: Any,
    ) -> str | Iterator[str]: ...

    @staticmethod
    def create(
        model: str,
        messages: MessagesInput,
        provider: ProviderArg = None,
        stream: bool = False,
        proxy: str | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> str | Iterator[str]:
        """Return the answer as a string, or with ``stream=True`` an iterator of chunks.

        Synchronous, and safe to call from a thread that already runs an event
        loop (Jupyter): the request runs on g4f-lite's own background loop.
        Extra keyword arguments (e.g. ``base_url``) go to the provider.
        Bad arguments raise here, before any request is made.
        """
        call = _Call(model, messages, provider, proxy, timeout, kwargs)
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
        timeout: float | None = None,
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
        timeout: float | None = None,
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
        timeout: float | None = None,
        **kwargs: Any,
    ) -> str | AsyncIterator[str]: ...

    @staticmethod
    async def create_async(
        model: str,
        messages: MessagesInput,
        provider: ProviderArg = None,
        stream: bool = False,
        proxy: str | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> str | AsyncIterator[str]:
        """Await the answer as a string, or with ``stream=True`` an async iterator of chunks."""
        call = _Call(model, messages, provider, proxy, timeout, kwargs)
        if stream:
            return call.stream()
        return await call.text()
