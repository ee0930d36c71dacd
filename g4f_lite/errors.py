"""Every error g4f-lite raises through its public API.

The whole hierarchy, so that callers can pick the level they care about::

    G4FLiteError
    ├── ConfigurationError (ValueError)   request_fault: the caller's to fix
    │   └── InvalidMessagesError
    ├── PluginError                        (broken plugins only warn: PluginWarning)
    │   ├── DuplicateProviderError
    │   └── DuplicateKindError
    ├── ProviderNotFoundError (LookupError)
    ├── NoProviderAvailableError           nothing qualifies: says what excluded what
    │   └── AllProvidersBenchedError       every candidate cools down: retry_after
    ├── AllProvidersFailedError            the router gave up: .attempts, .exceptions
    └── ProviderError                      every error below names its provider
        ├── ProviderConnectionError        could not reach the site
        ├── ProviderTimeoutError (TimeoutError)
        │   ├── ConnectTimeoutError        no connection within the connect limit
        │   ├── FirstChunkTimeoutError     connected, but no text in time
        │   ├── IdleTimeoutError           too long a gap between two chunks
        │   └── TotalTimeoutError          the call's whole deadline ran out
        ├── ProviderBenchedError           skipped: the circuit breaker benched it
        ├── PartialResponseError           a stream failed after text reached the caller
        ├── MissingCredentialsError        needs an API key and none is configured
        ├── HTTPStatusError                non-2xx answer: status, code, Retry-After
        │   ├── BadRequestError            other 4xx
        │   ├── AuthenticationError        401
        │   ├── PermissionDeniedError      403 (stale nonce, content filter, ...)
        │   ├── RateLimitError             429
        │   └── ServerError                5xx
        ├── RequestRejectedError           the site refused this request (too long, ...)
        │   └── ContentFilterError         its safety filter blocked the prompt or answer
        ├── UpstreamError                  the site reported an error in its body
        ├── ProtocolError (RuntimeError)   the answer does not follow the protocol
        │   ├── BrokenLineError            a line that is not the JSON event expected
        │   └── LineTooLongError
        └── TruncatedResponseError         the stream ended before its end marker

Every error carries ``retryable``: whether trying the same provider again
may succeed. The router (:mod:`g4f_lite.router`) retries only those, and
fails over to the next provider for every other :class:`ProviderError`.

``request_fault`` marks errors the request itself caused (a malformed
conversation, an input the site refuses as too long, an HTTP 400/404/413/422):
the router hands them straight back to the caller, never retries or fails
over, and never counts them against the provider's health, so that no client
can bench a provider by sending bad requests. ``param`` names the request
field at fault when it is known (``serve`` reports it as OpenAI does).

Secrets never reach these messages: providers build them from status codes
and server messages, and :func:`g4f_lite.provider.run_provider` scrubs every
known credential out of whatever an upstream echoes back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "REQUEST_FAULT_STATUSES",
    "AllProvidersBenchedError",
    "AllProvidersFailedError",
    "Attempt",
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
    "UpstreamError",
    "error_for_status",
]

# Server messages are echoed into errors; cap them so an HTML error page or a
# huge JSON body cannot flood a log line.
_MAX_DETAIL = 300


def _shorten(text: str, limit: int = _MAX_DETAIL) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class G4FLiteError(Exception):
    """Root of every error raised by g4f-lite."""

    #: Whether calling the same provider again may succeed.
    retryable: bool = False
    #: Whether the request itself caused the failure (never the provider's fault).
    request_fault: bool = False
    #: The request field at fault, when known (e.g. ``"messages"``).
    param: str | None = None


class ConfigurationError(G4FLiteError, ValueError):
    """The caller passed arguments or settings that cannot work."""

    request_fault = True


class InvalidMessagesError(ConfigurationError):
    """The ``messages`` argument is not a valid conversation.

    Providers raise it too, for a conversation their site cannot take (e.g.
    a last message that is not the user's): a request fault, never the
    provider's.
    """

    param = "messages"


class UnsupportedFeatureError(ConfigurationError):
    """The request needs something this provider cannot do (tools, images, JSON mode).

    Raised before any request when a caller names such a provider, and by a
    provider for input it cannot take (e.g. an image sent to a text-only
    site): a request fault, never held against the provider. ``feature`` is
    ``"tools"``, ``"vision"`` or ``"json_mode"``.
    """

    def __init__(self, provider: str, feature: str, message: str) -> None:
        self.provider = provider
        self.feature = feature
        self.param = {"tools": "tools", "json_mode": "response_format"}.get(feature, "messages")
        super().__init__(f"{provider}: {message}")


class PluginError(G4FLiteError):
    """A plugin could not be loaded or registered something invalid."""

    def __init__(self, plugin: str, message: str) -> None:
        self.plugin = plugin
        super().__init__(f"plugin {plugin!r}: {message}")


class PluginWarning(UserWarning):
    """A plugin failed to load or registered something that is not a provider.

    A warning, not an error: one broken plugin must not take the others down.
    """


class DuplicateProviderError(PluginError):
    """Two plugins registered providers with the same (case-insensitive) name."""

    def __init__(self, name: str, plugin: str, other_plugin: str) -> None:
        self.name = name
        self.other_plugin = other_plugin
        super().__init__(
            plugin,
            f"registers provider {name!r}, which plugin {other_plugin!r} already registered; "
            "uninstall one of them or restrict loading with G4F_LITE_PLUGINS",
        )


class DuplicateKindError(PluginError):
    """Two plugins registered provider kinds with the same (case-insensitive) name."""

    def __init__(self, name: str, plugin: str, other_plugin: str) -> None:
        self.name = name
        self.other_plugin = other_plugin
        super().__init__(
            plugin,
            f"registers provider kind {name!r}, which plugin {other_plugin!r} already "
            "registered; uninstall one of them or restrict loading with G4F_LITE_PLUGINS",
        )


class ProviderNotFoundError(G4FLiteError, LookupError):
    """No registered provider has the requested name."""

    def __init__(self, name: str, close_matches: list[str] | None = None) -> None:
        self.name = name
        self.close_matches = close_matches or []
        hint = f"; did you mean {', '.join(self.close_matches)}?" if self.close_matches else ""
        super().__init__(f"no provider named {name!r}{hint}")

    def __str__(self) -> str:
        # LookupError would otherwise wrap the message in quotes like KeyError.
        return str(self.args[0])


class NoProviderAvailableError(G4FLiteError):
    """No registered provider can serve the request.

    ``excluded`` maps each provider that was considered to the reasons that
    ruled it out (e.g. ``["not working", "no streaming"]``), so the message
    can say which requirement excluded which provider.
    """

    def __init__(self, message: str, excluded: Mapping[str, Sequence[str]] | None = None) -> None:
        self.excluded: dict[str, list[str]] = {k: list(v) for k, v in (excluded or {}).items()}
        super().__init__(message)


class AllProvidersBenchedError(NoProviderAvailableError):
    """Every candidate is benched by its circuit breaker, and waiting does not fit.

    ``retry_after`` is how many seconds until the first of them may be probed
    again; ``benched`` maps each provider to its remaining cooldown.
    """

    retryable = True

    def __init__(self, message: str, benched: Mapping[str, float], retry_after: float) -> None:
        self.benched = dict(benched)
        self.retry_after = retry_after
        super().__init__(
            message, {name: [f"benched for {left:.1f} s"] for name, left in benched.items()}
        )


@dataclass(frozen=True)
class Attempt:
    """One try of one provider during a routed call.

    ``provider`` is the provider's name, ``number`` counts the tries of that
    provider (1 for the first; 0 when it failed before any request could be
    made), ``elapsed`` is the seconds the try took.
    """

    provider: str
    number: int
    error: BaseException
    elapsed: float

    @property
    def error_type(self) -> str:
        """The error's class name, e.g. ``"RateLimitError"``."""
        return type(self.error).__name__

    @property
    def message(self) -> str:
        """The error's message, without the provider prefix it may carry."""
        detail = getattr(self.error, "detail", None)
        return str(detail) if isinstance(detail, str) else str(self.error)

    def describe(self) -> str:
        """One line: ``Name #2: ServerError: HTTP 500 ... (0.31 s)``."""
        return (
            f"{self.provider} #{self.number}: {self.error_type}: {self.message} "
            f"({self.elapsed:.2f} s)"
        )


class AllProvidersFailedError(G4FLiteError):
    """The router tried every provider it was allowed to, and each one failed.

    ``attempts`` lists every try in order (provider, error, elapsed), so two
    providers that share a class name never collapse into one entry.
    ``message`` and ``exceptions`` (the same errors, as a tuple) have the
    shape of an ``ExceptionGroup``'s, which this is not, so that it works on
    Python 3.10 and ``except AllProvidersFailedError`` stays an ordinary
    clause; the last error is also the ``__cause__``.
    """

    def __init__(self, attempts: Sequence[Attempt], elapsed: float, note: str = "") -> None:
        self.attempts: tuple[Attempt, ...] = tuple(attempts)
        self.exceptions: tuple[BaseException, ...] = tuple(a.error for a in self.attempts)
        self.elapsed = elapsed
        providers = list(dict.fromkeys(a.provider for a in self.attempts))
        lines = [
            f"all {len(providers)} provider(s) failed "
            f"({len(self.attempts)} attempt(s) in {elapsed:.2f} s){note}:"
        ]
        #: The summary line, as ``ExceptionGroup.message`` (the full text lists every try).
        self.message = lines[0]
        lines += [f"  {i}. {a.describe()}" for i, a in enumerate(self.attempts, 1)]
        super().__init__("\n".join(lines))

    @property
    def providers(self) -> list[str]:
        """The providers tried, in order, each once."""
        return list(dict.fromkeys(a.provider for a in self.attempts))


class ProviderError(G4FLiteError):
    """A provider failed to produce an answer. ``provider`` is its name.

    ``partial`` is the text received before the failure, when the caller
    asked for the whole answer at once: nothing received is lost.
    """

    partial: str = ""

    def __init__(self, provider: str, message: str) -> None:
        self.provider = provider
        self.detail = message
        super().__init__(f"{provider}: {message}")


class ProviderConnectionError(ProviderError):
    """The provider's site could not be reached (DNS, refused, reset, TLS)."""

    retryable = True


class ProviderTimeoutError(ProviderError, TimeoutError):
    """The provider did not answer in time."""

    retryable = True


class ConnectTimeoutError(ProviderTimeoutError):
    """No connection to the provider's site within the connect limit."""


class FirstChunkTimeoutError(ProviderTimeoutError):
    """The request was sent, but no text arrived within the first-chunk limit."""


class IdleTimeoutError(ProviderTimeoutError):
    """The gap between two chunks exceeded the idle limit."""


class TotalTimeoutError(ProviderTimeoutError):
    """The whole call's deadline ran out (retries and failovers included).

    Not retryable: no time is left to try again.
    """

    retryable = False


class ProviderBenchedError(ProviderError):
    """The provider was skipped without a request: its circuit breaker benched it.

    ``retry_after`` is the seconds left until it may be probed again.
    """

    def __init__(self, provider: str, retry_after: float, reason: str = "") -> None:
        self.retry_after = retry_after
        self.reason = reason
        why = f" after {reason}" if reason else ""
        super().__init__(provider, f"benched{why}; probed again in {retry_after:.1f} s")


class PartialResponseError(ProviderError):
    """A stream failed after some of its text had already reached the caller.

    The router never restarts such a stream on another provider (the caller
    would see text twice): ``partial`` is exactly the text delivered, ``cause``
    (also ``__cause__``) the error that ended the stream.
    """

    def __init__(self, provider: str, partial: str, cause: BaseException) -> None:
        self.cause = cause
        super().__init__(
            provider,
            f"the stream failed after {len(partial)} characters had been delivered: "
            f"{type(cause).__name__}: {getattr(cause, 'detail', cause)}",
        )
        self.partial = partial


class MissingCredentialsError(ProviderError):
    """The provider needs an API key and none was given or found in its environment variable.

    Raised before any request is made; not retryable, because nothing will
    change until the caller configures a key.
    """


class HTTPStatusError(ProviderError):
    """The provider answered with a non-success HTTP status.

    ``code`` and ``server_message`` are what the server said in a JSON body,
    when it said anything; ``retry_after`` is its ``Retry-After`` in seconds.
    """

    #: Statuses that make an error of this class a ``request_fault``.
    fault_statuses: frozenset[int] = frozenset()

    def __init__(
        self,
        provider: str,
        status: int,
        server_message: str = "",
        *,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.server_message = _shorten(server_message)
        self.retry_after = retry_after
        parts = [f"HTTP {status}"]
        if code:
            parts.append(f"[{code}]")
        if self.server_message:
            parts.append(self.server_message)
        if retry_after is not None:
            parts.append(f"(retry after {retry_after:g}s)")
        super().__init__(provider, " ".join(parts))
        if status in self.fault_statuses:
            self.request_fault = True


#: 4xx statuses that mean "this request is wrong", not "this provider is broken".
REQUEST_FAULT_STATUSES = frozenset({400, 404, 413, 422})


class BadRequestError(HTTPStatusError):
    """The provider rejected the request (4xx other than 401, 403 and 429).

    A 400, 404, 413 or 422 is a ``request_fault``: sending the same request
    elsewhere or again would not help, and the provider is not to blame.
    """

    #: The statuses among this class's that are the request's fault.
    fault_statuses: frozenset[int] = REQUEST_FAULT_STATUSES


class AuthenticationError(HTTPStatusError):
    """Credentials are missing or invalid (HTTP 401)."""


class PermissionDeniedError(HTTPStatusError):
    """The provider refused the request (HTTP 403): a stale nonce or a content filter."""


class RateLimitError(HTTPStatusError):
    """The provider is rate limiting us (HTTP 429); see ``retry_after``."""

    retryable = True


class ServerError(HTTPStatusError):
    """The provider's server failed (HTTP 5xx)."""

    retryable = True


class RequestRejectedError(ProviderError):
    """The site answered, and refused this particular request (e.g. an input too long).

    A ``request_fault``: returned to the caller as is, never retried, never
    failed over and never counted against the provider's health.
    """

    request_fault = True

    def __init__(self, provider: str, message: str, *, param: str | None = "messages") -> None:
        self.param = param
        super().__init__(provider, _shorten(message))


class ContentFilterError(RequestRejectedError):
    """The site's safety or content filter blocked the prompt, or the answer it was writing.

    ``reason`` is the site's own name for the block (Gemini's ``SAFETY``,
    ``RECITATION``, ``PROHIBITED_CONTENT``...). A ``request_fault``, as any
    refusal of the request: never retried, never held against the provider.
    """

    def __init__(self, provider: str, message: str, *, reason: str | None = None) -> None:
        self.reason = reason
        super().__init__(provider, message)


class UpstreamError(ProviderError):
    """The site answered, but reported an error in the body (e.g. an SSE ``error`` event)."""

    def __init__(self, provider: str, message: str, *, retryable: bool = True) -> None:
        self.retryable = retryable
        super().__init__(provider, _shorten(message))


class ProtocolError(ProviderError, RuntimeError):
    """The provider's answer does not follow its protocol (broken or unknown data)."""


class BrokenLineError(ProtocolError):
    """A streamed line is not valid JSON, or lacks the fields the protocol requires.

    The message starts with ``Broken line:`` as the seed's ``RuntimeError`` did,
    so code written against the seed keeps matching it.
    """

    def __init__(self, provider: str, line: bytes | str, reason: str) -> None:
        if isinstance(line, bytes):
            line = line.decode("utf-8", "replace")
        self.line = _shorten(line.rstrip("\r\n"), 200)
        self.reason = reason
        self.provider = provider
        self.detail = f"Broken line: {self.line} ({reason})"
        Exception.__init__(self, f"Broken line: {self.line} ({provider}: {reason})")


class LineTooLongError(ProtocolError):
    """A line of the streamed answer exceeded the configured bound."""

    def __init__(self, provider: str, limit: int) -> None:
        self.limit = limit
        super().__init__(
            provider,
            f"a line of the response exceeded {limit} bytes; "
            "raise the bound with max_line_bytes= if the site really sends such lines",
        )


class TruncatedResponseError(ProviderError):
    """The stream ended before the provider signalled the end of the answer.

    ``partial`` holds the text received before the stream broke, so nothing is
    lost, but it is never passed off as a complete answer.
    """

    retryable = True


def error_for_status(
    provider: str,
    status: int,
    server_message: str = "",
    *,
    code: str | None = None,
    retry_after: float | None = None,
) -> HTTPStatusError:
    """Build the :class:`HTTPStatusError` subclass that fits ``status``."""
    cls: type[HTTPStatusError]
    if status == 401:
        cls = AuthenticationError
    elif status == 403:
        cls = PermissionDeniedError
    elif status == 429:
        cls = RateLimitError
    elif status >= 500:
        cls = ServerError
    elif status >= 400:
        cls = BadRequestError
    else:
        cls = HTTPStatusError
    return cls(provider, status, server_message, code=code, retry_after=retry_after)
