"""The configuration file: lookup, validation errors, declared providers and call options."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

import g4f_lite
from g4f_lite import config
from g4f_lite.cli import main as cli_main
from g4f_lite.errors import ConfigurationError, DuplicateKindError
from g4f_lite.kinds import ProviderKind, ProviderSettings
from g4f_lite.registry import registry
from g4f_lite.testing import AIEngineEmulator, OpenAIEmulator

pytestmark = pytest.mark.usefixtures("first_party_plugins")

TOML = """
[providers.Opchatgpts]
base_url = "http://127.0.0.1:9"
timeout = 12.5
proxy = "http://proxy.local:3128"

[providers.MySite]
kind = "aiengine"
url = "https://example.org"
bot_id = "chatbot-2"
context_id = 7
nonce = "session"

[providers.LocalLlama]
kind = "openai"
base_url = "http://127.0.0.1:11434/v1"
api_key_env = "LOCAL_LLAMA_KEY"
models = ["llama3.1", "qwen2"]

[providers.Ollama]
enabled = false

[router]
strategy = "shuffle"
retry = { max_attempts = 2 }
"""


@pytest.fixture
def toml_file(tmp_path: Path) -> Path:
    path = tmp_path / "g4f-lite.toml"
    path.write_text(TOML)
    return path


def test_a_file_declares_providers_and_options(
    toml_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = g4f_lite.configure(toml_file)
    assert loaded.source == str(toml_file)

    site = g4f_lite.get_provider("mysite")
    assert (site.name, site.url, site.working) == ("MySite", "https://example.org", True)
    assert (site.bot_id, site.context_id, site.nonce) == ("chatbot-2", 7, "session")  # type: ignore[attr-defined]
    llama = g4f_lite.get_provider("LocalLlama")
    assert llama.needs_auth
    assert llama.models == ("llama3.1", "qwen2")
    assert llama.default_model == "llama3.1"

    declared = {i.name: i for i in g4f_lite.providers(plugin="config")}
    assert set(declared) == {"MySite", "LocalLlama"}

    assert config.provider_options("opchatgpts") == {
        "base_url": "http://127.0.0.1:9",
        "proxy": "http://proxy.local:3128",
        "timeout": 12.5,
    }
    assert config.provider_options("LocalLlama") == {"base_url": "http://127.0.0.1:11434/v1"}
    monkeypatch.setenv("LOCAL_LLAMA_KEY", "sk-from-env")
    key = config.provider_options("LocalLlama")["api_key"]
    assert isinstance(key, SecretStr)
    assert key.get_secret_value() == "sk-from-env"
    assert config.provider_settings("Ollama").enabled is False
    assert config.provider_settings("VLLM").enabled is True  # no table: defaults
    assert config.provider_options("VLLM") == {}
    assert config.router_settings() == {"strategy": "shuffle", "retry": {"max_attempts": 2}}


def test_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, toml_file: Path) -> None:
    monkeypatch.chdir(tmp_path)
    assert config.find_config_file() == Path("g4f-lite.toml")  # ./g4f-lite.toml
    other = tmp_path / "other.toml"
    other.write_text("[router]\nmax_providers = 4\n")
    monkeypatch.setenv(config.CONFIG_ENV, str(other))
    assert config.find_config_file() == other  # $G4F_LITE_CONFIG wins over ./
    assert config.find_config_file(toml_file) == toml_file  # an explicit path wins over both
    assert g4f_lite.configure().router == {"max_providers": 4}
    monkeypatch.setenv(config.CONFIG_ENV, str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigurationError, match=r"\$G4F_LITE_CONFIG .*missing.toml"):
        config.find_config_file()


def test_no_file_means_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert g4f_lite.configure().providers == {}
    assert config.router_settings() == {}


def test_configure_again_replaces_the_declared_providers(toml_file: Path) -> None:
    g4f_lite.configure(toml_file)
    g4f_lite.configure({"providers": {"Other": {"kind": "aiengine", "url": "https://b.example"}}})
    names = {i.name for i in g4f_lite.providers(plugin="config")}
    assert names == {"Other"}
    g4f_lite.configure(toml_file)  # and back: MySite may be declared again
    assert {i.name for i in g4f_lite.providers(plugin="config")} == {"MySite", "LocalLlama"}


def test_an_invalid_configuration_changes_nothing(toml_file: Path) -> None:
    g4f_lite.configure(toml_file)
    with pytest.raises(ConfigurationError):
        g4f_lite.configure({"providers": {"Broken": {"kind": "aiengine"}}})
    assert config.current_config().source == str(toml_file)
    assert g4f_lite.get_provider("MySite")


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        ({"X": {"kind": "nosuch"}}, r"\[providers.X\] field 'kind': unknown provider kind "),
        ({"X": {"kind": "aiengine"}}, r"\[providers.X\] missing required field 'url'"),
        ({"X": {"kind": "openai"}}, r"\[providers.X\] missing required field 'base_url'"),
        (
            {"X": {"kind": "aiengine", "url": "https://a.b", "botid": "x"}},
            r"\[providers.X\] unknown field 'botid' \(allowed: .*bot_id",
        ),
        (
            {"X": {"kind": "aiengine", "url": "https://a.b", "nonce": "maybe"}},
            r"\[providers.X\] field 'nonce': Input should be 'auto', 'none', 'page' or 'session'",
        ),
        ({"X": {"kind": "aiengine", "url": "ftp://a.b"}}, r"field 'url': must start with http"),
        ({"X": {"kind": "openai", "base_url": "http://h", "timeout": 0}}, r"field 'timeout'"),
        ({"Nope": {"timeout": 3}}, r"\[providers.Nope\]: no provider named 'Nope'"),
        (
            {
                "X": {
                    "kind": "openai",
                    "base_url": "http://h",
                    "models": ["a"],
                    "default_model": "b",
                }
            },
            r"\[providers.X\] default_model 'b' is not in models",
        ),
        ({"Opchatgpts": {"kind": "aiengine", "url": "https://a.b"}}, r"already registered by"),
        ({"Opchatgpts": {"bot_id": "x"}}, r"unknown field 'bot_id'"),
        ({"Opchatgpts": "fast"}, r"\[providers.Opchatgpts\] must be a table"),
        ({"1bad": {"kind": "aiengine", "url": "https://a.b"}}, r"must start with a letter"),
        (
            {"Mine": {"kind": "openai", "base_url": "http://h"}, "MINE": {"timeout": 1}},
            r"name the same provider",
        ),
    ],
)
def test_errors_name_the_table_and_the_field(tables: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        g4f_lite.configure({"providers": tables})


def test_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[providers.X\nkind = 1")
    with pytest.raises(ConfigurationError, match=r"bad.toml: invalid TOML"):
        g4f_lite.configure(bad)
    typo = tmp_path / "typo.toml"
    typo.write_text("[provider.X]\nkind = 'aiengine'\n")
    with pytest.raises(
        ConfigurationError, match=r"typo.toml: unknown top-level table\(s\) 'provider'"
    ):
        g4f_lite.configure(typo)
    with pytest.raises(ConfigurationError, match="does not exist"):
        g4f_lite.configure(tmp_path / "missing.toml")


def test_secrets_stay_out_of_errors_and_reprs() -> None:
    secret = "sk-do-not-print-me"
    with pytest.raises(ConfigurationError) as info:
        g4f_lite.configure({"providers": {"X": {"kind": "openai", "api_key": secret}}})
    assert secret not in str(info.value)
    with pytest.raises(ConfigurationError) as typo:
        g4f_lite.configure(
            {"providers": {"X": {"kind": "openai", "base_url": "http://h", "api_ky": secret}}}
        )
    assert secret not in str(typo.value)
    loaded = g4f_lite.configure(
        {"providers": {"X": {"kind": "openai", "base_url": "http://h", "api_key": secret}}}
    )
    assert secret not in repr(loaded)
    assert secret not in repr(config.provider_options("X"))


def test_declare_provider_in_one_call() -> None:
    provider = g4f_lite.declare_provider("Quick", "aiengine", url="https://q.example", nonce="page")
    assert g4f_lite.get_provider("quick") is provider
    assert {i.name for i in g4f_lite.providers(plugin="config")} == {"Quick"}
    g4f_lite.configure({})  # a configuration leaves one-call declarations alone
    assert g4f_lite.get_provider("Quick") is provider
    with pytest.raises(ConfigurationError, match="already registered"):
        g4f_lite.declare_provider("Quick", "aiengine", url="https://q.example")


def test_kinds_come_from_plugins_and_clash_clearly() -> None:
    kinds = {e.kind.name: e.plugin for e in registry.kinds()}
    assert kinds == {
        "aiengine": "g4f-lite-aiengine",
        "anthropic": "g4f-lite-anthropic",
        "gemini": "g4f-lite-gemini",
        "openai": "g4f-lite-openai",
    }

    def make(name: str, options: ProviderSettings) -> type[g4f_lite.BaseProvider]:
        return g4f_lite.get_provider("Opchatgpts")

    clash: ProviderKind[ProviderSettings] = ProviderKind("OpenAI", ProviderSettings, make)
    with pytest.raises(DuplicateKindError, match="'g4f-lite-openai' already registered"):
        registry.register_kind(clash)
    custom: ProviderKind[ProviderSettings] = ProviderKind("custom", ProviderSettings, make)
    registry.register_kind(custom)
    assert registry.get_kind("CUSTOM") is custom
    with pytest.raises(TypeError, match="instead of 'Renamed'"):
        g4f_lite.declare_provider("Renamed", "custom")
    registry.unregister_kind("custom")
    with pytest.raises(
        ConfigurationError, match="known kinds: aiengine, anthropic, gemini, openai"
    ):
        registry.get_kind("custom")


async def test_declared_providers_work_with_their_call_options() -> None:
    async with AIEngineEmulator(generation="2.0", reply="from the site") as site:
        g4f_lite.configure(
            {"providers": {"Site": {"kind": "aiengine", "url": "https://unused.example"}}}
        )
        g4f_lite.configure(
            {"providers": {"Site": {"kind": "aiengine", "url": site.url, "timeout": 5}}}
        )
        options = config.provider_options("Site")
        assert options == {"timeout": 5.0}
        text = await g4f_lite.ChatCompletion.create_async(
            "", [{"role": "user", "content": "Hi"}], provider="Site", **options
        )
    assert text == "from the site"


def test_cli_lists_siblings_presets_and_declared_providers(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('[providers.Mine]\nkind = "openai"\nbase_url = "http://h/v1"\n')
    monkeypatch.setenv(config.CONFIG_ENV, str(path))
    assert cli_main(["providers", "--json", "--all"]) == 0
    listed = {p["name"]: p for p in json.loads(capsys.readouterr().out)}
    for name in ("NoowAi", "Chatgpt4Online", "ChatgptAi", "OnlineGpt", "AiChatOnline"):
        assert listed[name]["working"] is False
        assert listed[name]["plugin"] == "g4f-lite-aiengine"
    for name in ("Ollama", "VLLM", "LlamaCpp", "LMStudio"):
        assert listed[name]["working"] is True
        assert listed[name]["needs_auth"] is False
        assert listed[name]["plugin"] == "g4f-lite-openai"
    assert listed["Mine"]["plugin"] == "config"
    assert listed["Opchatgpts"]["plugin"] == "g4f-lite-opchatgpts"


def test_import_stays_cheap() -> None:
    code = (
        "import sys, g4f_lite; "
        "heavy = {'aiohttp', 'pydantic', 'tomllib', 'tomli', 'g4f_lite.config'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


async def test_an_emulated_endpoint_in_a_file(tmp_path: Path) -> None:
    async with OpenAIEmulator(models=["m"], reply="local") as server:
        path = tmp_path / "g4f-lite.toml"
        path.write_text(f'[providers.Local]\nkind = "openai"\nbase_url = "{server.url}"\n')
        g4f_lite.configure(path)
        text = await g4f_lite.ChatCompletion.create_async(
            "m", [{"role": "user", "content": "Hi"}], provider="Local"
        )
    assert text == "local"


def test_cli_reads_the_configuration_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    aiengine_emulator: AIEngineEmulator,
) -> None:
    path = tmp_path / "site.toml"
    path.write_text(
        f'[providers.Declared]\nkind = "aiengine"\nurl = "{aiengine_emulator.url}"\n'
        "[providers.Opchatgpts]\ntimeout = 0.05\n"
        "[router]\nretry = { max_attempts = 1 }\n"
    )
    monkeypatch.setenv(config.CONFIG_ENV, str(path))
    assert cli_main(["providers", "--json"]) == 0
    assert "Declared" in {p["name"] for p in json.loads(capsys.readouterr().out)}
    assert cli_main(["chat", "-p", "declared", "Hi there"]) == 0
    assert capsys.readouterr().out.endswith("You said: Hi there\n")
    # The table's timeout reaches the provider: the only thing that can end a
    # call to a server that accepts the connection and never answers (racing a
    # real answer against a tiny timeout made this pass or fail by chance).
    with socket.create_server(("127.0.0.1", 0), backlog=16) as silent:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        assert cli_main(["chat", "-p", "opchatgpts", "--base-url", url, "Hi"]) == 1
    err = capsys.readouterr().err
    assert "Opchatgpts" in err
    assert "within 0.05 s" in err
    path.write_text("[providers.Declared]\nkind = 'aiengine'\n")
    assert cli_main(["providers"]) == 1
    assert "missing required field 'url'" in capsys.readouterr().err
