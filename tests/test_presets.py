"""Hosted OpenAI-compatible presets, and overriding any preset in ``[providers.NAME]``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from g4f_lite_openai import PRESETS, OpenAICompatProvider, Preset

import g4f_lite
from g4f_lite import Client
from g4f_lite.errors import (
    ConfigurationError,
    MissingCredentialsError,
    NoProviderAvailableError,
)
from g4f_lite.testing import OpenAIEmulator

pytestmark = pytest.mark.usefixtures("first_party_plugins", "no_keys")

HELLO = [{"role": "user", "content": "Hello"}]
GROQ_MODEL = "llama-3.1-8b-instant"

HOSTED = {
    "OpenAI": "OPENAI_API_KEY",
    "OpenRouter": "OPENROUTER_API_KEY",
    "Groq": "GROQ_API_KEY",
    "Together": "TOGETHER_API_KEY",
    "DeepSeek": "DEEPSEEK_API_KEY",
    "Mistral": "MISTRAL_API_KEY",
    "XAI": "XAI_API_KEY",
    "Cerebras": "CEREBRAS_API_KEY",
    "Fireworks": "FIREWORKS_API_KEY",
    "DeepInfra": "DEEPINFRA_API_KEY",
    "Perplexity": "PERPLEXITY_API_KEY",
    "GitHubModels": "GITHUB_TOKEN",
    "HuggingFace": "HF_TOKEN",
    "Nvidia": "NVIDIA_API_KEY",
}


@pytest.fixture
def no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh install: none of the presets' key variables is set."""
    for preset in PRESETS.values():
        if preset.api_key_env:
            monkeypatch.delenv(preset.api_key_env, raising=False)
    monkeypatch.delenv("MY_PROXY_KEY", raising=False)


@pytest.fixture
def groq_server() -> Iterator[OpenAIEmulator]:
    """An emulator standing in for Groq: its key, its model ids."""
    emulator = OpenAIEmulator(api_key="gsk-test", models=[GROQ_MODEL, "my-model"], reply="hi")
    with emulator.run_in_thread():
        yield emulator


def preset(name: str) -> type[OpenAICompatProvider]:
    provider = g4f_lite.get_provider(name)
    assert issubclass(provider, OpenAICompatProvider)
    return provider


def groq_at(server: OpenAIEmulator, **options: object) -> dict[str, object]:
    return {"providers": {"Groq": {"base_url": server.url, **options}}}


def test_every_hosted_service_is_a_preset_needing_its_key() -> None:
    infos = {info.name: info for info in g4f_lite.providers(plugin="g4f-lite-openai")}
    for name, variable in HOSTED.items():
        provider = preset(name)
        assert provider.api_key_env == variable
        assert provider.base_url.startswith("https://")
        assert infos[name].needs_auth and infos[name].working
        assert infos[name].models and infos[name].default_model == infos[name].models[0]
    for name in ("Ollama", "VLLM", "LlamaCpp", "LMStudio"):
        assert not infos[name].needs_auth
        assert infos[name].url.startswith("http://127.0.0.1:")
    assert preset("Groq").base_url == "https://api.groq.com/openai/v1"
    assert preset("HuggingFace").base_url == "https://router.huggingface.co/v1"


def test_the_table_is_data() -> None:
    assert all(isinstance(preset, Preset) for preset in PRESETS.values())
    assert {name for name, preset in PRESETS.items() if not preset.local} == set(HOSTED)
    with pytest.raises(ValueError, match="unknown sampling options"):
        Preset("Bad", "https://x/v1", "", api_key_env="X", sampling_options=frozenset({"topp"}))


def test_no_preset_model_id_reads_as_another_presets_model() -> None:
    # "Provider/model-id" addresses one provider's model: a preset's own id
    # must not start with a preset's name and a slash.
    names = {name.lower() for name in PRESETS}
    for preset in PRESETS.values():
        for model in preset.models:
            assert model.split("/", 1)[0].lower() not in names or "/" not in model, model


def test_with_no_keys_no_hosted_preset_is_chosen() -> None:
    with pytest.raises(NoProviderAvailableError) as caught:
        g4f_lite.ChatCompletion.create(GROQ_MODEL, HELLO)
    assert "needs credentials" in str(caught.value)
    with Client(config={}) as client:
        chosen, excluded = client.router.screen("gpt-4o-mini")
        assert not {p.name for p in chosen} & set(HOSTED)
        assert "needs credentials, none configured" in excluded["OpenAI"]


