"""Provider base classes.

A provider is a class (never instantiated, as in the seed) whose class
attributes describe what it can do and whose ``create_async_generator``
classmethod streams an answer: text chunks (``str``), and, for providers that
have them, the events of :mod:`g4f_lite.types` (tool-call deltas, usage,
finish reason, reasoning).
"""

from __future__ import annotations

import abc
import asyncio
import errno
import ipaddress
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import aclosing
from typing import Any, ClassVar

from . import errors
from .availability import Address, loopback_address
from .redact import scrub_error, secret_values
from .types import Chunk, Messages, ProviderInfo

__all__ = [
    "CREDENTIAL_KWARGS",
    "SAMPLING_OPTIONS",
    "TOOL_OPTIONS",
    "AsyncGeneratorProvider",
    "BaseProvider",
    "close_stream",
    "collect",
    "forget_model_lists",
    "provider_error",
    "run_provider",
    "text_only",
]

#: Provider keyword arguments that carry credentials (see ``has_credentials``).
CREDENTIAL_KWARGS = frozenset({"api_key", "access_token", "auth", "cookies", "token"})

#: The sampling options a caller may set. A provider lists those it honours
#: in ``sampling_options``; the router drops the others before calling it.
SAMPLING_OPTIONS = frozenset(
    {
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "user",
    }
)
#: The options that come with ``tools``; only ``supports_tools`` providers get them.
TOOL_OPTIONS = frozenset({"tools", "tool_choice", "parallel_tool_calls"})


# (provider name, target) -> (good until, models): what list_models learned.
# Per process, like the connection pool: a server's models are a fact about
# the server, the same for every client that asks.
_MODEL_LISTS: dict[tuple[str, str], tuple[float, list[str]]] = {}


def _models_target(provider: type[BaseProvider], kwargs: Mapping[str, Any]) -> tuple[str, str]:
    return provider.name.lower(), str(kwargs.get("base_url") or provider.url).rstrip("/")


def forget_model_lists() -> None:
    """Forget every model list :meth:`BaseProvider.list_models` learned (tests, reconfiguration)."""
    _MODEL_LISTS.clear()


