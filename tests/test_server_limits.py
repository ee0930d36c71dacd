"""``serve``'s connection limits, driven with raw sockets: slow clients and floods."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from g4f_lite import config
from g4f_lite.server import Server, ServerSettings
from g4f_lite.testing import AIEngineEmulator, Fault

HEALTH = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
# Far longer than any limit under test: a connection still open after it was never closed.
PATIENCE = 20.0


@pytest.fixture
async def local(site: AIEngineEmulator, first_party_plugins: None) -> AIEngineEmulator:
    config.configure({"providers": {"Local": {"kind": "aiengine", "url": site.url}}})
    return site


@pytest.fixture
async def strict(local: AIEngineEmulator) -> AsyncIterator[Server]:
    """A server giving each request 0.5 s to arrive."""
    async with Server(ServerSettings(port=0, header_timeout=0.5)) as running:
        yield running


async def connect(server: Server) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", server.port)


async def close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One response on a keep-alive connection: status and body."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), PATIENCE)
    lines = head.decode("latin-1").split("\r\n")
    length = next(
        int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length")
    )
    body = await asyncio.wait_for(reader.readexactly(length), PATIENCE)
    return int(lines[0].split(" ")[1]), body


async def closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sent until it closed the connection (fails if it never does)."""
    try:
        return await asyncio.wait_for(reader.read(), PATIENCE)
    except ConnectionResetError:
        return b""


async def test_slowloris_headers_are_cut_off(strict: Server) -> None:
    reader, writer = await connect(strict)

    async def trickle() -> None:
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        for i in range(int(PATIENCE * 10)):
            await asyncio.sleep(0.1)
            writer.write(f"X-Slow-{i}: y\r\n".encode())

    trickling = asyncio.ensure_future(trickle())
    try:
        answer = await closed_by_server(reader)
    finally:
        trickling.cancel()
        await close(writer)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408")
    if answer:
        assert json.loads(answer.partition(b"\r\n\r\n")[2])["error"]["code"] == "request_timeout"


async def test_a_silent_connection_is_closed(strict: Server) -> None:
    reader, writer = await connect(strict)
    try:
        answer = await closed_by_server(reader)
    finally:
        await close(writer)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408")


async def test_a_trickled_body_is_cut_off(strict: Server, local: AIEngineEmulator) -> None:
    reader, writer = await connect(strict)
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n{"
    )

    async def trickle() -> None:
        for _ in range(int(PATIENCE * 10)):
            await asyncio.sleep(0.1)
            writer.write(b" ")

    trickling = asyncio.ensure_future(trickle())
    try:
        answer = await closed_by_server(reader)
    finally:
        trickling.cancel()
        await close(writer)
    assert not answer.startswith(b"HTTP/1.1 200")
    assert not local.requests


async def test_slow_answers_and_idle_keep_alive_are_not_cut_off(
    local: AIEngineEmulator,
) -> None:
    # The limit is on receiving the request: a slow provider and a pause
    # between two requests on one connection are no slow clients.
    local.fault = Fault.slow_first_byte(delay=1.0)
    async with (
        Server(ServerSettings(port=0, header_timeout=0.3)) as server,
        aiohttp.ClientSession() as session,
    ):
        body: dict[str, Any] = {
            "model": "",
            "messages": [{"role": "user", "content": "Hi"}],
            "provider": "Local",
        }
        async with session.post(f"{server.url}/chat/completions", json=body) as response:
            assert response.status == 200
            await response.read()
        await asyncio.sleep(0.6)
        async with session.post(f"{server.url}/chat/completions", json=body) as response:
            assert response.status == 200


async def test_keepalive_timeout_closes_idle_connections(local: AIEngineEmulator) -> None:
    async with Server(ServerSettings(port=0, keepalive_timeout=0.5)) as server:
        reader, writer = await connect(server)
        try:
            writer.write(HEALTH)
            assert (await read_response(reader))[0] == 200
            assert await closed_by_server(reader) == b""
        finally:
            await close(writer)


async def test_max_connections(local: AIEngineEmulator) -> None:
    async with Server(ServerSettings(port=0, max_connections=2)) as server:
        held = [await connect(server) for _ in range(2)]
        try:
            for reader, writer in held:  # answered: the server has counted them
                writer.write(HEALTH)
                assert (await read_response(reader))[0] == 200
            reader, writer = await connect(server)
            answer = await closed_by_server(reader)
            await close(writer)
            assert answer.startswith(b"HTTP/1.1 503")
            error = json.loads(answer.partition(b"\r\n\r\n")[2])["error"]
            assert error["code"] == "too_many_connections"
            # One held connection goes away: its slot is free again.
            await close(held.pop()[1])
            status = await _health_once_a_slot_frees(server)
            assert status == 200
        finally:
            for _, writer in held:
                await close(writer)


async def _health_once_a_slot_frees(server: Server) -> int:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE
    while True:
        reader, writer = await connect(server)
        try:
            writer.write(HEALTH)
            try:
                status = (await read_response(reader))[0]
            except (asyncio.IncompleteReadError, ConnectionResetError):
                status = 503
            if status != 503:  # 503: refused, the freed connection is not gone yet
                return status
        finally:
            await close(writer)
        if loop.time() > deadline:
            raise AssertionError("no connection slot freed up")
        await asyncio.sleep(0.05)
