"""What every emulator shares: serving on 127.0.0.1, on a loop or from a thread."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

from .._threads import loop_in_thread

__all__ = ["LocalServer", "RecordedRequest"]

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

    Subclasses implement :meth:`_handle`. Use it as an async context manager
    on the running loop, or with :meth:`run_in_thread` from synchronous code.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self._listener: socket.socket | None = None
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
        """Append ``request`` to :attr:`requests` (its body parsed as JSON, if it is)."""
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
        app.router.add_route("*", "/{tail:.*}", self.handle)
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
