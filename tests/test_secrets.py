"""An API key an upstream echoes back never leaves: not in errors, health, logs or the CLI.

The key used here has no credential *shape* (no ``sk-`` prefix), so only the
known-value scrubbing can catch it: the provider must report the key it
resolved from its environment variable or configuration, not only one
passed per call.
"""

from __future__ import annotations

import json
import logging
import traceback
from pathlib import Path
from typing import Any

import pytest

import g4f_lite
from g4f_lite import cli, errors
from g4f_lite.provider import BaseProvider, collect, run_provider
from g4f_lite.router import RetryPolicy, Router, default_router, set_default_router
from g4f_lite.testing import API_KEY_PLACEHOLDER, Fault, OpenAIEmulator

pytestmark = pytest.mark.usefixtures("first_party_plugins")

KEY = "zq9XvLmP4tRw8sY2hN6b"
ENV = "LEAKY_TEST_KEY"
HELLO = [{"role": "user", "content": "Hello"}]
ECHO = f"Invalid key {API_KEY_PLACEHOLDER} for this account"

#: Every way the emulated server echoes the key back.
ECHOES = {
    "200 error body": Fault.error_body(ECHO),
    "mid-stream error event": Fault.error_event(after=1, message=ECHO),
    "401 body": Fault.error_body(ECHO, status=401),
    "500 body": Fault("status", status=500, message=ECHO),
    # A line the client cannot parse is quoted in its error: with the key in it.
    "broken line": Fault.raw(200, (f"data: {{not json {KEY}\n\n".encode(),)),
}


def texts_of(error: BaseException) -> list[str]:
    """Everything a user or a log could see of ``error``, its chain included."""
    seen: list[str] = [str(error), repr(error)]
    seen += [str(getattr(error, a, "")) for a in ("detail", "server_message", "line", "partial")]
    seen.append("".join(traceback.format_exception(error)))
    cause: BaseException | None = error
    while cause is not None:
        seen += [str(cause), repr(cause), str(getattr(cause, "detail", ""))]
        cause = cause.__cause__ or cause.__context__
    for inner in getattr(error, "exceptions", ()):
        seen += texts_of(inner)
    return seen


def assert_no_key(*texts: str) -> None:
    for text in texts:
        assert KEY not in text
        assert KEY[:12] not in text  # not even a cut-off half of it


@pytest.fixture
def key_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, KEY)


def leaky(server: OpenAIEmulator, **options: Any) -> type[BaseProvider]:
    return g4f_lite.declare_provider(
        "Leaky", "openai", base_url=server.url, models=["emulated-model"], **options
    )


@pytest.mark.parametrize("echo", list(ECHOES))
@pytest.mark.parametrize("source", ["env", "config", "call"])
async def test_an_echoed_key_is_scrubbed_from_the_error(
    echo: str, source: str, key_in_env: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with OpenAIEmulator(api_key=KEY, reply="a b c d") as server:
        choices: dict[str, dict[str, Any]] = {
            "env": {"api_key_env": ENV},
            "config": {"api_key": KEY},
            "call": {"needs_auth": False},
        }
        provider = leaky(server, **choices[source])
        call: dict[str, Any] = {"api_key": KEY} if source == "call" else {}
        server.faults.append(ECHOES[echo])
        with pytest.raises(errors.ProviderError) as info:
            await collect(run_provider(provider, "", HELLO, **call), provider.name)
        assert server.requests[-1].headers["Authorization"] == f"Bearer {KEY}"
    assert_no_key(*texts_of(info.value), caplog.text)
    if echo != "broken line":
        assert "Invalid key ***" in str(info.value)


def test_an_echoed_key_stays_out_of_health_and_logs(
    key_in_env: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    set_default_router(Router(retry=RetryPolicy(max_attempts=1)))
    with OpenAIEmulator(api_key=KEY, fault=Fault.error_body(ECHO)).run_in_thread() as server:
        leaky(server, api_key_env=ENV)
        for stream in (False, True):
            with pytest.raises(errors.G4FLiteError) as info:
                "".join(g4f_lite.ChatCompletion.create("", HELLO, provider="Leaky", stream=stream))
            assert_no_key(*texts_of(info.value))
    health = default_router().health_of("Leaky")
    assert health.last_error is not None
    assert_no_key(health.last_error, health.model_dump_json(), caplog.text)


@pytest.mark.parametrize("echo", ["200 error body", "mid-stream error event", "401 body"])
@pytest.mark.parametrize("command", ["chat", "check"])
def test_an_echoed_key_stays_out_of_the_cli(
    echo: str,
    command: str,
    key_in_env: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with OpenAIEmulator(api_key=KEY, reply="a b c d", fault=ECHOES[echo]).run_in_thread() as server:
        config = tmp_path / "g4f-lite.toml"
        config.write_text(
            "[providers.Leaky]\n"
            'kind = "openai"\n'
            f'base_url = "{server.url}"\n'
            f'api_key_env = "{ENV}"\n'
            'models = ["emulated-model"]\n'
        )
        if command == "chat":
            argv = ["--config", str(config), "chat", "-p", "Leaky", "Hello"]
        else:
            argv = ["--config", str(config), "check", "Leaky", "--json", "--timeout", "30"]
        status = cli.main(argv)
        assert server.requests  # the key was sent, and echoed back
    out, err = capsys.readouterr()
    assert status == 1 if command == "chat" else status in (0, 1)
    assert_no_key(out, err)
    assert "***" in out + err
    if command == "check":
        (probe,) = json.loads(out)
        assert probe["ok"] is False
        assert_no_key(probe["error"])


def test_the_resolved_key_and_proxy_credentials_are_secret_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from g4f_lite_openai import OpenAIEndpoint, make_provider

    provider = make_provider("P", OpenAIEndpoint(base_url="http://127.0.0.1:9/v1", api_key_env=ENV))
    assert provider.secret_values({}) == frozenset()
    monkeypatch.setenv(ENV, KEY)
    secrets = provider.secret_values({"proxy": "http://proxyuser:proxypass@127.0.0.1:3128"})
    assert {KEY, "proxyuser", "proxypass", "proxyuser:proxypass"} <= secrets
    configured = make_provider(
        "Q", OpenAIEndpoint.model_validate({"base_url": "http://h/v1", "api_key": KEY})
    )
    assert KEY in configured.secret_values({})
    assert "per-call-key-123" in configured.secret_values({"api_key": "per-call-key-123"})