class BaseProvider(abc.ABC):
    """What every provider declares, and the one method it must implement.

    Subclasses set the capability flags as class attributes; ``name`` defaults
    to the class name.
    """

    name: ClassVar[str] = "BaseProvider"
    url: ClassVar[str] = ""
    working: ClassVar[bool] = False
    needs_auth: ClassVar[bool] = False
    supports_stream: ClassVar[bool] = False
    supports_message_history: ClassVar[bool] = False
    supports_system_message: ClassVar[bool] = False
    supports_gpt_35_turbo: ClassVar[bool] = False
    supports_gpt_4: ClassVar[bool] = False
    models: ClassVar[tuple[str, ...]] = ()
    default_model: ClassVar[str | None] = None
    #: The provider folds a system message into the conversation itself, so the
    #: router may send it one although ``supports_system_message`` is False.
    folds_system_message: ClassVar[bool] = False
    #: It takes ``tools`` (and ``tool_choice``, ``parallel_tool_calls``) and
    #: messages with ``tool_calls``/``tool`` turns, and yields
    #: :class:`~g4f_lite.types.ToolCallDelta` events.
    supports_tools: ClassVar[bool] = False
    #: It takes ``image_url`` parts in user messages.
    supports_vision: ClassVar[bool] = False
    #: It honours ``response_format`` (JSON mode or a JSON schema).
    supports_json_mode: ClassVar[bool] = False
    #: The sampling options (of :data:`SAMPLING_OPTIONS`) it honours; the
    #: router drops the others, with a debug log line, before calling it.
    sampling_options: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = cls.__name__

    @classmethod
    @abc.abstractmethod
    def create_async_generator(
        cls,
        model: str,
        messages: Messages,
        proxy: str | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[Chunk]:
        """Stream the answer to ``messages``: text chunks, and events if it has any.

        ``messages`` are validated plain dicts (see :data:`~g4f_lite.types.Messages`).
        A provider without ``supports_vision`` or ``supports_tools`` never
        receives image parts or tool turns. ``stream=False`` is passed when the
        caller wants the whole answer at once, so a provider whose upstream
        API has a non-streamed request may use it. Besides ``str`` it may yield
        the events of :mod:`g4f_lite.types`. Implementations raise
        :class:`~g4f_lite.errors.ProviderError` subclasses for failures; any
        ``aiohttp`` error that escapes is mapped to one by the framework.
        """

    @classmethod
    def supports_model(cls, model: str | None) -> bool:
        """Whether this provider can answer for ``model`` (empty means "any")."""
        if not model:
            return True
        if model in cls.models or model == cls.default_model:
            return True
        if model == "gpt-3.5-turbo" and cls.supports_gpt_35_turbo:
            return True
        return model == "gpt-4" and cls.supports_gpt_4

    #: How long a live model list (:meth:`fetch_models`) is trusted, in seconds.
    models_ttl: ClassVar[float] = 60.0
    #: How long the static list stands in after the server could not tell.
    models_failure_ttl: ClassVar[float] = 15.0
    #: The most a live listing waits for the server, in seconds.
    models_timeout: ClassVar[float] = 5.0

    @classmethod
    async def fetch_models(cls, **kwargs: Any) -> list[str] | None:
        """Ask the upstream which models it serves, now; failures raise.

        ``kwargs`` are the keyword arguments the provider would be called
        with (``base_url``, ``api_key``, ``proxy``, ``timeout``...). ``None``
        (the default): this provider has no way to ask, its static list is
        all there is. Override it for an API with a models endpoint;
        :meth:`list_models` adds the cache and the fallback.
        """
        return None

    @classmethod
    async def list_models(cls, **kwargs: Any) -> list[str]:
        """The models this provider serves, best known first; never raises.

        The upstream's own list (:meth:`fetch_models`), asked at most once
        every ``models_ttl`` seconds per target, within ``models_timeout``;
        else, or when it cannot tell (down, no key, a broken answer), the
        static list: ``models``, ``default_model``, and
        ``gpt-3.5-turbo``/``gpt-4`` when the matching flag is set.
        """
        known = cls.known_models(**kwargs)
        if known is not None:
            return known
        timeout = kwargs.get("timeout")
        limit = (
            cls.models_timeout
            if not isinstance(timeout, (int, float))
            else min(timeout, cls.models_timeout)
        )
        try:
            models = await cls.fetch_models(**{**kwargs, "timeout": limit})
        except Exception:  # any failure: the static list, as documented
            models = None
            ttl = cls.models_failure_ttl
        else:
            ttl = cls.models_ttl
        if models is None:
            names = [*cls.models, *([cls.default_model] if cls.default_model else [])]
            names += ["gpt-3.5-turbo"] * cls.supports_gpt_35_turbo + ["gpt-4"] * cls.supports_gpt_4
            models = list(dict.fromkeys(names))
        _MODEL_LISTS[_models_target(cls, kwargs)] = (time.monotonic() + ttl, models)
        return list(models)

    @classmethod
    def known_models(cls, **kwargs: Any) -> list[str] | None:
        """What :meth:`list_models` learned lately for this target (``None``: nothing fresh)."""
        cached = _MODEL_LISTS.get(_models_target(cls, kwargs))
        if cached is None or cached[0] <= time.monotonic():
            return None
        return list(cached[1])

    @classmethod
    def has_credentials(cls, kwargs: Mapping[str, Any]) -> bool:
        """Whether credentials are configured, for a ``needs_auth`` provider.

        ``kwargs`` are the keyword arguments the provider would be called
        with. The router only picks ``needs_auth`` providers for which this is
        true (or that the caller named). Override it to look elsewhere too,
        e.g. in an environment variable.
        """
        return any(kwargs.get(key) for key in CREDENTIAL_KWARGS)

    @classmethod
    def probe_address(cls, kwargs: Mapping[str, Any]) -> Address | None:
        """The ``(host, port)`` whose TCP probe tells whether this provider is up now.

        ``kwargs`` are the keyword arguments it would be called with. The
        default probes the ``base_url`` of the call (else the class's ``url``)
        when it is on this machine, as for a local server, and nothing else
        (``None``): a hosted service is assumed up until a request fails.
        """
        return loopback_address(kwargs.get("base_url") or cls.url)

    @classmethod
    def secret_values(cls, kwargs: Mapping[str, Any]) -> frozenset[str]:
        """The secrets a call with ``kwargs`` uses, to be masked in any text it produces.

        The default finds credentials among the keyword arguments (see
        :func:`g4f_lite.redact.secret_values`). Override it to add secrets
        found elsewhere, e.g. an API key read from an environment variable.
        """
        return secret_values(kwargs)

    @classmethod
    def get_info(cls, plugin: str = "runtime") -> ProviderInfo:
        """Describe this provider; ``plugin`` is the distribution that registered it."""
        return ProviderInfo(
            name=cls.name,
            url=cls.url,
            working=cls.working,
            needs_auth=cls.needs_auth,
            supports_stream=cls.supports_stream,
            supports_message_history=cls.supports_message_history,
            supports_system_message=cls.supports_system_message,
            supports_gpt_35_turbo=cls.supports_gpt_35_turbo,
            supports_gpt_4=cls.supports_gpt_4,
            supports_tools=cls.supports_tools,
            supports_vision=cls.supports_vision,
            supports_json_mode=cls.supports_json_mode,
            sampling_options=sorted(cls.sampling_options),
            models=list(cls.models),
            default_model=cls.default_model,
            plugin=plugin,
        )


class AsyncGeneratorProvider(BaseProvider):
    """A streaming provider; adds joined-text and synchronous helpers."""

    supports_stream: ClassVar[bool] = True

    @classmethod
    async def create_async(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> str:
        """Return the whole answer's text as one string (events are left out)."""
        return await collect(run_provider(cls, model, messages, proxy=proxy, **kwargs), cls.name)

    @classmethod
    def create_completion(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> Iterator[str]:
        """Stream the answer's text synchronously (from any thread, even one running a loop)."""
        from ._portal import portal

        return portal().iterate(
            text_only(run_provider(cls, model, messages, proxy=proxy, **kwargs))
        )


async def close_stream(chunks: AsyncIterator[Any]) -> None:
    """Close a stream now if it can be closed (async generators can), releasing its connection."""
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()


async def text_only(chunks: AsyncIterator[Chunk]) -> AsyncIterator[str]:
    """The text chunks of a stream, without its events."""
    async with aclosing(chunks):  # type: ignore[type-var]
        async for chunk in chunks:
            if type(chunk) is str:
                yield chunk


async def collect(chunks: AsyncIterator[Chunk], provider: str) -> str:
    """Join a stream's text; on failure attach the text received so far to the error."""
    parts: list[str] = []
    try:
        async for chunk in chunks:
            if type(chunk) is str:
                parts.append(chunk)
    except errors.ProviderError as exc:
        exc.partial = "".join(parts)
        raise
    return "".join(parts)


async def run_provider(
    provider: type[BaseProvider],
    model: str,
    messages: Messages,
    **kwargs: Any,
) -> AsyncIterator[Chunk]:
    """Stream from ``provider``, turning transport failures into typed errors.

    Provider authors use aiohttp directly; mapping its exceptions here, once,
    keeps every provider short and every error naming its provider. (The
    router reads providers itself, one generator less per chunk, and maps
    their errors with :func:`provider_error` the same way.)
    """
    try:
        stream = provider.create_async_generator(model, messages, **kwargs)
        # aclosing: a caller that stops early must release the connection now,
        # not when the generator is garbage-collected.
        async with aclosing(stream) as chunks:  # type: ignore[type-var]
            async for chunk in chunks:
                yield chunk
    except Exception as exc:
        error = provider_error(provider, exc, kwargs)
        if error is exc:
            raise
        raise error from exc


def provider_error(
    provider: type[BaseProvider], exc: Exception, kwargs: Mapping[str, Any]
) -> errors.G4FLiteError:
    """``exc``, escaped from ``provider`` called with ``kwargs``, as the error callers see.

    A g4f-lite error is kept (the same object); anything else becomes the
    typed :class:`~g4f_lite.errors.ProviderError` naming the provider (the
    caller chains ``exc`` to it). Either way the secrets of the call are
    masked in its text.
    """
    error = exc if isinstance(exc, errors.G4FLiteError) else _typed(provider.name, exc, kwargs)
    scrub_error(error, provider.secret_values(kwargs))
    return error


def _typed(name: str, exc: Exception, kwargs: Mapping[str, Any]) -> errors.ProviderError:
    """The typed error for an exception that escaped a provider."""
    # Imported here, not at module level: listing providers (the CLI's
    # `providers`, plugin discovery) must not pay aiohttp's 0.25 s import.
    import aiohttp

    if isinstance(exc, aiohttp.ClientResponseError):
        if isinstance(exc.__cause__, aiohttp.http_exceptions.HttpProcessingError):
            # aiohttp reports an answer it could not parse as a "400": the
            # site broke HTTP, which must not pass for a bad request.
            first_line = (exc.message or "").strip().splitlines()[:1]
            return errors.ProtocolError(
                name, f"malformed HTTP answer ({first_line[0] if first_line else 'unparsable'})"
            )
        return errors.error_for_status(name, exc.status, exc.message)
    if isinstance(exc, aiohttp.ClientPayloadError):
        return errors.TruncatedResponseError(name, f"connection dropped mid-answer ({exc})")
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return errors.ConnectTimeoutError(name, f"could not connect in time ({exc!r})")
    if isinstance(exc, aiohttp.SocketTimeoutError):
        return errors.IdleTimeoutError(name, f"the connection went quiet ({exc!r})")
    if isinstance(exc, (aiohttp.ServerTimeoutError, asyncio.TimeoutError)):
        limit = kwargs.get("timeout")
        within = f" within {limit:g} s" if isinstance(limit, (int, float)) else ""
        return errors.ProviderTimeoutError(name, f"no complete answer{within} ({exc!r})")
    if isinstance(exc, (aiohttp.ClientError, OSError)):
        error = errors.ProviderConnectionError(name, f"{type(exc).__name__}: {exc}")
        if _refused_on_loopback(exc):
            # Nothing listens on this machine's port: retrying in a second
            # will not change that, so fail at once instead of backing off.
            error.retryable = False
        return error
    # A bug in the provider (or a library it uses): still typed, still naming
    # the provider, with the original kept as __cause__ for the traceback.
    return errors.ProviderError(name, f"unexpected {type(exc).__name__}: {exc}")


def _refused_on_loopback(exc: BaseException) -> bool:
    import aiohttp

    if not isinstance(exc, aiohttp.ClientConnectorError):
        return False
    if exc.os_error.errno != errno.ECONNREFUSED and not isinstance(
        exc.os_error, ConnectionRefusedError
    ):
        return False
    host = exc.host
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
