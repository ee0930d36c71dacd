"""What a ``Client`` owns: configuration, providers, router, health, HTTP session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

import g4f_lite
from g4f_lite import http
from g4f_lite.client import default_client
from g4f_lite.provider import AsyncGeneratorProvider
from g4f_lite.registry import registry
from g4f_lite.router import Router, default_router, set_default_router
from g4f_lite.testing import AIEngineEmulator
from g4f_lite.types import Messages

USER = [{"role": "user", "content": "Hi"}]


def state(client: g4f_lite.AsyncClient | None = None) -> str:
    """The breaker state of the last registered provider, as ``client`` (or the default) sees it."""
    infos = client.providers() if client is not None else g4f_lite.providers()
    health = infos[-1].health
    assert health is not None
    return f"{health.state} {health.successes}"


NO_WAIT = {"router": {"wait_for_cooldown": False, "retry": {"max_attempts": 1}}}


class Flaky(AsyncGeneratorProvider):
    """Fails while ``failing`` is set, else answers ``ok``."""

    working = True
    failing: ClassVar[bool] = True

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[str]:
        if cls.failing:
            raise g4f_lite.ServerError(cls.name, 503, "down")
        yield "ok"


async def test_a_provider_benched_in_one_client_is_not_benched_in_another() -> None:
    flaky: type[Flaky] = registry.register(
        type("Flaky", (Flaky,), {"name": "Flaky", "failing": True})
    )
    first, second = g4f_lite.AsyncClient(NO_WAIT), g4f_lite.AsyncClient(NO_WAIT)
    for _ in range(3):  # the default breaker opens after three failures
        with pytest.raises(g4f_lite.G4FLiteError):
            await first.chat.completions.create(model="", messages=USER)
    assert state(first) == "open 0"
    assert state(second) == "closed 0"
    flaky.failing = False
    with pytest.raises(g4f_lite.AllProvidersBenchedError):
        await first.chat.completions.create(model="", messages=USER)
    result = await second.chat.completions.create(model="", messages=USER)
    assert result.choices[0].message.content == "ok"
    # Nor is the process-wide health (that of ChatCompletion) touched.
    assert state() == "closed 0"
    await first.aclose()
    await second.aclose()


async def test_clients_given_the_same_health_share_it() -> None:
    registry.register(type("Flaky", (Flaky,), {"name": "Flaky", "failing": True}))
    first = g4f_lite.AsyncClient(NO_WAIT)
    second = g4f_lite.AsyncClient(NO_WAIT, health=first.health)
    for _ in range(3):
        with pytest.raises(g4f_lite.G4FLiteError):
            await first.chat.completions.create(model="", messages=USER)
    assert state(second) == "open 0"


@pytest.mark.usefixtures("first_party_plugins")
async def test_a_declared_provider_belongs_to_its_client_only(
    site: AIEngineEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "g4f-lite.toml"
    path.write_text(f'[providers.MySite]\nkind = "aiengine"\nurl = "{site.url}"\n')
    async with g4f_lite.AsyncClient(config=path) as client:
        assert client.config.source == str(path)
        assert "MySite" in [info.name for info in client.providers()]
        result = await client.chat.completions.create(model="", messages=USER, provider="MySite")
        assert result.provider == "MySite"
        assert result.choices[0].message.content.endswith("You said: Hi")
    assert "MySite" not in [info.name for info in g4f_lite.providers()]
    with pytest.raises(g4f_lite.ProviderNotFoundError):
        registry.get("MySite")
    with pytest.raises(g4f_lite.ProviderNotFoundError):
        await g4f_lite.AsyncClient({}).chat.completions.create(
            model="", messages=USER, provider="MySite"
        )


@pytest.mark.usefixtures("first_party_plugins")
def test_a_client_may_declare_what_configure_declared_too(
    aiengine_emulator: AIEngineEmulator,
) -> None:
    table = {"providers": {"MySite": {"kind": "aiengine", "url": aiengine_emulator.url}}}
    g4f_lite.configure(table)
    with g4f_lite.Client(table) as client:
        mine = client.registry.get("MySite")
        assert mine is not registry.get("MySite")
        assert client.chat.completions.create("", USER, provider="MySite").provider == "MySite"


def test_router_table_of_the_clients_configuration_builds_its_router() -> None:
    client = g4f_lite.Client({"router": {"strategy": "shuffle", "max_providers": 2}})
    assert client.router.max_providers == 2
    assert client.router is not default_router()
    given = Router(max_providers=1)
    assert g4f_lite.Client(router=given).router is given
    with pytest.raises(g4f_lite.ConfigurationError):
        g4f_lite.Client({}, router=given)
    with pytest.raises(g4f_lite.ConfigurationError):
        g4f_lite.Client({"router": {"max_providers": 0}})


def test_the_client_fixture_is_fresh(client: g4f_lite.Client) -> None:
    assert client.router is not default_client().router
    assert client.health is not default_client().health


def test_with_client_closes_its_own_session(aiengine_emulator: AIEngineEmulator) -> None:
    with g4f_lite.Client({}) as client:
        client.chat.completions.create(
            "", USER, provider="Opchatgpts", base_url=aiengine_emulator.url
        )
        owned = client._owned
        assert owned is not None and owned.session is not None
        session = owned.session
    assert session.closed


async def test_async_client_uses_and_closes_its_own_session(site: AIEngineEmulator) -> None:
    shared = await http.get_session()
    async with g4f_lite.AsyncClient({}) as client:
        stream = await client.chat.completions.create(
            "", USER, provider="Opchatgpts", base_url=site.url, stream=True
        )
        async with stream:
            async for _ in stream:
                pass
        owned = client._owned
        assert owned is not None and owned.session is not None
        session = owned.session
        assert session is not shared
    assert session.closed and not shared.closed
    assert await http.get_session() is shared


def test_default_client_follows_configure_and_the_default_router() -> None:
    first = default_client()
    assert default_client() is first
    assert first.router is default_router()
    g4f_lite.configure({"router": {"max_providers": 3}})
    second = default_client()
    assert second is not first and second.router is default_router()
    assert second.router.max_providers == 3
    mine = Router()
    set_default_router(mine)
    assert default_client().router is mine


def test_a_registry_view_adds_providers_without_registering_them() -> None:
    mine = type("Mine", (Flaky,), {"name": "Mine"})
    view = registry.with_providers([mine])
    assert view.get("mine") is mine
    with pytest.raises(g4f_lite.ProviderNotFoundError):
        registry.get("Mine")
    later = registry.register(type("Later", (Flaky,), {"name": "Later"}))
    assert [entry.provider for entry in view.entries()][-2:] == [later, mine]
    assert view.find(working=True)[-1].provider is mine
    with pytest.raises(g4f_lite.DuplicateProviderError):
        view.register(type("Later", (Flaky,), {"name": "Later"}))
    view.unregister("Mine")
    with pytest.raises(g4f_lite.ProviderNotFoundError):
        view.get("Mine")
