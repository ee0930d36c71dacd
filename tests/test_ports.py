"""Ports: serve's default, a server that will not route to itself, the emulator's printed URL."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from g4f_lite import config
from g4f_lite.cli import _build_parser
from g4f_lite.policies import RetryPolicy
from g4f_lite.router import Router
from g4f_lite.server import Server, ServerSettings
from g4f_lite.server.selfroute import OwnAddress
from g4f_lite.testing import AIEngineEmulator

HI = [{"role": "user", "content": "Hi"}]
# Generous: a loaded 2-core machine. A loop would hang far longer (or forever).
GUARD = 60.0

# -- serve's default port -----------------------------------------------------------


def test_serve_listens_on_1337_by_default() -> None:
    args = _build_parser().parse_args(["serve"])
    assert ServerSettings.from_config({}, port=args.port).port == 1337
    # A [server] port, or --port, still wins.
    assert ServerSettings.from_config({"port": 8000}, port=args.port).port == 8000
    assert _build_parser().parse_args(["serve", "--port", "9000"]).port == 9000


def test_serve_help_names_the_default_port(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _build_parser().parse_args(["serve", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "default: 1337" in help_text
    assert "8080" not in help_text


# -- serve refuses to route to itself ---------------------------------------------------


@pytest.fixture
async def server(first_party_plugins: None) -> AsyncIterator[Server]:
    router = Router(retry=RetryPolicy(max_attempts=1))
    async with Server(ServerSettings(port=0), router=router) as running:
        yield running


async def post(server: Server, body: dict[str, Any]) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{server.url}/chat/completions", json=body) as response,
    ):
        return response.status, await response.json()


async def get(server: Server, path: str) -> Any:
    async with aiohttp.ClientSession() as session, session.get(server.url + path) as response:
        assert response.status == 200
        return await response.json()


def loop_to(server: Server, host: str = "127.0.0.1") -> dict[str, Any]:
    return {"kind": "openai", "base_url": f"http://{host}:{server.port}/v1", "models": ["m"]}


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "0.0.0.0"])
async def test_a_request_naming_a_provider_that_points_at_the_server_fails_fast(
    server: Server, host: str
) -> None:
    config.configure({"providers": {"Loop": loop_to(server, host)}})
    status, body = await asyncio.wait_for(
        post(server, {"model": "m", "messages": HI, "provider": "Loop"}), GUARD
    )
    assert status == 400
    error = body["error"]
    assert error["code"] == "provider_targets_server"
    assert error["param"] == "provider"
    assert "'Loop'" in error["message"]
    assert "this server itself" in error["message"]


async def test_without_a_provider_named_the_request_routes_elsewhere(server: Server) -> None:
    async with AIEngineEmulator(reply="from elsewhere") as site:
        config.configure(
            {
                "providers": {
                    "Loop": loop_to(server),
                    "Elsewhere": {"kind": "aiengine", "url": site.url, "models": ["m"]},
                }
            }
        )
        for _ in range(3):  # whatever the order, never the loop
            status, body = await asyncio.wait_for(
                post(server, {"model": "m", "messages": HI}), GUARD
            )
            assert status == 200, body
            assert body["choices"][0]["message"]["content"] == "from elsewhere"
            assert body["provider"] == "Elsewhere"


async def test_with_only_the_loop_to_route_to_the_answer_says_why(server: Server) -> None:
    config.configure({"providers": {"Loop": loop_to(server, "localhost")}})
    status, body = await asyncio.wait_for(
        post(server, {"model": "m", "messages": HI, "stream": True}), GUARD
    )
    assert status == 503
    assert "Loop" in body["error"]["message"]
    assert "this server itself" in body["error"]["message"]


async def test_the_provider_list_says_why_a_provider_is_excluded(server: Server) -> None:
    async with AIEngineEmulator() as site:
        config.configure(
            {
                "providers": {
                    "Loop": loop_to(server),
                    "Elsewhere": {"kind": "aiengine", "url": site.url, "models": ["m"]},
                }
            }
        )
        listed = {p["name"]: p for p in (await get(server, "/providers"))["data"]}
        models = {m["id"]: m for m in (await get(server, "/models"))["data"]}
    assert "this server itself" in listed["Loop"]["excluded"]
    assert listed["Elsewhere"]["excluded"] is None
    assert models["m"]["providers"] == ["Elsewhere"]
    assert server.self_routes() == {"Loop": f"http://127.0.0.1:{server.port}/v1"}


async def test_a_loop_configured_before_start_is_warned_about(
    first_party_plugins: None, caplog: pytest.LogCaptureFixture
) -> None:
    # The port must be known before the server starts: take one, free it, reuse it.
    async with Server(ServerSettings(port=0)) as probe:
        port = probe.port
    config.configure(
        {
            "providers": {
                "Loop": {"kind": "openai", "base_url": f"http://localhost:{port}/v1"},
                "Other": {"kind": "openai", "base_url": f"http://127.0.0.1:{port + 1}/v1"},
            }
        }
    )
    with caplog.at_level("WARNING", logger="g4f_lite.server"):
        async with Server(ServerSettings(port=port)) as running:
            assert running.self_routes() == {"Loop": f"http://localhost:{port}/v1"}
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("Loop" in w and "this server itself" in w for w in warnings)
    assert not any("Other" in w for w in warnings)


@pytest.mark.parametrize(
    ("sockets", "url", "loops"),
    [
        ([("127.0.0.1", 1337)], "http://127.0.0.1:1337/v1", True),
        ([("127.0.0.1", 1337)], "http://localhost:1337", True),
        ([("127.0.0.1", 1337)], "http://127.0.0.1:1338/v1", False),
        ([("127.0.0.1", 1337)], "http://example.com:1337/v1", False),
        ([("127.0.0.1", 80)], "http://localhost/v1", True),  # the scheme's port
        ([("127.0.0.1", 443)], "http://localhost/v1", False),
        ([("0.0.0.0", 1337)], "http://127.0.0.1:1337", True),
        ([("::", 1337)], "http://[::1]:1337", True),
        ([("192.0.2.7", 1337)], "http://192.0.2.7:1337", True),
        ([("192.0.2.7", 1337)], "http://127.0.0.1:1337", False),  # not listening there
        ([], "http://127.0.0.1:1337", False),  # not started: nothing to compare
        ([("127.0.0.1", 1337)], "not a url", False),
    ],
)
def test_what_counts_as_this_server(sockets: list[tuple[str, int]], url: str, loops: bool) -> None:
    own = OwnAddress()
    own.listen_on(sockets)
    assert own.is_self(url) is loops


# -- python -m g4f_lite.testing prints its URL ----------------------------------------


async def test_the_emulator_command_prints_the_url_it_serves() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "g4f_lite.testing",
        "--port",
        "0",
        "--reply-words",
        "3",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), GUARD)).decode().strip()
        match = re.fullmatch(r"http://127\.0\.0\.1:(\d+)", line)
        assert match is not None, line
        assert int(match.group(1)) > 0  # the real port, not the 0 asked for
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{line}/wp-json/mwai-ui/v1/chats/submit",
                json={"newMessage": "Hi", "messages": [], "stream": False},
            ) as response,
        ):
            assert (await response.json())["reply"] == "w0 w1 w2"
    finally:
        if process.returncode is None:
            process.terminate()
        _, err = await asyncio.wait_for(process.communicate(), GUARD)
    assert line in err.decode()
