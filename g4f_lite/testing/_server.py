"""What every emulator shares: serving on 127.0.0.1, on a loop or from a thread.

:class:`LocalServer` is the base of the shipped emulators and of any emulator
a provider author writes for a new protocol: subclass it, implement
:meth:`LocalServer.handle` (an aiohttp handler that sees every request), call
:meth:`LocalServer.record` first so that tests can read what was sent, and
give it a ``url`` property (where a provider is pointed). A ``fault``
attribute holding a :class:`~g4f_lite.testing.Fault` (or ``None``) lets the
conformance kit (:mod:`g4f_lite.testing.conformance`) inject the shared
faults. :class:`LocalProxy` is a tiny HTTP proxy for checking that
providers honour ``proxy=``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from aiohttp import web

from .._threads import loop_in_thread

__all__ = ["LocalProxy", "LocalServer", "RecordedRequest"]

S = TypeVar("S", bound="LocalServer")

# Loop iterations for a connection accepted just before close() to become
# aiohttp's: the accept callback, then the task that builds the transport,
# then connection_made (one each), with one to spare.
_SETTLE_ITERATIONS = 4


@dataclass
class RecordedRequest:
    """A request an emulator received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    #: What the plugin would send upstream: the first message and the last
    #: ``max_messages`` of the history, then the new message (AI Engine only).
    context: list[dict[str, Any]] = field(default_factory=list)
    #: The client's TCP port: equal ports mean a reused (pooled) connection.
    client_port: int | None = None
    received_at: float = field(default_factory=time.monotonic)


class LocalServer:
    """An aiohttp server on ``host`` (127.0.0.1) and a free port, handling every path.

    Subclasses implement :meth:`handle`, usually starting with
    ``record = await self.record(request)``. Use it as an async context
    manager on the running loop, or with :meth:`run_in_thread` from
    synchronous code::

        class EchoServer(LocalServer):
            async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        task = asyncio.current_task()
        if task is None:
            return await self.handle(request)
        self._handling[task] = request
        try:
            return await self.handle(request)
        finally:
            self._handling.pop(task, None)

    async def handle(self, request: web.Request) -> web.StreamResponse:
                record = await self.record(request)
                return web.json_response({"echo": record.body})

        async with EchoServer() as server:
            ...  # send requests to server.origin
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self._listener: socket.socket | None = None
        # The handlers running now, with their requests (see close()).
        self._handling: dict[asyncio.Task[Any], web.Request] = {}
        #: Every request received, in order.
        self.requests: list[RecordedRequest] = []

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._runner is not None

    @property
    def origin(self) -> str:
        """``http://host:port``; raises if the server is not running."""
        if self._runner is None:
            raise RuntimeError(f"the {type(self).__name__} is not running")
        return f"http://{self.host}:{self.port}"

    @property
    def open_connections(self) -> list[int]:
        """The client ports of the connections open now (0 when a port is unknown).

        A connection leaves this list as soon as the server notices it
        closed: how a test tells that a client hung up, e.g. after
        cancelling a stream (see :meth:`wait_disconnected`).
        """
        server = self._runner.server if self._runner is not None else None
        if server is None:
            return []
        ports = []
        for handler in server.connections:
            transport = handler.transport
            peer = transport.get_extra_info("peername") if transport is not None else None
            ports.append(int(peer[1]) if peer else 0)
        return ports

    async def wait_disconnected(self, port: int | None = None, *, timeout: float = 10.0) -> bool:
        """Wait until the client at ``port`` (``None``: every client) has hung up.

        Returns whether it did within ``timeout`` seconds; it returns as soon
        as it does, so a generous ``timeout`` costs nothing when all is well.
        """
        deadline = time.monotonic() + timeout
        while True:
            open_now = self.open_connections
            if (port not in open_now) if port is not None else not open_now:
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.01)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        task = asyncio.current_task()
        if task is None:
            return await self.handle(request)
        self._handling[task] = request
        try:
            return await self.handle(request)
        finally:
            self._handling.pop(task, None)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Answer one request (any method, any path): what a subclass implements."""
        return await self._handle(request)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        # The name the shipped emulators override; new emulators override handle().
        raise NotImplementedError(f"{type(self).__name__} must implement handle()")

    async def record(self, request: web.Request) -> RecordedRequest:
        """Append ``request`` to :attr:`requests` (its body parsed as JSON, if it is) and return it.

        The body is read here: a handler reads ``record.body`` (``None`` when
        it is not JSON) rather than the request again.
        """
        return await self._record(request)

    async def _record(self, request: web.Request) -> RecordedRequest:
        try:
            body: Any = await request.json() if request.can_read_body else None
        except ValueError:
            body = None
        peer = request.transport.get_extra_info("peername") if request.transport else None
        record = RecordedRequest(
            request.method,
            request.path,
            dict(request.headers),
            body,
            client_port=peer[1] if peer else None,
        )
        self.requests.append(record)
        return record

    async def start(self) -> None:
        """Start serving on the current event loop."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        # Our own listening socket, so that close() can stop accepting before
        # aiohttp closes the server.
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.create_server((self.host, self.port), family=family)
        try:
            await web.SockSite(runner, listener).start()
        except BaseException:
            listener.close()
            await runner.cleanup()
            raise
        self._runner, self._listener = runner, listener
        self.port = listener.getsockname()[1]

    async def close(self) -> None:
        """Stop serving."""
        runner, listener = self._runner, self._listener
        self._runner = self._listener = None
        if runner is None:
            return
        if listener is not None:
            # asyncio accepts a connection in one callback and wraps it in a
            # transport a loop iteration later, which fails if the server was
            # closed in between: the socket is then left open for the garbage
            # collector, a ResourceWarning in whatever test runs at that time
            # (a client that gives up at once, e.g. on a tiny timeout, makes
            # it likely). Stop accepting first, and let the connections already
            # accepted reach aiohttp, whose cleanup then closes them.
            with contextlib.suppress(NotImplementedError):  # loops without add_reader
                asyncio.get_running_loop().remove_reader(listener)
            for _ in range(_SETTLE_ITERATIONS):
                await asyncio.sleep(0)
        # A handler still waiting (a slow or stalled fault) for a client that
        # has hung up would hold the shutdown for as long as it sleeps: no
        # one will read its answer, so it stops now.
        for task, request in list(self._handling.items()):
            if request.transport is None or request.transport.is_closing():
                task.cancel()
        await runner.cleanup()

    async def __aenter__(self: S) -> S:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @contextmanager
    def run_in_thread(self: S) -> Iterator[S]:
        """Serve from a background thread with its own loop, for synchronous callers."""
        with loop_in_thread(self.start, self.close, name=f"{type(self).__name__}-thread"):
            yield self