def test_a_key_in_the_environment_is_enough(
    groq_server: OpenAIEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The "done when": a key set, the preset pointed at an emulator.
    monkeypatch.setenv("GROQ_API_KEY", "gsk-test")
    g4f_lite.configure(groq_at(groq_server))
    assert g4f_lite.ChatCompletion.create(GROQ_MODEL, HELLO) == "hi"
    request = groq_server.requests[-1]
    assert request.path == "/v1/chat/completions"
    assert request.body["model"] == GROQ_MODEL
    assert request.headers["Authorization"] == "Bearer gsk-test"


def test_a_key_in_the_environment_is_enough_for_a_client(
    groq_server: OpenAIEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gsk-test")
    with Client(config=groq_at(groq_server)) as client:
        completion = client.chat.completions.create(GROQ_MODEL, HELLO)
        assert completion.choices[0].message.content == "hi"
        streamed = client.chat.completions.create(GROQ_MODEL, HELLO, stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == "hi"
        assert completion.provider == "Groq"


def test_api_key_in_the_table(groq_server: OpenAIEmulator) -> None:
    with Client(config=groq_at(groq_server, api_key="gsk-test")) as client:
        assert client.chat.completions.create(GROQ_MODEL, HELLO).choices[0].message.content
    assert groq_server.requests[-1].headers["Authorization"] == "Bearer gsk-test"


def test_api_key_env_replaces_the_presets_variable(
    groq_server: OpenAIEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Groq's own key must never go to a proxy configured with another variable.
    monkeypatch.setenv("GROQ_API_KEY", "gsk-real-groq-key")
    config = groq_at(groq_server, api_key_env="MY_PROXY_KEY")
    with Client(config=config) as client:
        with pytest.raises(NoProviderAvailableError, match="needs credentials"):
            client.chat.completions.create(GROQ_MODEL, HELLO)
        with pytest.raises(MissingCredentialsError, match="MY_PROXY_KEY"):
            client.chat.completions.create(GROQ_MODEL, HELLO, provider="Groq")
        assert groq_server.requests == []
        monkeypatch.setenv("MY_PROXY_KEY", "gsk-test")
        assert client.chat.completions.create(GROQ_MODEL, HELLO).choices[0].message.content
    assert groq_server.requests[-1].headers["Authorization"] == "Bearer gsk-test"
    assert preset("Groq").api_key_env == "GROQ_API_KEY"  # others unaffected


def test_models_in_the_table(groq_server: OpenAIEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gsk-test")
    with Client(config=groq_at(groq_server, models=["my-model"])) as client:
        assert [p.name for p in client.providers(model="my-model")] == ["Groq"]
        (info,) = [p for p in client.providers() if p.name == "Groq"]
        assert info.models == ["my-model"] and info.default_model == "my-model"
        assert client.chat.completions.create("my-model", HELLO).choices[0].message.content
        assert groq_server.requests[-1].body["model"] == "my-model"
        # The model named for a named provider without one: the first listed.
        client.chat.completions.create("", HELLO, provider="Groq")
        assert groq_server.requests[-1].body["model"] == "my-model"
        with pytest.raises(NoProviderAvailableError, match="does not support model"):
            client.chat.completions.create(GROQ_MODEL, HELLO)
    # Only that client's Groq changed.
    assert g4f_lite.get_provider("Groq").models[0] == GROQ_MODEL
    assert g4f_lite.providers(model="my-model") == []


def test_models_in_the_global_configuration(
    groq_server: OpenAIEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gsk-test")
    g4f_lite.configure(groq_at(groq_server, models=["my-model"]))
    assert [p.name for p in g4f_lite.providers(model="my-model")] == ["Groq"]
    assert g4f_lite.ChatCompletion.create("my-model", HELLO) == "hi"
    with pytest.raises(ConfigurationError):  # an invalid configuration changes nothing
        g4f_lite.configure({"providers": {"Groq": {"models": [""]}}})
    assert g4f_lite.get_provider("Groq").models == ("my-model",)
    # Configuring again starts from the preset, not from the last configuration.
    g4f_lite.configure(groq_at(groq_server, models=[GROQ_MODEL, "my-model"]))
    assert g4f_lite.get_provider("Groq").models == (GROQ_MODEL, "my-model")
    g4f_lite.configure({})
    assert g4f_lite.providers(model="my-model") == []
    assert g4f_lite.get_provider("Groq").models[0] == GROQ_MODEL
    assert g4f_lite.get_provider("Groq").__dict__.get("api_key_env") == "GROQ_API_KEY"


def test_a_disabled_preset_is_not_chosen(
    groq_server: OpenAIEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gsk-test")
    with Client(config=groq_at(groq_server, enabled=False)) as client:
        with pytest.raises(NoProviderAvailableError, match="disabled"):
            client.chat.completions.create(GROQ_MODEL, HELLO)
        with pytest.raises(ConfigurationError, match="disabled"):
            client.chat.completions.create(GROQ_MODEL, HELLO, provider="Groq")
    assert groq_server.requests == []


@pytest.mark.parametrize("models", [["ok", ""], "my-model", [1]])
def test_bad_models_are_a_configuration_error(models: object) -> None:
    with pytest.raises(ConfigurationError, match=r"\[providers\.Groq\].*'models"):
        Client(config={"providers": {"Groq": {"models": models}}})


def test_models_for_a_declared_provider_of_a_kind_without_its_own() -> None:
    # The base settings' field reaches classes whose kind ignores it.
    from g4f_lite.kinds import ProviderKind, ProviderSettings
    from g4f_lite.registry import registry

    def factory(name: str, settings: ProviderSettings) -> type[g4f_lite.BaseProvider]:
        return type(name, (OpenAICompatProvider,), {"name": name, "working": True})

    registry.register_kind(ProviderKind("bare", ProviderSettings, factory))
    with Client(config={"providers": {"Bare": {"kind": "bare", "models": ["m"]}}}) as client:
        assert [p.name for p in client.providers(model="m")] == ["Bare"]


def test_quirks_mistral_gets_no_stream_options_nor_seed(
    groq_server: OpenAIEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", "gsk-test")
    config = {"providers": {"Mistral": {"base_url": groq_server.url, "models": ["my-model"]}}}
    with Client(config=config) as client:
        stream = client.chat.completions.create(
            "my-model", HELLO, stream=True, seed=1, temperature=0.5, user="me"
        )
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "hi"
    body = groq_server.requests[-1].body
    assert body["temperature"] == 0.5
    assert not {"stream_options", "seed", "user"} & set(body)


def test_quirks_cerebras_gets_no_penalties(
    groq_server: OpenAIEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CEREBRAS_API_KEY", "gsk-test")
    config = {"providers": {"Cerebras": {"base_url": groq_server.url, "models": ["my-model"]}}}
    with Client(config=config) as client:
        client.chat.completions.create("my-model", HELLO, frequency_penalty=0.5, top_p=0.9)
    body = groq_server.requests[-1].body
    assert body["top_p"] == 0.9 and "frequency_penalty" not in body
