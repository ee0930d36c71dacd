"""What ``serve`` logs: text or JSON lines, the access log on or off, and never a secret."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from g4f_lite import config, errors
from g4f_lite.health import InMemoryHealthStore
from g4f_lite.policies import RetryPolicy
from g4f_lite.router import Router
from g4f_lite.server import Server, ServerSettings
from g4f_lite.server.logs import (
    LOG_FIELDS,
    install_log_format,
    install_secret_filter,
    server_secrets,
)
from g4f_lite.testing import AIEngineEmulator, Fault, OpenAIEmulator

HI = [{"role": "user", "content": "Hi there"}]
SERVER_KEY = "s3rver-key-for-logs"
UPSTREAM_KEY = "sk-leaky-upstream-key-0123456789"
PROXY_PASSWORD = "proxy-pass-leaky-42"
CLIENT_KEY = "sk-client-query-key-abcdefgh"
SECRETS = (SERVER_KEY, UPSTREAM_KEY, PROXY_PASSWORD, CLIENT_KEY)


class Captured:
    """A log handler writing to a string, attached to the loggers ``serve`` writes to."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)

    @property
    def lines(self) -> list[str]:
        return [line for line in self.stream.getvalue().splitlines() if line]

    def records(self) -> list[dict[str, Any]]:
        """Every line, parsed: each one must be a JSON object."""
        return [json.loads(line) for line in self.lines]


@pytest.fixture
def captured() -> Iterator[Captured]:
    capture = Captured()
    loggers = [logging.getLogger(name) for name in ("aiohttp.access", "g4f_lite")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(capture.handler)
        logger.setLevel(logging.INFO)
    try:
        yield capture
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(capture.handler)
            logger.setLevel(level)


@pytest.fixture
async def local(site: AIEngineEmulator, first_party_plugins: None) -> AIEngineEmulator:
    config.configure(
        {"providers": {"Local": {"kind": "aiengine", "url": site.url, "models": ["local-model"]}}}
    )
    return site


def router() -> Router:
    return Router(retry=RetryPolicy(max_attempts=1), health=InMemoryHealthStore())


async def post(server: Server, body: dict[str, Any], query: str = "") -> tuple[int, str, str]:
    """Status, body and ``X-Request-Id`` of a chat completion (sent with the server's key)."""
    headers = {"Authorization": f"Bearer {SERVER_KEY}"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{server.url}/chat/completions{query}", json=body, headers=headers
        ) as response,
    ):
        return response.status, await response.text(), response.headers["X-Request-Id"]


@pytest.fixture
async def json_server(
    local: AIEngineEmulator, captured: Captured
) -> AsyncIterator[tuple[Server, Captured]]:
    """A server logging JSON (formatter and secret filter as ``serve`` installs them)."""
    settings = ServerSettings(port=0, api_key=SecretStr(SERVER_KEY), log_format="json")
    secrets = server_secrets(settings.api_key)
    remove = install_secret_filter(secrets, [captured.handler])
    restore = install_log_format(settings.log_format, secrets, [captured.handler])
    try:
        async with Server(settings, router=router(), access_log=True) as server:
            yield server, captured
    finally:
        restore()
        remove()


async def test_json_access_log_has_one_object_per_request(
    json_server: tuple[Server, Captured],
) -> None:
    server, captured = json_server
    ok = await post(server, {"model": "local-model", "messages": HI})
    streamed = await post(server, {"model": "local-model", "messages": HI, "stream": True})
    missing = await post(server, {"model": "no-such-model", "messages": HI})
    await server.close()  # the access log is written once each answer is done
    access = [r for r in captured.records() if r["logger"] == "aiohttp.access"]
    by_id = {record["request_id"]: record for record in access}
    assert set(by_id) == {ok[2], streamed[2], missing[2]}
    for answer in (ok, streamed):
        record = by_id[answer[2]]
        assert record["status"] == 200 and record["provider"] == "Local"
        assert record["model"] == "local-model" and record["attempts"] == 1
        assert record["method"] == "POST" and record["path"] == "/v1/chat/completions"
        assert isinstance(record["latency"], float) and record["level"] == "INFO"
    assert by_id[missing[2]]["status"] == 404 and by_id[missing[2]]["provider"] is None
    assert set(LOG_FIELDS) <= set(by_id[ok[2]])


