"""What every emulator shares: serving on 127.0.0.1, on a loop or from a thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from aiohttp import web

__all__ = ["LocalServer"]

S = TypeVar("S", bound="LocalServer")


class LocalServer:
    """An aiohttp server on ``host`` (127.0.0.1) and a free port, handling every path.

    Subclasses implement :meth:`_handle`. Use it as an async context manager
    on the running loop, or with :meth:`run_in_thread` from synchronous code.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

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

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError

    async def start(self) -> None:
        """Start serving on the current event loop."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self: S) -> S:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @contextmanager
    def run_in_thread(self: S) -> Iterator[S]:
        """Serve from a background thread with its own loop, for synchronous callers."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(
            target=loop.run_forever, name=f"{type(self).__name__}-thread", daemon=True
        )
        thread.start()
        started = False
        try:
            asyncio.run_coroutine_threadsafe(self.start(), loop).result(timeout=10)
            started = True
            yield self
        finally:
            if started:
                asyncio.run_coroutine_threadsafe(self.close(), loop).result(timeout=10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()
