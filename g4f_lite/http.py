"""The shared HTTP session and the helpers providers use to read answers.

One pooled :class:`aiohttp.ClientSession` per event loop is shared by every
provider. It is created on first use and closed when the loop shuts down
(``asyncio.run`` and pytest-asyncio both call ``loop.shutdown_asyncgens()``,
which is what closes it), or explicitly with :func:`aclose`.

A :class:`~g4f_lite.client.Client` owns a session of its own instead: an
:class:`OwnedSession`, which :func:`get_session` returns during the client's
calls (``with owned.active():``) and which the client closes itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import email.utils
import functools
import math
import re
import time
import weakref
from collections.abc import AsyncIterator, Iterable
from typing import Any

import aiohttp

from ._json import DEFAULT_MAX_DEPTH, JSONNestingError
from ._json import loads as loads_json
from .errors import BrokenLineError, LineTooLongError, ProtocolError, error_for_status
from .redact import scrub

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_LINE_BYTES",
    "MAX_RETRY_AFTER",
    "JSONNestingError",
    "OwnedSession",
    "aclose",
    "check_token",
    "connect_limit",
    "drain",
    "get_session",
    "iter_lines",
    "iter_sse_json",
    "loads_json",
    "parse_json",
    "parse_retry_after",
    "raise_for_status",
    "read_body",
    "request_timeout",
    "sse_event",
]

#: Default bound on one line of a streamed answer. An AI Engine ``end`` event
#: repeats the whole reply, so a line is roughly the size of the answer.
DEFAULT_MAX_LINE_BYTES = 1024 * 1024

_timeout = getattr(asyncio, "timeout", None)  # Python 3.11+
# How long to wait for the bytes after an end marker (normally already here).
_DRAIN_SECONDS = 0.5
# How much of an error body is read to find the server's message.
_ERROR_BODY_LIMIT = 64 * 1024


_CONNECT_TIMEOUT = 30.0
# Long enough for a slow model to think, short enough to notice a dead socket.
_READ_TIMEOUT = 300.0


# The router's connect limit for the request being opened. A context variable,
# not a keyword, so that it reaches every provider that builds its timeout
# with request_timeout(), without each provider having to pass it along.
_connect_limit: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "g4f_lite_connect_limit", default=None
)


class connect_limit:
    """Within this block, :func:`request_timeout` uses ``seconds`` as the connect limit.

    A class rather than ``@contextmanager``: it is entered on every request,
    and the generator machinery cost a few microseconds each time.
    """

    __slots__ = ("_seconds", "_token")

    def __init__(self, seconds: float | None) -> None:
        self._seconds = seconds

    def __enter__(self) -> None:
        self._token = _connect_limit.set(self._seconds)

    def __exit__(self, *exc_info: object) -> None:
        _connect_limit.reset(self._token)


def request_timeout(
    total: float | None = None, *, connect: float | None = None
) -> aiohttp.ClientTimeout:
    """The aiohttp timeout for one request: ``total`` seconds overall, if given.

    Providers pass the ``timeout`` keyword they receive through this, so that
    a caller's ``timeout=`` bounds the whole request, streaming included.
    ``connect`` bounds establishing the connection; it defaults to the
    router's connect limit for this attempt (see :func:`connect_limit`).
    """
    return _client_timeout(total, connect or _connect_limit.get() or _CONNECT_TIMEOUT)


@functools.lru_cache(maxsize=64)
def _client_timeout(total: float | None, connect: float) -> aiohttp.ClientTimeout:
    # ClientTimeout is immutable, and asked for on every request: build each once.
    return aiohttp.ClientTimeout(total=total, sock_connect=connect, sock_read=_READ_TIMEOUT)


class _LoopSession:
    __slots__ = ("closer", "session")

    def __init__(self, session: aiohttp.ClientSession, closer: AsyncIterator[None]) -> None:
        self.session = session
        self.closer = closer


_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopSession] = (
    weakref.WeakKeyDictionary()
)


async def _close_at_shutdown(
    loop: weakref.ref[asyncio.AbstractEventLoop], session: aiohttp.ClientSession
) -> AsyncIterator[None]:
    # An async generator started on a loop is finalised by the loop's
    # shutdown_asyncgens(): that is the only loop-shutdown hook asyncio has.
    # It holds the loop weakly so that a loop that is never shut down can
    # still be collected.
    try:
        yield
    finally:
        running = loop()
        entry = _sessions.get(running) if running is not None else None
        if running is not None and entry is not None and entry.session is session:
            del _sessions[running]
        await session.close()


def _new_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=100, ttl_dns_cache=300),
        # Providers keep whatever state they need (nonces, session ids)
        # themselves; a shared cookie jar would leak cookies between sites.
        cookie_jar=aiohttp.DummyCookieJar(),
        timeout=request_timeout(),
    )


class OwnedSession:
    """A session one owner (a ``Client``) keeps for itself, instead of the loop's shared one.

    Created lazily on the event loop of its first use, and closed by
    :meth:`aclose` (on that loop), or when that loop shuts down if nobody
    closed it. Within ``with owned.active():`` (also across ``await``),
    :func:`get_session` returns it.
    """

    __slots__ = ("_closer", "_loop", "_session")

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closer: AsyncIterator[None] | None = None

    @property
    def session(self) -> aiohttp.ClientSession | None:
        """The session, once created and while open."""
        session = self._session
        return session if session is not None and not session.closed else None

    async def get(self) -> aiohttp.ClientSession:
        """The session, created on the running loop on first use."""
        session = self._session
        loop = asyncio.get_running_loop()
        if session is not None and not session.closed:
            if self._loop is loop:
                return session
            if self._loop is not None and not self._loop.is_closed():
                raise RuntimeError(
                    "this client's HTTP session belongs to another event loop; "
                    "use one AsyncClient per event loop"
                )
        session = self._session = _new_session()
        self._loop = loop
        # Closed at the loop's shutdown if the owner never closes it.
        self._closer = _close_at_shutdown(weakref.ref(loop), session)
        await self._closer.__anext__()
        return session

    async def aclose(self) -> None:
        """Close the session now (a later use creates a new one)."""
        closer, self._closer, self._session = self._closer, None, None
        if closer is not None:
            await closer.aclose()  # type: ignore[attr-defined]

    def active(self) -> _Using:
        """A context manager within which :func:`get_session` returns this session."""
        return _Using(self)


class _Using:
    """Makes an :class:`OwnedSession` current (a class: entered on every call)."""

    __slots__ = ("_owned", "_token")

    def __init__(self, owned: OwnedSession) -> None:
        self._owned = owned

    def __enter__(self) -> None:
        self._token = _owned.set(self._owned)

    def __exit__(self, *exc_info: object) -> None:
        _owned.reset(self._token)


# The session of the Client whose call is running, if it owns one.
_owned: contextvars.ContextVar[OwnedSession | None] = contextvars.ContextVar(
    "g4f_lite_owned_session", default=None
)


async def get_session() -> aiohttp.ClientSession:
    """Return the session for this call, creating it on first use.

    That is the running loop's shared session, or the session of the
    ``Client`` making the call when it owns one (see :class:`OwnedSession`).
    """
    owned = _owned.get()
    if owned is not None:
        return await owned.get()
    loop = asyncio.get_running_loop()
    entry = _sessions.get(loop)
    if entry is not None and not entry.session.closed:
        return entry.session
    session = _new_session()
    closer = _close_at_shutdown(weakref.ref(loop), session)
    await closer.__anext__()
    _sessions[loop] = _LoopSession(session, closer)
    return session


async def aclose() -> None:
    """Close the running loop's shared session now (it is recreated if used again)."""
    entry = _sessions.pop(asyncio.get_running_loop(), None)
    if entry is not None:
        await entry.closer.aclose()  # type: ignore[attr-defined]


