"""Connection limits for ``serve``: slow clients and connection floods.

aiohttp closes a connection that sends nothing for ``keepalive_timeout``,
but a client that trickles a header line every few seconds (slowloris), or a
body a byte at a time, holds its socket forever, and nothing bounds how many
sockets one client may open. Two guards, both at the protocol level so that
they cost one timer per request and nothing per byte:

* ``header_timeout``: from a request's first byte (or the connection's
  opening) the whole request, headers and body, must arrive within this many
  seconds, else the connection is closed (with a 408 when no handler runs
  yet).
* ``max_connections``: a connection beyond it is answered with a 503 at once
  and closed, so an over-limit client learns why.

aiohttp builds its protocol objects itself; the guard swaps in a
:class:`RequestHandler` subclass through the runner's server factory.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from aiohttp import web, web_protocol, web_server
from aiohttp.streams import StreamReader
from aiohttp.web_request import BaseRequest

from .models import ErrorBody, ErrorDetail

__all__ = ["GuardedRunner"]


def _canned(status: str, message: str, code: str, extra: str = "") -> bytes:
    body = (
        ErrorBody(error=ErrorDetail(message=message, type="invalid_request_error", code=code))
        .model_dump_json()
        .encode()
    )
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n"
    )
    return head.encode() + body


# Built once: they are written straight to the socket, outside any handler.
_TOO_MANY = _canned(
    "503 Service Unavailable",
    "the server has too many open connections; retry shortly",
    "too_many_connections",
    "Retry-After: 1\r\n",
)
_TOO_SLOW = _canned("408 Request Timeout", "the request did not arrive in time", "request_timeout")


class _GuardedHandler(web_protocol.RequestHandler):
    """aiohttp's protocol, with the request deadline and the connection cap."""

    __slots__ = ("_deadline", "_payload", "_refused")

    def __init__(self, manager: _GuardedServer, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._payload: StreamReader | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        manager = self._manager
        assert isinstance(manager, _GuardedServer)
        if manager.full():
            self._refused = True
            self._manager = None  # never registered: connection_lost has nothing to undo
            if isinstance(transport, asyncio.WriteTransport):
                transport.write(_TOO_MANY)
            transport.close()
            return
        super().connection_made(transport)
        self._arm(manager.header_timeout)

    def _arm(self, timeout: float) -> None:
        self._deadline = self._loop.call_later(timeout, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        transport = self.transport
        if transport is None:
            return
        if not self._request_in_progress and isinstance(transport, asyncio.WriteTransport):
            transport.write(_TOO_SLOW)
        # Closing cancels a handler still waiting for the body (handler_cancellation).
        self.force_close()

    def data_received(self, data: bytes) -> None:
        manager = self._manager
        if self._deadline is None and data and isinstance(manager, _GuardedServer):
            self._arm(manager.header_timeout)  # the first bytes of the next request
        super().data_received(data)
        if self._messages:
            self._payload = self._messages[-1][1]
        payload = self._payload
        # Headers parsed and the body complete: the request has fully arrived.
        if payload is not None and payload.is_eof():
            self._payload = None
            self._disarm()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """A request aiohttp could not parse: the OpenAI error shape, no echo of the input."""
        # Logs it and refuses when a response has started, as aiohttp does.
        super().handle_error(request, status, exc, message)
        request_id = uuid.uuid4().hex
        error = ErrorDetail(
            message="malformed HTTP request" if status < 500 else "internal server error",
            type="invalid_request_error" if status < 500 else "server_error",
            code="bad_request" if status < 500 else "internal_error",
            request_id=request_id,
        )
        response = web.Response(
            status=status,
            body=ErrorBody(error=error).model_dump_json(),
            content_type="application/json",
            headers={"X-Request-Id": request_id},
        )
        response.force_close()
        return response

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        self._payload = None
        if self._refused:
            return
        super().connection_lost(exc)


class _GuardedServer(web_server.Server):
    """aiohttp's connection manager, making :class:`_GuardedHandler` protocols."""

    header_timeout: float = 30.0
    max_connections: int = 1024

    def full(self) -> bool:
        """Whether a new connection would exceed ``max_connections``."""
        return len(self._connections) >= self.max_connections

    def __call__(self) -> web_protocol.RequestHandler:
        return _GuardedHandler(self, loop=self._loop, **self._kwargs)


class GuardedRunner(web.AppRunner):
    """An :class:`aiohttp.web.AppRunner` whose connections obey the server's limits."""

    __slots__ = ("_header_timeout", "_max_connections")

    def __init__(
        self,
        app: web.Application,
        *,
        header_timeout: float,
        max_connections: int,
        **kwargs: Any,
    ) -> None:
        super().__init__(app, **kwargs)
        self._header_timeout = header_timeout
        self._max_connections = max_connections

    async def _make_server(self) -> web_server.Server:
        server = await super()._make_server()
        # Application._make_handler builds a plain Server; re-classing it keeps
        # every argument aiohttp passed rather than repeating its construction.
        server.__class__ = _GuardedServer
        assert isinstance(server, _GuardedServer)
        server.header_timeout = self._header_timeout
        server.max_connections = self._max_connections
        return server
