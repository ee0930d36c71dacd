"""Availability: a provider is routed to only when it can be used from here, now."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

import g4f_lite
from g4f_lite import AsyncClient, errors
from g4f_lite.availability import Availability, loopback_address
from g4f_lite.cli import main
from g4f_lite.testing import OpenAIEmulator

pytestmark = pytest.mark.usefixtures("first_party_plugins")

HELLO = [{"role": "user", "content": "Hello"}]


def closed_port() -> int:
    """A loopback port nobody listens on: connections are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def local(name: str, base_url: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "openai", "base_url": base_url, "models": ["local-model"], **extra}


@pytest.fixture
async def server() -> AsyncIterator[OpenAIEmulator]:
    async with OpenAIEmulator(models=["local-model"]) as emulator:
        yield emulator


async def test_a_local_server_nobody_started_is_skipped_without_a_request(
    server: OpenAIEmulator,
) -> None:
    # Declared first, so the ordered strategy would try it first.
    dead = f"http://127.0.0.1:{closed_port()}/v1"
    config = {"providers": {"Dead": local("Dead", dead), "Up": local("Up", server.url)}}
    async with AsyncClient(config=config) as client:
        result = await client.chat.completions.create(model="local-model", messages=HELLO)
        assert result.provider == "Up"
        # Nothing was attempted at the dead one: its health saw no failure.
        [dead_info] = client.providers(plugin="config", available=False)
        assert dead_info.name == "Dead" and dead_info.available is False
        assert dead_info.health is not None and dead_info.health.failures == 0


async def test_nothing_available_fails_at_once_with_advice() -> None:
    port = closed_port()
    dead = f"127.0.0.1:{port}"
    config = {"providers": {"Dead": local("Dead", f"http://{dead}/v1")}}
    async with AsyncClient(config=config) as client:
        with pytest.raises(errors.NoProviderAvailableError) as caught:
            await client.chat.completions.create(model="local-model", messages=HELLO)
    message = str(caught.value)
    assert message.startswith("no provider is available")
    assert "with no server listening" in message
    assert "OPENAI_API_KEY" in message and "g4f-lite providers --all" in message
    assert caught.value.excluded["Dead"] == [f"not available: nothing listening at {dead}"]


async def test_a_named_provider_is_tried_even_when_nothing_listens() -> None:
    config = {"providers": {"Dead": local("Dead", f"http://127.0.0.1:{closed_port()}/v1")}}
    async with AsyncClient(config=config) as client:
        with pytest.raises(errors.ProviderConnectionError, match="Dead"):
            await client.chat.completions.create(
                model="local-model", messages=HELLO, provider="Dead"
            )


async def test_a_key_makes_a_hosted_provider_available(
    server: OpenAIEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A hosted-looking provider (not on loopback as far as the probe knows:
    # it is described by its key alone) needs its key to be available.
    monkeypatch.delenv("TEST_HOSTED_KEY", raising=False)
    config = {"providers": {"Hosted": local("Hosted", server.url, api_key_env="TEST_HOSTED_KEY")}}
    async with AsyncClient(config=config) as client:
        [info] = client.providers(plugin="config")
        assert info.available is False
        assert client.providers(plugin="config", available=True) == []
        monkeypatch.setenv("TEST_HOSTED_KEY", "sk-anything")
        [info] = client.providers(plugin="config", available=True)
        assert info.name == "Hosted"
        result = await client.chat.completions.create(model="local-model", messages=HELLO)
        assert result.provider == "Hosted"


async def test_a_probe_is_remembered_then_asked_again() -> None:
    now = [0.0]
    availability = Availability(ttl=30, clock=lambda: now[0])
    port = closed_port()
    address = ("127.0.0.1", port)
    await availability.probe([address])
    assert availability.listening(address) is False
    with socket.socket() as listener:
        listener.bind(address)
        listener.listen()
        await availability.probe([address])
        assert availability.listening(address) is False  # remembered, not asked again
        now[0] = 31.0
        assert availability.listening(address) is None
        await availability.probe([address])
        assert availability.listening(address) is True


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://127.0.0.1:11434/v1", ("127.0.0.1", 11434)),
        ("http://localhost/v1", ("localhost", 80)),
        ("https://[::1]/v1", ("::1", 443)),
        ("https://api.groq.com/openai/v1", None),
        ("http://192.168.1.5:11434/v1", None),
        ("http://127.0.0.1:99999/v1", None),
        ("", None),
    ],
)
def test_only_servers_on_this_machine_are_probed(url: str, address: tuple[str, int] | None) -> None:
    assert loopback_address(url) == address


def test_the_cli_lists_available_providers_and_all_on_request(
    capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    dead = f"http://127.0.0.1:{closed_port()}/v1"
    path = tmp_path / "g4f-lite.toml"
    path.write_text(f'[providers.Dead]\nkind = "openai"\nbase_url = "{dead}"\n')
    assert main(["--config", str(path), "providers", "--json", "--plugin", "config"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["--config", str(path), "providers", "--all", "--plugin", "config"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:2] == ["name", "available"]
    assert table[1].split()[:2] == ["Dead", "no"]


def test_cli_chat_with_nothing_available_prints_one_line_of_advice(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every first-party provider: hosted ones lack keys, the local presets'
    # ports may or may not be served on this machine, so they are pointed
    # at a port nobody listens on.
    for key in ("OPENAI_API_KEY", "GROQ_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    dead = f"http://127.0.0.1:{closed_port()}/v1"
    presets = ("Ollama", "VLLM", "LlamaCpp", "LMStudio")
    g4f_lite.configure({"providers": {name: {"base_url": dead} for name in presets}})
    monkeypatch.setattr("g4f_lite.config.configure", lambda *args: None)
    assert main(["chat", "--model", "gpt-3.5-turbo", "Hello"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("g4f-lite: error: no provider is available")
    assert "g4f-lite demo" in err


async def test_a_local_server_without_declared_models_serves_what_it_lists(
    server: OpenAIEmulator,
) -> None:
    # As a started Ollama: no models in the configuration, its own list decides.
    config = {"providers": {"Local": {"kind": "openai", "base_url": server.url}}}
    async with AsyncClient(config=config) as client:
        result = await client.chat.completions.create(model="local-model", messages=HELLO)
        assert result.provider == "Local"
        with pytest.raises(errors.NoProviderAvailableError) as caught:
            await client.chat.completions.create(model="not-pulled", messages=HELLO)
    assert caught.value.excluded["Local"] == ["does not serve model 'not-pulled' (its server said)"]
    # Asked once: the second request used the remembered list.
    listings = [r for r in server.requests if r.path.endswith("/models")]
    assert len(listings) == 1


async def test_a_probe_that_gets_no_answer_in_time_excludes_nothing() -> None:
    # A listener whose backlog is full never completes a connection: as a
    # busy machine would, the probe times out. Only a refusal means "down".
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        address = listener.getsockname()
        fillers = []
        try:
            for _ in range(8):  # fill the accept queue (never accepted)
                filler = socket.socket()
                filler.setblocking(False)
                filler.connect_ex(address)
                fillers.append(filler)
            availability = Availability(timeout=0.05)
            await availability.probe([address])
            assert availability.listening(address) is None
        finally:
            for filler in fillers:
                filler.close()
