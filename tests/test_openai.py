"""The OpenAI-compatible provider against the OpenAI-compatible emulator."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from g4f_lite_openai import PRESETS, OpenAICompatProvider
from pydantic import SecretStr

import g4f_lite
from g4f_lite.errors import (
    AuthenticationError,
    BadRequestError,
    BrokenLineError,
    MissingCredentialsError,
    RateLimitError,
    ServerError,
    TruncatedResponseError,
    UpstreamError,
)
from g4f_lite.provider import BaseProvider, collect, run_provider
from g4f_lite.testing import Fault, OpenAIEmulator
from g4f_lite.types import Finish, Usage

pytestmark = pytest.mark.usefixtures("first_party_plugins")

HELLO = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]


def declare(server: OpenAIEmulator, **options: Any) -> type[BaseProvider]:
    options.setdefault("api_key", "sk-test")
    return g4f_lite.declare_provider(
        "Local", "openai", base_url=server.url, models=["emulated-model"], **options
    )


async def ask(provider: type[BaseProvider], model: str = "", **kwargs: Any) -> str:
    return await collect(run_provider(provider, model, HELLO, **kwargs), provider.name)


async def test_stream(openai_server: OpenAIEmulator) -> None:
    openai_server.reply = "one two three"
    provider = declare(openai_server)
    chunks = [c async for c in run_provider(provider, "", HELLO)]
    # The text, then the events: why it ended and the usage asked for with the stream.
    assert chunks == ["one ", "two ", "three", Finish("stop"), Usage.of(3, 3)]
    request = openai_server.requests[0]
    assert request.path == "/v1/chat/completions"
    assert request.headers["Authorization"] == "Bearer sk-test"
    assert request.body == {
        "model": "emulated-model",
        "messages": HELLO,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


async def test_non_stream_and_sampling_options(openai_server: OpenAIEmulator) -> None:
    openai_server.reply = "whole"
    provider = declare(openai_server, stream=False)
    assert await ask(provider, "other-model", temperature=0.2, max_tokens=5) == "whole"
    body = openai_server.requests[0].body
    assert body["stream"] is False
    assert (body["model"], body["temperature"], body["max_tokens"]) == ("other-model", 0.2, 5)


async def test_key_from_the_environment_at_call_time(
    openai_server: OpenAIEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = declare(openai_server, api_key=None, api_key_env="LOCAL_KEY")
    assert provider.needs_auth
    with pytest.raises(MissingCredentialsError, match=r"\$LOCAL_KEY") as info:
        await ask(provider)
    assert info.value.provider == "Local"
    assert openai_server.requests == []  # nothing was sent
    monkeypatch.setenv("LOCAL_KEY", "sk-test")
    assert await ask(provider)


async def test_a_secretstr_key_per_call(openai_server: OpenAIEmulator) -> None:
    provider = declare(openai_server, api_key=None, needs_auth=False)
    assert await ask(provider, api_key=SecretStr("sk-test"))
    with pytest.raises(AuthenticationError) as info:
        await ask(provider)  # needs_auth=False: sent without a key, the server says 401
    assert info.value.status == 401


async def test_wrong_key_is_an_authentication_error_without_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "sk-very-secret-key-1234567890"
    async with OpenAIEmulator(api_key="sk-right", echo_key_in_errors=True) as server:
        provider = declare(server, api_key=secret)
        with pytest.raises(AuthenticationError) as info:
            await ask(provider)
        assert server.requests[0].headers["Authorization"] == f"Bearer {secret}"
    error = info.value
    assert (error.status, error.code, error.provider) == (401, "invalid_api_key", "Local")
    assert "Incorrect API key provided: ***" in str(error)
    for text in (str(error), repr(error), caplog.text, repr(provider.__dict__), repr(server)):
        assert secret not in text
    assert not error.retryable


async def test_rate_limit_with_retry_after_and_server_errors(
    openai_server: OpenAIEmulator,
) -> None:
    openai_server.faults.extend([Fault.http_status(429, retry_after=7), Fault.http_status(503)])
    provider = declare(openai_server)
    with pytest.raises(RateLimitError) as limited:
        await ask(provider)
    assert limited.value.retry_after == 7
    assert limited.value.retryable
    with pytest.raises(ServerError) as failed:
        await ask(provider)
    assert failed.value.status == 503
    assert failed.value.retryable


async def test_unknown_model_is_a_404(openai_server: OpenAIEmulator) -> None:
    with pytest.raises(BadRequestError, match="does not exist") as info:
        await ask(declare(openai_server), "gpt-17")
    assert info.value.code == "model_not_found"


async def test_broken_streams(openai_server: OpenAIEmulator) -> None:
    openai_server.reply = "a b c d"
    openai_server.faults.extend(
        [Fault.no_end(), Fault.error_event(after=1), Fault.garbage(after=1), Fault.drop(after=2)]
    )
    provider = declare(openai_server)
    with pytest.raises(TruncatedResponseError) as truncated:
        await ask(provider)
    assert truncated.value.partial == "a b c d"
    with pytest.raises(UpstreamError, match="server had an error") as upstream:
        await ask(provider)
    assert upstream.value.partial == "a "
    with pytest.raises(BrokenLineError, match="Broken line"):
        await ask(provider)
    with pytest.raises(TruncatedResponseError):
        await ask(provider)


async def test_models_are_listed_on_request_and_fill_an_empty_model(
    openai_server: OpenAIEmulator,
) -> None:
    provider = g4f_lite.declare_provider(
        "NoModels", "openai", base_url=openai_server.url, api_key="sk-test"
    )
    assert issubclass(provider, OpenAICompatProvider)
    assert await provider.list_models() == ["emulated-model", "other-model"]
    await ask(provider)
    assert [r.path for r in openai_server.requests] == [
        "/v1/models",
        "/v1/models",
        "/v1/chat/completions",
    ]
    assert openai_server.requests[-1].body["model"] == "emulated-model"


async def test_presets_point_at_local_servers() -> None:
    infos = {i.name: i for i in g4f_lite.providers(plugin="g4f-lite-openai")}
    local = {name for name, preset in PRESETS.items() if preset.local}
    assert set(infos) == set(PRESETS)
    assert local == {"Ollama", "VLLM", "LlamaCpp", "LMStudio"}
    assert infos["Ollama"].url == "http://127.0.0.1:11434/v1"
    assert all(infos[n].working and not infos[n].needs_auth for n in local)
    assert all(i.supports_stream for i in infos.values())
    assert all(i.supports_system_message and i.supports_message_history for i in infos.values())


async def test_a_preset_talks_to_the_server_at_base_url(
    openai_server: OpenAIEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VLLM_API_KEY", "sk-test")  # optional key, sent when set
    provider = g4f_lite.get_provider("VLLM")
    assert await ask(provider, "emulated-model", base_url=openai_server.url)
    assert openai_server.requests[0].headers["Authorization"] == "Bearer sk-test"


def test_through_the_synchronous_api(openai_emulator: OpenAIEmulator) -> None:
    openai_emulator.reply = "sync"
    g4f_lite.configure(
        {"providers": {"Local": {"kind": "openai", "base_url": openai_emulator.url}}}
    )
    text = g4f_lite.ChatCompletion.create("emulated-model", HELLO, provider="Local")
    assert text == "sync"
    assert (
        "".join(
            g4f_lite.ChatCompletion.create("emulated-model", HELLO, provider="Local", stream=True)
        )
        == "sync"
    )


async def test_connections_are_reused(openai_server: OpenAIEmulator) -> None:
    provider = declare(openai_server)
    await ask(provider)
    await ask(provider, stream=False)
    await ask(provider)
    ports = {r.client_port for r in openai_server.requests}
    assert len(ports) == 1