# Request heads bigger than this are refused: a test proxy has no use for them.
_MAX_HEAD_BYTES = 64 * 1024
# Headers that describe the hop to the proxy, never forwarded to the server.
_HOP_HEADERS = frozenset(
    {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "upgrade"}
)


def _is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class LocalProxy:
    """A tiny HTTP proxy on 127.0.0.1 (forward and ``CONNECT``) that relays to loopback only.

    Point a provider at an emulator with ``proxy=proxy.url``: the request
    must then pass through here, and :attr:`requests` says what did (e.g.
    ``"POST http://127.0.0.1:43125/v1/chat/completions"``). A target that is
    not on this machine is refused with 403, so a test can never reach the
    internet through it. Each relayed request gets its own upstream
    connection (``Connection: close``). Use it as an async context manager.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        #: Every request line relayed (``"METHOD target"``), in order.
        self.requests: list[str] = []
        #: Request lines refused (a target off this machine, a malformed head).
        self.refused: list[str] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        """``http://host:port``, what ``proxy=`` takes; raises if the proxy is not running."""
        if self._server is None:
            raise RuntimeError("the LocalProxy is not running")
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Start relaying on the current event loop."""
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop relaying and cut every relayed connection."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await server.wait_closed()

    async def __aenter__(self) -> LocalProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        upstream: asyncio.StreamWriter | None = None
        try:
            upstream = await self._relay(reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass  # a client or server that went away: nothing to relay
        finally:
            for stream in (writer, upstream):
                if stream is not None:
                    stream.close()
                    with contextlib.suppress(OSError):
                        await stream.wait_closed()
            if task is not None:
                self._tasks.discard(task)

    async def _relay(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> asyncio.StreamWriter | None:
        head = await reader.readuntil(b"\r\n\r\n")
        if len(head) > _MAX_HEAD_BYTES:
            raise ValueError("request head too long")
        line, *header_lines = head.decode("latin-1").split("\r\n")
        method, target, version = line.split(" ", 2)
        if method == "CONNECT":
            host, _, port_text = target.rpartition(":")
            port, path = int(port_text), ""
        else:
            parts = urlsplit(target)
            host, port = parts.hostname or "", parts.port or 80
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if not _is_loopback(host):
            self.refused.append(f"{method} {target}")
            writer.write(
                b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            await writer.drain()
            return None
        up_reader, up_writer = await asyncio.open_connection(host.strip("[]"), port)
        self.requests.append(f"{method} {target}")
        if method == "CONNECT":
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await _pipe_both(reader, writer, up_reader, up_writer)
            return up_writer
        headers = [
            h for h in header_lines if h and h.split(":", 1)[0].strip().lower() not in _HOP_HEADERS
        ]
        rebuilt = "\r\n".join([f"{method} {path} {version}", *headers, "Connection: close", "", ""])
        up_writer.write(rebuilt.encode("latin-1"))
        await up_writer.drain()
        # The answer ends when the server closes (Connection: close); the
        # client's side (a request body) is relayed meanwhile.
        sending = asyncio.ensure_future(_pipe(reader, up_writer))
        try:
            await _pipe(up_reader, writer)
        finally:
            sending.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await sending
        return up_writer


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(64 * 1024):
        writer.write(data)
        await writer.drain()


async def _pipe_both(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    up_reader: asyncio.StreamReader,
    up_writer: asyncio.StreamWriter,
) -> None:
    tasks = [
        asyncio.ensure_future(_pipe(reader, up_writer)),
        asyncio.ensure_future(_pipe(up_reader, writer)),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