async def test_secrets_never_reach_the_json_log(
    json_server: tuple[Server, Captured],
    openai_server: OpenAIEmulator,
    local: AIEngineEmulator,
) -> None:
    server, captured = json_server
    openai_server.echo_key_in_errors = True
    config.configure(
        {
            "providers": {
                "Local": {"kind": "aiengine", "url": local.url, "models": ["local-model"]},
                # A wrong key, echoed back by the upstream's 401.
                "Echo": {"kind": "openai", "base_url": openai_server.url, "api_key": UPSTREAM_KEY},
                "Good": {"kind": "openai", "base_url": openai_server.url, "api_key": "sk-test"},
                # A proxy with a password, where nothing listens.
                "Proxied": {
                    "kind": "openai",
                    "base_url": openai_server.url,
                    "api_key": "sk-test",
                    "proxy": f"http://user:{PROXY_PASSWORD}@127.0.0.1:9",
                },
            }
        }
    )
    body = {"model": "emulated-model", "messages": HI}
    assert (await post(server, {**body, "provider": "Echo"}))[0] == 502
    assert (await post(server, {**body, "provider": "Proxied"}))[0] >= 500
    # A stream that breaks with an error event repeating the key it was sent.
    openai_server.faults.append(Fault.error_event(after=1, message="bad key {api_key}"))
    streamed = await post(server, {**body, "provider": "Good", "stream": True})
    assert streamed[0] == 200 and "sk-test" not in streamed[1]
    # A key in the query string, and secrets sent as the model's name.
    status, _, _ = await post(
        server, {"model": f"{SERVER_KEY} {CLIENT_KEY}", "messages": HI}, f"?api_key={CLIENT_KEY}"
    )
    assert status == 404
    await server.close()
    records = captured.records()
    text = "\n".join(captured.lines)
    assert len([r for r in records if r["logger"] == "aiohttp.access"]) == 4
    assert any(r["logger"] == "g4f_lite.server" and "Echo" in r["message"] for r in records)
    assert any("stream failed" in r["message"] for r in records)
    for secret in (*SECRETS, "sk-test"):
        assert secret not in text
    assert "***" in text


async def test_text_access_log_names_the_provider(
    local: AIEngineEmulator, captured: Captured
) -> None:
    async with Server(ServerSettings(port=0), router=router(), access_log=True) as server:
        _, _, request_id = await post(server, {"model": "local-model", "messages": HI})
    line = next(line for line in captured.lines if request_id in line)
    assert '"POST /v1/chat/completions" 200' in line
    assert line.endswith(f"{request_id} provider=Local attempts=1")


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_access_log_can_be_turned_off(
    local: AIEngineEmulator, captured: Captured, log_format: str
) -> None:
    settings = ServerSettings(port=0, access_log=False, log_format=log_format)  # type: ignore[arg-type]
    async with Server(settings, router=router(), access_log=True) as server:
        assert (await post(server, {"model": "local-model", "messages": HI}))[0] == 200
    assert not [line for line in captured.lines if "/v1/chat/completions" in line]


def test_log_settings_are_checked() -> None:
    table = {"log_format": "json", "access_log": False, "metrics_public": True}
    settings = ServerSettings.from_config(table)
    assert (settings.log_format, settings.access_log, settings.metrics_public) == (
        "json",
        False,
        True,
    )
    for bad in ({"log_format": "xml"}, {"access_log": "no"}, {"metrics_public": 1}):
        with pytest.raises(errors.ConfigurationError, match=next(iter(bad))):
            ServerSettings.from_config(bad)


# -- the command line -----------------------------------------------------------------------


async def run_serve(config_file: Path, *flags: str) -> tuple[list[str], str]:
    """Run ``g4f-lite serve`` with ``flags``; send one chat request; its log lines and id."""
    environ = {**os.environ, "G4F_LITE_API_KEY": SERVER_KEY}
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "g4f_lite.cli", "--config", str(config_file)),
        *("serve", "--port", "0", *flags),
        stderr=asyncio.subprocess.PIPE,
        env=environ,
    )
    assert process.stderr is not None
    try:
        ready = (await asyncio.wait_for(process.stderr.readline(), timeout=120)).decode()
        url = ready.split(" at ", 1)[1].split()[0]
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{url}/chat/completions?key={CLIENT_KEY}",
                json={"model": "local-model", "messages": HI},
                headers={"Authorization": f"Bearer {SERVER_KEY}"},
            ) as response,
        ):
            assert response.status == 200
            request_id = response.headers["X-Request-Id"]
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        rest = await asyncio.wait_for(process.stderr.read(), timeout=120)
        await process.wait()
    lines = [line for line in rest.decode().splitlines() if line.startswith("{")]
    return lines, request_id


@pytest.mark.parametrize("access_log", [True, False])
async def test_serve_logs_json_lines(
    local: AIEngineEmulator, tmp_path: Path, access_log: bool
) -> None:
    config_file = tmp_path / "g4f-lite.toml"
    config_file.write_text(
        f'[providers.Local]\nkind = "aiengine"\nurl = "{local.url}"\nmodels = ["local-model"]\n'
    )
    flags = ("--log-format", "json") + (() if access_log else ("--no-access-log",))
    lines, request_id = await run_serve(config_file, *flags)
    records = [json.loads(line) for line in lines]
    assert any(r["message"] == "shutting down" for r in records)  # the server's own lines too
    access = [r for r in records if r.get("request_id") == request_id]
    if access_log:
        assert len(access) == 1 and access[0]["provider"] == "Local"
        assert access[0]["status"] == 200 and access[0]["path"].endswith("key=***")
    else:
        assert access == []
    assert SERVER_KEY not in "".join(lines) and CLIENT_KEY not in "".join(lines)
