"""Plugin discovery, runtime registration and capability queries."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import g4f_lite
from g4f_lite.errors import DuplicateProviderError, PluginWarning, ProviderNotFoundError
from g4f_lite.registry import ENV_PLUGINS, registry
from g4f_lite.types import Messages

TESTPLUGIN = Path(__file__).parent / "plugins" / "testplugin"


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Install the test plugin distribution into a folder, as pip would for a user."""
    target = tmp_path_factory.mktemp("site-packages")
    # Build from a copy: setuptools leaves build/ and *.egg-info beside the sources.
    source = shutil.copytree(TESTPLUGIN, tmp_path_factory.mktemp("src") / "testplugin")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    return target


@pytest.fixture
def installed(plugin_site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Make the installed test plugin visible to importlib.metadata."""
    monkeypatch.syspath_prepend(str(plugin_site))
    yield plugin_site
    for name in [m for m in sys.modules if m.startswith("g4f_lite_testplugin")]:
        del sys.modules[name]


def use_plugins(monkeypatch: pytest.MonkeyPatch, names: str) -> None:
    monkeypatch.setenv(ENV_PLUGINS, names)
    registry.reset()


class Local(g4f_lite.AsyncGeneratorProvider):
    """A runtime-registered provider for these tests."""

    working = True
    supports_gpt_4 = True

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[str]:
        yield "local"


def test_first_party_plugin_is_discovered_through_its_entry_point() -> None:
    info = g4f_lite.get_provider("Opchatgpts").get_info()
    assert info.name == "Opchatgpts"
    [listed] = g4f_lite.providers()
    assert listed.plugin == "g4f-lite-opchatgpts"
    assert listed.working is False and listed.supports_message_history is True


def test_third_party_plugin_is_discovered(installed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_plugins(monkeypatch, "opchatgpts,echo")
    names = {info.name: info.plugin for info in g4f_lite.providers()}
    assert names == {"Opchatgpts": "g4f-lite-opchatgpts", "EchoProvider": "g4f-lite-testplugin"}
    text = g4f_lite.ChatCompletion.create("echo-1", [{"role": "user", "content": "a b"}])
    assert text == "a b "


def test_plugins_can_be_selected_by_distribution_name(
    installed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_plugins(monkeypatch, "g4f-lite-testplugin")
    with pytest.warns(PluginWarning) as caught:
        found = {info.name: info.plugin for info in g4f_lite.providers()}
    # All five of its entry points load; "broken", "bogus" and "failing"
    # misbehave, and without the real Opchatgpts and OpenAI plugins the clash is no clash.
    assert found == {"EchoProvider": "g4f-lite-testplugin", "Opchatgpts": "g4f-lite-testplugin"}
    assert len(caught) == 3


def test_broken_plugin_warns_and_the_others_still_load(
    installed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_plugins(monkeypatch, "opchatgpts,broken,echo")
    with pytest.warns(PluginWarning, match=r"'broken'.*ImportError.*broken on purpose"):
        names = {info.name for info in g4f_lite.providers()}
    assert names == {"Opchatgpts", "EchoProvider"}


def test_a_hook_that_raises_warns_and_the_others_still_load(
    installed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_plugins(monkeypatch, "opchatgpts,failing,echo")
    with pytest.warns(
        PluginWarning,
        match=r"'g4f-lite-testplugin' failed in register_providers .*RuntimeError: cannot reach",
    ):
        names = {info.name for info in g4f_lite.providers()}
    assert names == {"Opchatgpts", "EchoProvider"}


def test_registering_a_non_provider_warns_naming_the_plugin(
    installed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_plugins(monkeypatch, "opchatgpts,bogus")
    with pytest.warns(PluginWarning, match=r"g4f-lite-testplugin.*NotAProvider.*not a concrete"):
        names = [info.name for info in g4f_lite.providers()]
    assert names == ["Opchatgpts"]


def test_a_clashing_plugin_is_skipped_with_a_warning_naming_both(
    installed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_plugins(monkeypatch, "opchatgpts,clash")
    with pytest.warns(PluginWarning) as caught:
        listed = {info.name: info.plugin for info in g4f_lite.providers()}
    [warning] = [str(w.message) for w in caught]
    assert "g4f-lite-testplugin" in warning and "g4f-lite-opchatgpts" in warning
    assert "'Opchatgpts'" in warning and "skipped" in warning
    # Plugins load in entry point name order: "clash" came first and keeps the name.
    assert listed == {"Opchatgpts": "g4f-lite-testplugin"}
    # And the registry keeps working: no call raises, no warning repeats.
    assert registry.plugin_of(g4f_lite.get_provider("Opchatgpts")) == "g4f-lite-testplugin"
    assert [info.name for info in g4f_lite.providers(working=True)] == ["Opchatgpts"]


def test_a_clashing_kind_is_skipped_with_a_warning_naming_both(
    installed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_plugins(monkeypatch, "opchatgpts,clash,openai")
    with pytest.warns(PluginWarning) as caught:
        kinds = {entry.kind.name: entry.plugin for entry in registry.kinds()}
    messages = [str(w.message) for w in caught]
    [kind_warning] = [m for m in messages if "provider kind" in m]
    assert "g4f-lite-openai" in kind_warning and "g4f-lite-testplugin" in kind_warning
    assert kinds == {"OpenAI": "g4f-lite-testplugin"}
    # The OpenAI plugin's providers still load, and lookups keep working.
    assert g4f_lite.get_provider("Ollama").name == "Ollama"
    assert registry.get_kind("openai").name == "OpenAI"


def test_runtime_registration_clashing_with_a_plugin_found_later_is_skipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Opchatgpts(Local):
        """Named like the reference provider, registered before discovery."""

    g4f_lite.register(Opchatgpts)
    with pytest.warns(PluginWarning, match=r"'runtime'.*'Opchatgpts'.*'g4f-lite-opchatgpts'"):
        assert g4f_lite.get_provider("Opchatgpts") is not Opchatgpts
    assert [info.plugin for info in g4f_lite.providers()] == ["g4f-lite-opchatgpts"]


def test_empty_plugin_list_loads_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    use_plugins(monkeypatch, "")
    assert g4f_lite.providers() == []


def test_unknown_plugin_name_in_the_environment_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    use_plugins(monkeypatch, "opchatgpts,nosuchplugin")
    with pytest.warns(PluginWarning, match="nosuchplugin"):
        assert [i.name for i in g4f_lite.providers()] == ["Opchatgpts"]


def test_runtime_registration_as_a_decorator() -> None:
    assert g4f_lite.register(Local) is Local
    assert g4f_lite.get_provider("local") is Local
    [info] = g4f_lite.providers(working=True)
    assert (info.name, info.plugin) == ("Local", "runtime")


def test_runtime_registration_before_discovery_survives_it() -> None:
    g4f_lite.register(Local)  # registry not loaded yet: no discovery happened
    assert {i.name for i in g4f_lite.providers()} == {"Local", "Opchatgpts"}


def test_runtime_duplicate_is_rejected_immediately() -> None:
    class Other(Local):
        name = "LOCAL"

    g4f_lite.register(Local)
    g4f_lite.register(Local)  # the same class again is harmless
    with pytest.raises(DuplicateProviderError, match=r"'LOCAL'.*runtime"):
        g4f_lite.register(Other)


def test_register_rejects_non_providers() -> None:
    with pytest.raises(TypeError, match="BaseProvider subclass"):
        g4f_lite.register(dict)  # type: ignore[type-var]


def test_get_provider_is_case_insensitive_and_suggests_close_names() -> None:
    assert g4f_lite.get_provider("OPCHATGPTS").name == "Opchatgpts"
    with pytest.raises(ProviderNotFoundError) as caught:
        g4f_lite.get_provider("opchatgpt")
    assert caught.value.close_matches == ["Opchatgpts"]
    assert "did you mean Opchatgpts" in str(caught.value)


def test_capability_filters() -> None:
    g4f_lite.register(Local)
    assert [i.name for i in g4f_lite.providers(working=True)] == ["Local"]
    assert [i.name for i in g4f_lite.providers(supports_message_history=True)] == ["Opchatgpts"]
    assert [i.name for i in g4f_lite.providers(model="gpt-3.5-turbo")] == ["Opchatgpts"]
    assert [i.name for i in g4f_lite.providers(model="gpt-4", working=True)] == ["Local"]
    assert g4f_lite.providers(working=True, supports_message_history=True) == []
    assert [i.name for i in g4f_lite.providers(plugin="runtime")] == ["Local"]


def test_unknown_filter_is_an_error() -> None:
    with pytest.raises(TypeError, match="streams"):
        g4f_lite.providers(streams=True)  # type: ignore[call-arg]


def test_provider_info_is_json_serialisable() -> None:
    [info] = g4f_lite.providers()
    data = json.loads(info.model_dump_json())
    assert data["name"] == "Opchatgpts" and data["url"] == "https://opchatgpts.net"


def test_import_is_lazy_and_cheap() -> None:
    code = (
        "import sys, time; t = time.perf_counter(); import g4f_lite; "
        "elapsed = time.perf_counter() - t; "
        "heavy = [m for m in ('aiohttp', 'pluggy', 'pydantic', 'tenacity', 'g4f_lite_opchatgpts') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    ).stdout
    assert out.strip() == "[]"
