"""g4f-lite: one small, typed API over many chat-completion providers.

>>> import g4f_lite
>>> with g4f_lite.Client() as client:
...     result = client.chat.completions.create(
...         model="", messages=[{"role": "user", "content": "Hi"}], provider="Opchatgpts"
...     )
>>> result.choices[0].message.content

Importing this package is cheap: it loads no plugin and opens no connection.
Public names are imported on first access.

What applications call:

- :class:`Client` and :class:`AsyncClient` (``client.chat.completions.create``,
  OpenAI's shapes: :class:`Completion`, or a :class:`Stream` /
  :class:`AsyncStream` of :class:`CompletionChunk`); each owns its
  configuration, providers, router, health and HTTP session;
- :class:`ChatCompletion` (``create`` / ``create_async``), the legacy API
  that returns text, on a default client; :class:`Router`,
  :class:`RetryPolicy` and :class:`Timeouts` to shape a call;
- :func:`providers`, :func:`get_provider` and :func:`register` for the registry,
  :func:`configure` and :func:`declare_provider` for configuration files;
- :mod:`g4f_lite.errors`, whose exception classes are also exported here, as
  httpx does: ``except g4f_lite.RateLimitError`` is ``except
  g4f_lite.errors.RateLimitError``.

What provider authors use:

- :class:`AsyncGeneratorProvider` (and :class:`BaseProvider`), :data:`hookimpl`,
  :class:`ProviderKind` and :class:`ProviderSettings`;
- the types in :mod:`g4f_lite.types` (:class:`Message`, :data:`Messages`,
  :class:`ProviderInfo`, :class:`ProviderHealth`) and the helpers in
  :mod:`g4f_lite.http`.

:class:`RouterEvent` is what router observers receive. The router's parts
live in their modules: :mod:`g4f_lite.health` (``HealthStore``,
``InMemoryHealthStore``, ``CircuitBreaker``) for those who replace them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> submodule that defines it; resolved lazily by __getattr__ so that
# `import g4f_lite` costs almost nothing (aiohttp alone takes 0.25 s).
_EXPORTS = {
    "AsyncClient": "client",
    "AsyncStream": "client",
    "Client": "client",
    "Completion": "client",
    "CompletionChunk": "client",
    "Stream": "client",
    "AsyncGeneratorProvider": "provider",
    "BaseProvider": "provider",
    "ChatCompletion": "client",
    "Message": "types",
    "Messages": "types",
    "ProviderHealth": "types",
    "ProviderInfo": "types",
    "RetryPolicy": "policies",
    "Router": "router",
    "RouterEvent": "events",
    "Timeouts": "policies",
    "ProviderKind": "kinds",
    "ProviderSettings": "kinds",
    "configure": "config",
    "declare_provider": "config",
    "get_provider": "registry",
    "hookimpl": "hookspecs",
    "providers": "client",
    "register": "registry",
}
# Every exception class of g4f_lite.errors, exported at the top level as httpx
# does; test_public_api checks that none is missing.
_ERRORS = (
    "AllProvidersBenchedError",
    "AllProvidersFailedError",
    "AuthenticationError",
    "BadRequestError",
    "BrokenLineError",
    "ConfigurationError",
    "ConnectTimeoutError",
    "ContentFilterError",
    "DuplicateKindError",
    "DuplicateProviderError",
    "FirstChunkTimeoutError",
    "G4FLiteError",
    "HTTPStatusError",
    "IdleTimeoutError",
    "InvalidMessagesError",
    "LineTooLongError",
    "MissingCredentialsError",
    "NoProviderAvailableError",
    "PartialResponseError",
    "PermissionDeniedError",
    "PluginError",
    "PluginWarning",
    "ProtocolError",
    "ProviderBenchedError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderNotFoundError",
    "ProviderTimeoutError",
    "RateLimitError",
    "RequestRejectedError",
    "ServerError",
    "TotalTimeoutError",
    "TruncatedResponseError",
    "UnsupportedFeatureError",
    "UpstreamError",
)
_EXPORTS.update(dict.fromkeys(_ERRORS, "errors"))
# Submodules reachable as attributes without importing them first, so that
# `g4f_lite.errors.RateLimitError` works right after `import g4f_lite`.
_SUBMODULES = frozenset({"errors"})

__all__ = [
    "AllProvidersBenchedError",
    "AllProvidersFailedError",
    "AsyncClient",
    "AsyncGeneratorProvider",
    "AsyncStream",
    "AuthenticationError",
    "BadRequestError",
    "BaseProvider",
    "BrokenLineError",
    "ChatCompletion",
    "Client",
    "Completion",
    "CompletionChunk",
    "ConfigurationError",
    "ConnectTimeoutError",
    "ContentFilterError",
    "DuplicateKindError",
    "DuplicateProviderError",
    "FirstChunkTimeoutError",
    "G4FLiteError",
    "HTTPStatusError",
    "IdleTimeoutError",
    "InvalidMessagesError",
    "LineTooLongError",
    "Message",
    "Messages",
    "MissingCredentialsError",
    "NoProviderAvailableError",
    "PartialResponseError",
    "PermissionDeniedError",
    "PluginError",
    "PluginWarning",
    "ProtocolError",
    "ProviderBenchedError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderHealth",
    "ProviderInfo",
    "ProviderKind",
    "ProviderNotFoundError",
    "ProviderSettings",
    "ProviderTimeoutError",
    "RateLimitError",
    "RequestRejectedError",
    "RetryPolicy",
    "Router",
    "RouterEvent",
    "ServerError",
    "Stream",
    "Timeouts",
    "TotalTimeoutError",
    "TruncatedResponseError",
    "UnsupportedFeatureError",
    "UpstreamError",
    "__version__",
    "configure",
    "declare_provider",
    "errors",
    "get_provider",
    "hookimpl",
    "providers",
    "register",
]

if TYPE_CHECKING:
    from . import errors
    from .client import (
        AsyncClient,
        AsyncStream,
        ChatCompletion,
        Client,
        Completion,
        CompletionChunk,
        Stream,
        providers,
    )
    from .config import configure, declare_provider
    from .errors import (
        AllProvidersBenchedError,
        AllProvidersFailedError,
        AuthenticationError,
        BadRequestError,
        BrokenLineError,
        ConfigurationError,
        ConnectTimeoutError,
        ContentFilterError,
        DuplicateKindError,
        DuplicateProviderError,
        FirstChunkTimeoutError,
        G4FLiteError,
        HTTPStatusError,
        IdleTimeoutError,
        InvalidMessagesError,
        LineTooLongError,
        MissingCredentialsError,
        NoProviderAvailableError,
        PartialResponseError,
        PermissionDeniedError,
        PluginError,
        PluginWarning,
        ProtocolError,
        ProviderBenchedError,
        ProviderConnectionError,
        ProviderError,
        ProviderNotFoundError,
        ProviderTimeoutError,
        RateLimitError,
        RequestRejectedError,
        ServerError,
        TotalTimeoutError,
        TruncatedResponseError,
        UnsupportedFeatureError,
        UpstreamError,
    )
    from .events import RouterEvent
    from .hookspecs import hookimpl
    from .kinds import ProviderKind, ProviderSettings
    from .policies import RetryPolicy, Timeouts
    from .provider import AsyncGeneratorProvider, BaseProvider
    from .registry import get_provider, register
    from .router import Router
    from .types import Message, Messages, ProviderHealth, ProviderInfo


# Names once exported here that now live only in their modules: still
# reachable, with a warning saying where they went.
_MOVED = {"CircuitBreaker": "health", "InMemoryHealthStore": "health"}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        import warnings

        warnings.warn(
            f"g4f_lite.{name} moved: import it from g4f_lite.{_MOVED[name]}",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(f".{_MOVED[name]}", __name__), name)
    if name in _SUBMODULES:
        # import_module binds the submodule as an attribute of this package.
        return importlib.import_module(f".{name}", __name__)
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'g4f_lite' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
