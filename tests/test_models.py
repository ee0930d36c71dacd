"""Which models providers serve: list_models, ``g4f-lite models``, ``GET /v1/models``, and
``model="Provider/model-id"``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import aiohttp
import pytest

import g4f_lite
from g4f_lite import config
from g4f_lite.cli import main
from g4f_lite.models import list_models
from g4f_lite.provider import AsyncGeneratorProvider
from g4f_lite.registry import registry
from g4f_lite.router import Router
from g4f_lite.server import Server, ServerSettings
from g4f_lite.testing import OpenAIEmulator
from g4f_lite.types import Chunk, Messages

pytestmark = pytest.mark.usefixtures("first_party_plugins")

HI = [{"role": "user", "content": "Hi"}]


@pytest.fixture
async def first() -> AsyncIterator[OpenAIEmulator]:
    async with OpenAIEmulator(models=["first-model", "shared"], reply="from first") as server:
        yield server


@pytest.fixture
async def second() -> AsyncIterator[OpenAIEmulator]:
    async with OpenAIEmulator(
        models=["second-model", "shared", "meta-llama/llama-3.1-8b"], reply="from second"
    ) as server:
        yield server


def declare(first: OpenAIEmulator, second: OpenAIEmulator, **extra: Any) -> None:
    """``First`` and ``Second`` at the emulators; the static lists differ from the live ones."""
    config.configure(
        {
            "providers": {
                "First": {"kind": "openai", "base_url": first.url, "models": ["first-model"]},
                "Second": {"kind": "openai", "base_url": second.url, "models": ["configured"]},
                # Nothing may reach the local servers' default ports from a test.
                **{name: {"enabled": False} for name in ("Ollama", "VLLM", "LlamaCpp", "LMStudio")},
            },
            **extra,
        }
    )


def sent(server: OpenAIEmulator, path: str = "/v1/chat/completions") -> list[Any]:
    return [r.body["model"] if r.body else None for r in server.requests if r.path == path]


class Static(AsyncGeneratorProvider):
    """A provider with only a static list."""

    working = True
    models: ClassVar[tuple[str, ...]] = ("static-a", "static-b")
    default_model = "static-a"
    supports_gpt_4 = True

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[Chunk]:
        yield f"static answer for {model}"


# -- list_models -----------------------------------------------------------------------


async def test_the_default_is_the_static_list() -> None:
    assert await Static.list_models(base_url="http://ignored") == ["static-a", "static-b", "gpt-4"]


async def test_the_openai_kind_asks_its_server_and_caches(
    first: OpenAIEmulator, second: OpenAIEmulator
) -> None:
    declare(first, second)
    provider = registry.get("Second")
    assert await provider.list_models() == ["second-model", "shared", "meta-llama/llama-3.1-8b"]
    assert await provider.list_models() == ["second-model", "shared", "meta-llama/llama-3.1-8b"]
    assert len([r for r in second.requests if r.path == "/v1/models"]) == 1


async def test_a_failed_listing_falls_back_to_the_static_list() -> None:
    async with OpenAIEmulator(api_key="sk-right", models=["live"]) as server:
        config.configure(
            {
                "providers": {
                    "Locked": {
                        "kind": "openai",
                        "base_url": server.url,
                        "api_key": "sk-wrong",
                        "models": ["configured"],
                    }
                }
            }
        )
        provider = registry.get("Locked")
        assert await provider.list_models() == ["configured"]  # 401: not an error here
        url = server.url
    # Stopped: connection refused, still the static list.
    gone = g4f_lite.declare_provider("Gone", "openai", base_url=url, models=["still-here"])
    assert await gone.list_models() == ["still-here"]


async def test_list_models_covers_usable_providers_only(
    first: OpenAIEmulator, second: OpenAIEmulator
) -> None:
    declare(first, second)
    g4f_lite.declare_provider(
        "Keyless", "openai", base_url=first.url, api_key_env="G4F_TEST_UNSET_KEY", models=["k"]
    )
    pairs = {(e.provider, e.model) for e in await list_models(Router())}
    assert ("First", "first-model") in pairs and ("First", "shared") in pairs
    assert ("Second", "second-model") in pairs and ("Second", "configured") not in pairs
    # Needs a key it does not have; disabled; not working: none is listed.
    assert {provider for provider, _ in pairs} == {"First", "Second"}


# -- Provider/model-id -------------------------------------------------------------------


async def test_a_provider_prefix_addresses_that_providers_model(
    first: OpenAIEmulator, second: OpenAIEmulator
) -> None:
    declare(first, second)
    text = await g4f_lite.ChatCompletion.create_async("second/shared", HI)
    assert text == "from second" and sent(second) == ["shared"] and sent(first) == []


async def test_a_slash_in_a_model_id_is_not_a_provider(second: OpenAIEmulator) -> None:
    config.configure(
        {
            "providers": {
                "Second": {
                    "kind": "openai",
                    "base_url": second.url,
                    "models": ["meta-llama/llama-3.1-8b"],
                }
            }
        }
    )
    assert await Router().complete("meta-llama/llama-3.1-8b", HI) == "from second"
    assert sent(second) == ["meta-llama/llama-3.1-8b"]


async def test_a_named_provider_keeps_a_prefixed_model_whole(
    first: OpenAIEmulator, second: OpenAIEmulator
) -> None:
    # An OpenRouter-like server: "first/..." is its id, not the First provider's model.
    declare(first, second)
    with pytest.raises(g4f_lite.errors.G4FLiteError, match="does not exist"):
        await Router().complete("first/shared", HI, provider="Second")
    assert sent(second) == ["first/shared"] and sent(first) == []
    assert await Router().complete("Second/shared", HI, provider=["First", "Second"]) == (
        "from second"
    )


def test_the_client_addresses_a_providers_model() -> None:
    registry.register(Static)
    with g4f_lite.Client() as client:
        completion = client.chat.completions.create(model="Static/static-b", messages=HI)
    assert completion.choices[0].message.content == "static answer for static-b"


# -- g4f-lite models ----------------------------------------------------------------------


@pytest.fixture
def config_file(
    tmp_path: Path, openai_emulator: OpenAIEmulator, monkeypatch: pytest.MonkeyPatch
) -> Path:
    monkeypatch.setenv("G4F_LITE_PLUGINS", "openai")  # no provider but the file's
    openai_emulator.models = ["live-a", "live-b"]
    path = tmp_path / "g4f-lite.toml"
    disabled = "".join(
        f"[providers.{name}]\nenabled = false\n"
        for name in ("Ollama", "VLLM", "LlamaCpp", "LMStudio")
    )
    path.write_text(
        f'[providers.Emu]\nkind = "openai"\nbase_url = "{openai_emulator.url}"\n'
        f'models = ["configured"]\n{disabled}'
    )
    return path


def test_models_prints_a_table(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(config_file), "models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["provider", "model"]
    assert [line.split() for line in lines[1:]] == [["Emu", "live-a"], ["Emu", "live-b"]]


def test_models_json_and_provider(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(config_file), "models", "--json", "--provider", "emu"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"provider": "Emu", "model": "live-a"},
        {"provider": "Emu", "model": "live-b"},
    ]
    assert main(["--config", str(config_file), "models", "--provider", "Nope"]) == 1
    assert "Nope" in capsys.readouterr().err


def test_models_fails_fast_when_no_provider_is_available(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only the reference plugin, whose one provider is not working.
    monkeypatch.setenv("G4F_LITE_PLUGINS", "opchatgpts")
    registry.reset()
    assert main(["models"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.splitlines()
    assert line.startswith("g4f-lite: error: no provider is available") and "key" in line


# -- GET /v1/models ---------------------------------------------------------------------------


async def test_serve_lists_the_union_and_aliases(
    first: OpenAIEmulator, second: OpenAIEmulator
) -> None:
    declare(
        first,
        second,
        aliases={"fast": ["First/first-model", "Second/second-model"], "none": ["Opchatgpts/x"]},
    )
    async with (
        Server(ServerSettings(port=0)) as server,
        aiohttp.ClientSession() as session,
        session.get(f"{server.url}/models") as response,
    ):
        assert response.status == 200
        body = await response.json()
    cards = {card["id"]: card for card in body["data"]}
    assert set(cards) >= {"first-model", "shared", "second-model", "meta-llama/llama-3.1-8b"}
    assert cards["first-model"]["owned_by"] == "First"
    assert cards["second-model"]["owned_by"] == "Second"
    assert cards["shared"]["providers"] == ["First", "Second"]
    assert {"object", "created"} <= set(cards["shared"]) and cards["shared"]["object"] == "model"
    assert cards["fast"]["owned_by"] == "alias" and cards["fast"]["providers"] == [
        "First",
        "Second",
    ]
    assert "none" not in cards  # its one provider is not available


async def test_serve_routes_a_prefixed_model(first: OpenAIEmulator, second: OpenAIEmulator) -> None:
    declare(first, second)
    body = {"model": "First/shared", "messages": HI}
    async with (
        Server(ServerSettings(port=0)) as server,
        aiohttp.ClientSession() as session,
        session.post(f"{server.url}/chat/completions", json=body) as response,
    ):
        answer = await response.json()
    assert answer["choices"][0]["message"]["content"] == "from first"
    assert sent(first) == ["shared"]