#: The longest ``Retry-After`` believed, in seconds (a day): a server asking for
#: more is treated as asking for a day, so that no header can bench a
#: provider for ever or overflow a timestamp.
MAX_RETRY_AFTER = 86400.0


def parse_retry_after(value: str | None) -> float | None:
    """Parse a ``Retry-After`` header (seconds or an HTTP date) into seconds.

    The result is clamped to ``[0, MAX_RETRY_AFTER]``; ``None`` when the
    header is absent or unreadable (``nan``, garbage, an impossible date).
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)  # "inf" and "1e400" parse to inf; clamped below
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
            seconds = when.timestamp() - time.time()
        except (TypeError, ValueError, OverflowError, OSError):
            # OverflowError/OSError: a year the platform's clock cannot represent.
            return None
    if math.isnan(seconds):
        return None
    return min(MAX_RETRY_AFTER, max(0.0, seconds))


# Visible ASCII: what a nonce, token, session id or cookie value may contain.
# Anything else (CR/LF above all) would corrupt the next request's headers.
_TOKEN = re.compile(r"[\x21-\x7e]+")


def check_token(provider: str, value: str, what: str) -> str:
    """Return ``value`` if it is safe to send back in a header; else raise.

    A site's nonce, session id or cookie value is echoed into the next
    request. One with control characters (CR/LF) or anything outside visible
    ASCII would make every later request fail, so it is refused with a
    :class:`~g4f_lite.errors.ProtocolError` naming ``what`` (never the value).
    """
    if not _TOKEN.fullmatch(value):
        raise ProtocolError(
            provider, f"the site sent a {what} with characters not allowed in a header"
        )
    return value


def parse_json(provider: str, data: str | bytes | bytearray, what: str = "the answer") -> Any:
    """Parse upstream JSON, depth-bounded; a typed error naming ``provider`` otherwise.

    Raises :class:`~g4f_lite.errors.ProtocolError` for invalid JSON or
    nesting deeper than :data:`DEFAULT_MAX_DEPTH` (never ``RecursionError``).
    """
    try:
        return loads_json(data)
    except JSONNestingError as exc:
        raise ProtocolError(provider, f"{what} is JSON nested too deep ({exc})") from None
    except ValueError:
        raise ProtocolError(provider, f"{what} is not JSON") from None


def _server_message(body: bytes) -> tuple[str, str | None]:
    """Find the human message and machine code in an error body."""
    text = body.decode("utf-8", "replace")
    try:
        # Depth-bounded: a hostile body nested too deep is shown as plain text.
        data: Any = loads_json(text)
    except ValueError:
        return text, None
    if not isinstance(data, dict):
        return text, None
    error = data.get("error")
    if isinstance(error, dict):  # OpenAI style: {"error": {"message", "code"|"type"}}
        code = error.get("code") or error.get("type")
        return str(error.get("message", "")), str(code) if code else None
    message = data.get("message", error if isinstance(error, str) else "")
    code = data.get("code")
    return str(message), str(code) if code else None


async def raise_for_status(
    response: aiohttp.ClientResponse, provider: str, secrets: Iterable[str] = ()
) -> None:
    """Raise the typed :class:`~g4f_lite.errors.HTTPStatusError` for a non-2xx answer.

    The error carries the status, the server's message and code when its body
    has them, and ``Retry-After`` in seconds. ``secrets`` (and anything shaped
    like a credential) are masked in the body before it is parsed or cut
    short, so that no fragment of a key the server echoes survives.
    """
    if response.status < 400:
        return
    try:
        body = await response.content.read(_ERROR_BODY_LIMIT)
    except aiohttp.ClientError:
        body = b""
    message, code = _server_message(body)
    message = scrub(message, secrets)
    raise error_for_status(
        provider,
        response.status,
        message or response.reason or "",
        code=code,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
    )


async def drain(response: aiohttp.ClientResponse, limit: int = 64 * 1024) -> None:
    """Read the few bytes left after a protocol's end marker.

    aiohttp only returns a connection to the pool when its body was read to
    the end; stopping at the end event would otherwise cost a new connection
    per request. Bounded in size and time, so a server that keeps talking
    merely loses its connection.
    """
    if response.content.is_eof():
        return
    with contextlib.suppress(asyncio.TimeoutError, aiohttp.ClientError):
        if _timeout is not None:
            # asyncio.timeout, not wait_for: no task per request on this hot path.
            async with _timeout(_DRAIN_SECONDS):
                await response.content.read(limit)
        else:  # Python 3.10
            await asyncio.wait_for(response.content.read(limit), _DRAIN_SECONDS)


async def read_body(response: aiohttp.ClientResponse, provider: str, limit: int) -> bytes:
    """Read a whole body of at most ``limit`` bytes.

    For answers read at once (a chat page, a JSON reply): a larger body
    raises :class:`~g4f_lite.errors.LineTooLongError` naming ``provider``
    instead of filling memory with whatever the server sends.
    """
    body = bytearray()
    while chunk := await response.content.read(64 * 1024):
        body += chunk
        if len(body) > limit:
            raise LineTooLongError(provider, limit)
    return bytes(body)


async def iter_lines(
    response: aiohttp.ClientResponse,
    provider: str,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> AsyncIterator[bytes]:
    """Yield the body's lines without their line endings, each at most ``max_line_bytes``.

    aiohttp's own ``readline`` caps lines at its buffer size (128 KiB by
    default) with a generic error; this reads whatever has arrived and splits
    it, so the bound is ours and the error names the provider.
    """
    buffer = bytearray()
    async for chunk in response.content.iter_any():
        buffer += chunk
        start = 0
        while (end := buffer.find(b"\n", start)) >= 0:
            if end - start > max_line_bytes:
                raise LineTooLongError(provider, max_line_bytes)
            line_end = end - 1 if end > start and buffer[end - 1] == 13 else end  # 13: "\r"
            yield bytes(buffer[start:line_end])
            start = end + 1
        del buffer[:start]
        if len(buffer) > max_line_bytes:
            raise LineTooLongError(provider, max_line_bytes)
    if buffer:
        yield bytes(buffer)


async def iter_sse_json(
    response: aiohttp.ClientResponse,
    provider: str,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> AsyncIterator[dict[str, Any]]:
    """Yield the JSON object of every server-sent ``data:`` line.

    Other lines (blank separators, comments, ``event:``) are skipped. A
    ``data:`` line that is not a JSON object raises
    :class:`~g4f_lite.errors.BrokenLineError`.
    """
    async for line in iter_lines(response, provider, max_line_bytes):
        if line.startswith(b"data:"):
            yield sse_event(provider, line)


def sse_event(provider: str, line: bytes) -> dict[str, Any]:
    """The JSON object of one ``data:`` line (depth-bounded).

    Raises :class:`~g4f_lite.errors.BrokenLineError` for a line whose data is
    not JSON, is nested too deep, or is not an object.
    """
    try:
        event = loads_json(line[5:])
    except JSONNestingError:
        raise BrokenLineError(provider, line, "JSON nested too deep") from None
    except ValueError:
        raise BrokenLineError(provider, line, "not JSON") from None
    if not isinstance(event, dict):
        raise BrokenLineError(provider, line, "not a JSON object")
    return event
