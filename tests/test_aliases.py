"""Model aliases (``[aliases]``): validated strictly, routed with failover, a model each."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import g4f_lite
from g4f_lite import config
from g4f_lite.errors import ConfigurationError, NoProviderAvailableError
from g4f_lite.health import CircuitBreaker, InMemoryHealthStore
from g4f_lite.policies import RetryPolicy
from g4f_lite.router import Router
from g4f_lite.server import Server, ServerSettings
from g4f_lite.testing import Fault, OpenAIEmulator

pytestmark = pytest.mark.usefixtures("first_party_plugins")

HI = [{"role": "user", "content": "Hi"}]


@pytest.fixture
async def first() -> AsyncIterator[OpenAIEmulator]:
    async with OpenAIEmulator(models=["first-model", "shared"], reply="from first") as server:
        yield server


@pytest.fixture
async def second() -> AsyncIterator[OpenAIEmulator]:
    async with OpenAIEmulator(models=["second-model", "shared"], reply="from second") as server:
        yield server


def tables(first: OpenAIEmulator, second: OpenAIEmulator, **aliases: Any) -> dict[str, Any]:
    """Providers ``First`` and ``Second`` at the emulators, and ``aliases``."""
    return {
        "providers": {
            "First": {"kind": "openai", "base_url": first.url, "models": ["first-model"]},
            "Second": {"kind": "openai", "base_url": second.url, "models": ["second-model"]},
        },
        "aliases": aliases,
    }


def router(**options: Any) -> Router:
    # One attempt each: the emulator's fault is for one request, and a retry
    # would hide the failover this file is about.
    return Router(retry=RetryPolicy(max_attempts=1), **options)


def models_sent(server: OpenAIEmulator) -> list[str]:
    return [r.body["model"] for r in server.requests if r.path == "/v1/chat/completions"]


# -- routing ---------------------------------------------------------------------------


async def test_an_alias_calls_each_provider_with_its_own_model(
    first: OpenAIEmulator, second: OpenAIEmulator
) -> None:
    config.configure(tables(first, second, fast=["First/first-model", "Second/second-model"]))
    answer = await router().plan("fast", HI).answer()
    assert answer.provider == "First" and answer.text == "from first"
    assert models_sent(first) == ["first-model"] and models_sent(second) == []


async def test_an_alias_fails_over_to_its_next_entry(
    first: OpenAIEmulator, second: OpenAIEmulator
) -> None:
    config.configure(tables(first, second, fast=["First/first-model", "Second/second-model"]))
    first.faults.append(Fault.http_status(500))
    text = await g4f_lite.ChatCompletion.create_async("fast", HI, router=router())
    assert text == "from second"
    assert models_sent(first) == ["first-model"] and models_sent(second) == ["second-model"]


async def test_an_alias_streams_and_skips_a_benched_entry(
    first: OpenAIEmulator, second: OpenAIEmulator
) -> None:
    config.configure(tables(first, second, fast=["First/first-model", "Second/second-model"]))
    routed = router(health=InMemoryHealthStore(CircuitBreaker(failure_threshold=1, cooldown=600)))
    first.faults.append(Fault.http_status(500))
    assert await routed.complete("fast", HI) == "from second"  # First is benched now
    chunks = [chunk async for chunk in routed.stream("fast", HI)]
    assert "".join(chunks) == "from second"
    assert models_sent(first) == ["first-model"]  # not asked again while benched
    assert models_sent(second) == ["second-model", "second-model"]


async def test_the_strategy_orders_an_aliases_entries(
    first: OpenAIEmulator, second: OpenAIEmulator
) -> None:
    config.configure(tables(first, second, fast=["First/first-model", "Second/second-model"]))
    routed = router(health=InMemoryHealthStore(CircuitBreaker(failure_threshold=5)))
    first.faults.append(Fault.http_status(500))
    await routed.complete("fast", HI)  # First: one failure, Second: one success
    answer = await routed.plan("fast", HI, strategy="least-failures").answer()
    assert answer.provider == "Second"
    assert models_sent(first) == ["first-model"]


async def test_a_bare_entry_means_any_provider_serving_the_model(
    first: OpenAIEmulator, second: OpenAIEmulator
) -> None:
    config.configure(
        {
            "providers": {
                "First": {"kind": "openai", "base_url": first.url, "models": ["shared"]},
                "Second": {"kind": "openai", "base_url": second.url, "models": ["shared"]},
            },
            "aliases": {"any": ["shared"]},
        }
    )
    first.faults.append(Fault.http_status(503))
    call = router().plan("any", HI)
    # Local presets (nothing listens at their ports here) are probed away.
    await call.probe()
    assert [p.name for p in call.candidates] == ["First", "Second"]
    assert await call.text() == "from second"
    assert models_sent(first) == models_sent(second) == ["shared"]


async def test_entries_whose_provider_cannot_serve_are_left_out(
    first: OpenAIEmulator, second: OpenAIEmulator
) -> None:
    data = tables(first, second, fast=["First/first-model", "Second/second-model"])
    data["providers"]["First"]["enabled"] = False
    config.configure(data)
    call = router().plan("fast", HI)
    assert [p.name for p in call.candidates] == ["Second"]
    data["providers"]["Second"]["enabled"] = False
    config.configure(data)
    with pytest.raises(NoProviderAvailableError, match="alias 'fast'") as raised:
        router().plan("fast", HI)
    assert set(raised.value.excluded) == {"First", "Second"}


async def test_a_named_provider_narrows_an_alias(
    first: OpenAIEmulator, second: OpenAIEmulator
) -> None:
    config.configure(tables(first, second, fast=["First/first-model", "Second/second-model"]))
    assert await router().complete("fast", HI, provider="Second") == "from second"
    assert models_sent(second) == ["second-model"] and models_sent(first) == []
    with pytest.raises(ConfigurationError, match="names none of the providers"):
        router().plan("fast", HI, provider="Opchatgpts")


async def test_aliases_work_through_the_client_and_its_own_configuration(
    first: OpenAIEmulator, second: OpenAIEmulator
) -> None:
    data = tables(first, second, fast=["First/first-model", "Second/second-model"])
    first.faults.append(Fault.http_status(500))
    async with g4f_lite.AsyncClient(config=data) as client:
        client.router.retry = RetryPolicy(max_attempts=1)
        completion = await client.chat.completions.create(model="fast", messages=HI)
    assert completion.choices[0].message.content == "from second"
    assert models_sent(second) == ["second-model"]


# -- validation ------------------------------------------------------------------------


def test_entries_may_be_strings_or_tables() -> None:
    loaded = config.load_config(
        {
            "aliases": {
                "one": "Opchatgpts/gpt-3.5-turbo",
                "mixed": ["opchatgpts/x", "bare", {"model": "meta-llama/llama-3.1-8b"}],
            }
        }
    )
    one, mixed = loaded.aliases["one"], loaded.aliases["mixed"]
    assert [(t.provider, t.model) for t in one] == [("Opchatgpts", "gpt-3.5-turbo")]
    assert [(t.provider, t.model) for t in mixed] == [
        ("Opchatgpts", "x"),  # the registered spelling
        (None, "bare"),
        (None, "meta-llama/llama-3.1-8b"),
    ]


@pytest.mark.parametrize(
    ("aliases", "expected"),
    [
        ({"fast": ["Nope/some-model"]}, r"\[aliases\] 'fast' entry 1 names a provider"),
        ({"fast": ["Opchatgpts/a", "Nope/b"]}, r"'fast' entry 2 names a provider"),
        ({"fast": [{"provider": "Nope", "model": "m"}]}, "names a provider that is not"),
        ({"fast": []}, r"\[aliases\] 'fast' must be a non-empty list"),
        ({"fast": 3}, "must be a non-empty list"),
        ({"fast": [3]}, "entry 1 must be a string or a table, got int"),
        ({"fast": ["Opchatgpts/"]}, "entry 1: the model must be a non-empty string"),
        ({"fast": [{"model": "m", "extra": 1}]}, "unknown field"),
        ({"fast": ["Opchatgpts/a", "opchatgpts/b"]}, "names provider 'Opchatgpts' a second"),
        ({"a/b": ["m"]}, r"\[aliases\] names must be non-empty and hold no '/'"),
    ],
)
def test_bad_aliases_are_configuration_errors(aliases: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigurationError, match=expected):
        config.configure({"aliases": aliases})


def test_errors_name_the_file_and_never_the_value(tmp_path: Path) -> None:
    path = tmp_path / "g4f-lite.toml"
    path.write_text('[aliases]\nfast = ["sk-secret-looking/model"]\n')
    with pytest.raises(ConfigurationError) as raised:
        config.configure(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: [aliases] 'fast' entry 1")
    assert "sk-secret-looking" not in message


def test_an_alias_may_name_a_provider_the_same_file_declares(first: OpenAIEmulator) -> None:
    loaded = config.configure(
        {
            "providers": {"Mine": {"kind": "openai", "base_url": first.url}},
            "aliases": {"mine": ["mine/first-model"]},
        }
    )
    assert loaded.aliases["mine"][0].provider == "Mine"


async def test_serve_routes_an_alias_and_explains_an_unservable_one(
    first: OpenAIEmulator, second: OpenAIEmulator
) -> None:
    data = tables(first, second, fast=["First/first-model", "Second/second-model"])
    data["aliases"]["off"] = ["Opchatgpts/x"]  # not working: never chosen by an alias
    config.configure(data)
    first.faults.append(Fault.http_status(500))
    answers = []
    async with (
        Server(ServerSettings(port=0), router=router()) as server,
        aiohttp.ClientSession() as session,
    ):
        for model in ("fast", "off"):
            body = {"model": model, "messages": HI}
            async with session.post(f"{server.url}/chat/completions", json=body) as response:
                answers.append((response.status, await response.json()))
    (status, answer), (refused, error) = answers
    assert status == 200 and answer["choices"][0]["message"]["content"] == "from second"
    assert answer["model"] == "fast" and models_sent(second) == ["second-model"]
    assert refused == 503 and "alias 'off'" in error["error"]["message"]
