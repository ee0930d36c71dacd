"""The OpenAI-compatible server, driven by the official ``openai`` SDK and raw HTTP."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import pytest
from g4f_lite_opchatgpts import Opchatgpts
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

import g4f_lite
from g4f_lite import config
from g4f_lite.client.results import CompletionChunk
from g4f_lite.health import CircuitBreaker, InMemoryHealthStore
from g4f_lite.policies import RetryPolicy
from g4f_lite.router import Router
from g4f_lite.server import API_KEY_ENV, Server, ServerSettings
from g4f_lite.testing import AIEngineEmulator, Fault
from g4f_lite.types import Chunk, Messages

REPLY = "Hello from the AI Engine emulator! You said: Hi there"
HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Hi there"}]


def image(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


def settings(**overrides: Any) -> ServerSettings:
    return ServerSettings(port=0, **overrides)


def no_retries(**kwargs: Any) -> Router:
    """Failures come back at once (the router's retries are tested elsewhere)."""
    return Router(retry=RetryPolicy(max_attempts=1), **kwargs)


@pytest.fixture
async def local(site: AIEngineEmulator, first_party_plugins: None) -> AIEngineEmulator:
    """The site, declared as ``Local`` (model ``local-model``) and ``Local2``.

    Opchatgpts is aimed at it too: no test may reach the real site.
    """
    config.configure(
        {
            "providers": {
                "Local": {"kind": "aiengine", "url": site.url, "models": ["local-model"]},
                "Local2": {"kind": "aiengine", "url": site.url},
                "Opchatgpts": {"base_url": site.url},
            }
        }
    )
    return site


@pytest.fixture
async def server(local: AIEngineEmulator) -> AsyncIterator[Server]:
    async with Server(settings(), router=no_retries()) as running:
        yield running


def client(server: Server, key: str = "unused") -> openai.AsyncOpenAI:
    # max_retries=0: the SDK would otherwise retry 429s and 5xx itself.
    return openai.AsyncOpenAI(base_url=server.url, api_key=key, max_retries=0)


async def post(server: Server, body: object) -> tuple[int, Any]:
    """POST ``body`` (a dict is sent as JSON, anything else as it is); status and JSON answer."""
    data = json.dumps(body) if isinstance(body, dict) else body
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{server.url}/chat/completions", data=data) as response,
    ):
        return response.status, await response.json()


# -- the official SDK ---------------------------------------------------------------


async def test_async_sdk_non_stream_routes_by_model(server: Server) -> None:
    async with client(server) as api:
        completion = await api.chat.completions.create(model="local-model", messages=HI)
    assert completion.choices[0].message.content == REPLY
    assert completion.choices[0].finish_reason == "stop"
    assert completion.object == "chat.completion" and completion.model == "local-model"
    assert completion.id.startswith("chatcmpl-") and completion.created > 0


async def test_async_sdk_stream(server: Server) -> None:
    async with client(server) as api:
        stream = await api.chat.completions.create(
            model="local-model",
            messages=HI,
            stream=True,
        )
        chunks = [chunk async for chunk in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == REPLY
    assert [c.choices[0].finish_reason for c in chunks][-1] == "stop"
    assert {c.id for c in chunks} == {chunks[0].id} and chunks[0].object == "chat.completion.chunk"
    assert len(chunks) > 3  # streamed, not one block


def test_sync_sdk_stream_and_non_stream(aiengine_emulator: AIEngineEmulator) -> None:
    options = {"base_url": aiengine_emulator.url, "timeout": 30}
    config.configure({"providers": {"Opchatgpts": options}})
    with Server(settings()).run_in_thread() as server:
        api = openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0)
        with api:
            extra = {"provider": "Opchatgpts"}  # g4f-lite extension: it is not working
            completion = api.chat.completions.create(
                model="",
                messages=HI,
                extra_body=extra,
            )
            stream = api.chat.completions.create(
                model="",
                messages=HI,
                extra_body=extra,
                stream=True,
            )
            text = "".join(chunk.choices[0].delta.content or "" for chunk in stream)
    assert completion.choices[0].message.content == REPLY
    assert text == REPLY


async def test_multi_part_content_and_system_message(
    server: Server, local: AIEngineEmulator
) -> None:
    messages: list[ChatCompletionMessageParam] = [
        {"role": "developer", "content": "Be brief"},
        {
            "role": "user",
            "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}],
        },
    ]
    async with client(server) as api:
        completion = await api.chat.completions.create(
            model="", messages=messages, extra_body={"provider": "Local"}
        )
    assert completion.choices[0].message.content == REPLY
    assert local.requests[-1].body["messages"][0] == {"role": "system", "content": "Be brief"}


async def test_stream_chunks_match_the_pydantic_model(server: Server) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{server.url}/chat/completions",
            json={"model": "local-model", "messages": HI, "stream": True},
        ) as response,
    ):
        assert response.headers["Content-Type"].startswith("text/event-stream")
        lines = [line.decode().strip() async for line in response.content]
    events = [line[6:] for line in lines if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    for event in events[:-1]:
        data = json.loads(event)
        ChatCompletionChunk.model_validate(data)  # the openai SDK's own model
        assert set(data) == {field.name for field in dataclasses.fields(CompletionChunk)}
        assert data["provider"] == "Local"
    choices = [json.loads(event)["choices"][0] for event in events[:-1]]
    assert choices[0]["delta"] == {"role": "assistant", "content": ""}
    assert all(set(choice["delta"]) == {"content"} for choice in choices[1:-1])
    assert choices[-1]["delta"] == {} and choices[-1]["finish_reason"] == "stop"
    assert "".join(choice["delta"].get("content", "") for choice in choices) == REPLY


# -- error statuses -------------------------------------------------------------------


async def test_unknown_provider_and_model_are_404(server: Server) -> None:
    async with client(server) as api:
        with pytest.raises(openai.NotFoundError) as caught:
            await api.chat.completions.create(
                model="",
                messages=HI,
                extra_body={"provider": "Opchatgpt"},
            )
        assert caught.value.code == "provider_not_found"
        assert "did you mean Opchatgpts" in caught.value.message
        with pytest.raises(openai.NotFoundError) as caught:
            await api.chat.completions.create(model="no-such-model", messages=HI)
        assert caught.value.code == "model_not_found" and caught.value.param == "model"


async def test_rate_limit_is_429_with_retry_after(server: Server, local: AIEngineEmulator) -> None:
    local.fault = Fault.http_status(429, retry_after=2)
    async with client(server) as api:
        with pytest.raises(openai.RateLimitError) as caught:
            await api.chat.completions.create(
                model="",
                messages=HI,
                extra_body={"provider": "Local"},
            )
    assert caught.value.status_code == 429
    assert caught.value.response.headers["Retry-After"] == "2"


async def test_all_rate_limited_is_429(server: Server, local: AIEngineEmulator) -> None:
    local.fault = Fault.http_status(429, retry_after=3)
    status, body = await post(
        server, {"model": "", "messages": HI, "provider": ["Local", "Local2"]}
    )
    assert status == 429 and body["error"]["code"] == "rate_limit_exceeded"
    assert "Local #1: RateLimitError" in body["error"]["message"]
    assert "Local2 #1: RateLimitError" in body["error"]["message"]
    assert body["error"]["message"].startswith("all 2 provider(s) failed")


async def test_upstream_failure_is_502_without_internals(
    server: Server, local: AIEngineEmulator
) -> None:
    local.fault = Fault.http_status(500)
    async with client(server) as api:
        with pytest.raises(openai.APIStatusError) as caught:
            await api.chat.completions.create(model="local-model", messages=HI)
    assert caught.value.status_code == 502
    body: Any = caught.value.body
    assert "Local" in body["message"] and "HTTP 500" in body["message"]
    assert body["code"] == "all_providers_failed" and body["type"] == "upstream_error"
    assert "Traceback" not in caught.value.response.text


async def test_timeout_is_504(local: AIEngineEmulator) -> None:
    local.fault = Fault.slow_first_byte(delay=0.5)
    async with Server(settings(timeout=0.1), router=no_retries()) as server:
        status, body = await post(server, {"model": "local-model", "messages": HI})
    assert status == 504 and body["error"]["type"] == "timeout_error"


async def test_benched_is_503_with_retry_after(local: AIEngineEmulator) -> None:
    local.fault = Fault.http_status(500)
    router = no_retries(
        health=InMemoryHealthStore(CircuitBreaker(failure_threshold=1, cooldown=60)),
        wait_for_cooldown=False,
    )
    async with Server(settings(), router=router) as server:
        body = {"model": "", "messages": HI, "provider": "Local"}
        assert (await post(server, body))[0] == 502
        status, error = await post(server, body)
    assert status == 503 and error["error"]["code"] == "providers_benched"


async def test_mid_stream_failure_is_an_error_event(
    server: Server, local: AIEngineEmulator
) -> None:
    local.fault = Fault.drop(after=3)
    received: list[str] = []
    async with client(server) as api:
        stream = await api.chat.completions.create(
            model="local-model",
            messages=HI,
            stream=True,
        )

        async def read() -> None:
            async for chunk in stream:
                received.append(chunk.choices[0].delta.content or "")

        with pytest.raises(openai.APIError, match="failed after 15 characters"):
            await read()
    assert "".join(received) == "Hello from the "


# -- request validation ------------------------------------------------------------------


@pytest.mark.parametrize("field", ["base_url", "proxy", "api_key", "cookies"])
async def test_credential_and_routing_fields_are_refused(server: Server, field: str) -> None:
    status, body = await post(
        server, {"model": "", "messages": HI, "provider": "Local", field: "http://10.0.0.1"}
    )
    assert status == 400 and field in body["error"]["message"]
    assert "10.0.0.1" not in body["error"]["message"]


async def test_sdk_extra_body_cannot_set_base_url(server: Server) -> None:
    async with client(server) as api:
        with pytest.raises(openai.BadRequestError):
            await api.chat.completions.create(
                model="local-model",
                messages=HI,
                extra_body={"base_url": "http://169.254.169.254"},
            )


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ("{not json", "invalid_json", None),
        ("[1, 2]", "invalid_json", None),
        ({"model": "x"}, "invalid_value", "messages"),
        ({"messages": []}, "invalid_value", "messages"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "invalid_value", "messages.0.role"),
        ({"messages": HI, "n": 2}, "invalid_value", "n"),
        ({"messages": HI, "tools": [{"type": "function"}]}, "invalid_value", "tools.0.function"),
        ({"messages": HI, "tools": [{"type": "retrieval"}]}, "invalid_value", "tools.0.type"),
        (
            {"messages": HI, "tools": [{"type": "function", "function": {"name": "a b"}}]},
            "invalid_value",
            "tools.0.function.name",
        ),
        ({"messages": HI, "tools": "all"}, "invalid_value", "tools"),
        ({"messages": HI, "tool_choice": "maybe"}, "invalid_value", "tool_choice"),
        ({"messages": HI, "tool_choice": "required"}, "invalid_value", "tool_choice"),
        (
            {"messages": HI, "tool_choice": {"type": "function", "function": {"name": "nope"}}},
            "invalid_value",
            "tool_choice",
        ),
        ({"messages": HI, "parallel_tool_calls": "yes"}, "invalid_value", "parallel_tool_calls"),
        ({"messages": HI, "response_format": {"type": "xml"}}, "invalid_value", "response_format"),
        (
            {"messages": HI, "response_format": {"type": "json_schema", "json_schema": {}}},
            "invalid_value",
            "response_format.json_schema.name",
        ),
        (
            {"messages": HI, "stream_options": {"include_usage": 1}},
            "invalid_value",
            "stream_options.include_usage",
        ),
        ({"messages": HI, "functions": [{"name": "f"}]}, "invalid_value", "functions"),
        (
            {"messages": [{"role": "user", "content": [image("http://example.com/a.png")]}]},
            "invalid_value",
            "messages.0.content.0.image_url.url",
        ),
        (
            {"messages": [{"role": "user", "content": [image("file:///etc/passwd")]}]},
            "invalid_value",
            "messages.0.content.0.image_url.url",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]},
            "invalid_value",
            "messages.0.content.0",
        ),
        (
            {"messages": [{"role": "assistant", "content": [image("https://x.org/a.png")]}]},
            "invalid_value",
            "messages.0",
        ),
        ({"messages": [{"role": "tool", "content": "42"}]}, "invalid_value", "messages.0"),
        (
            {"messages": [{"role": "user", "content": "x", "tool_calls": []}]},
            "invalid_value",
            "messages.0",
        ),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f"}}],
                    }
                ]
            },
            "invalid_value",
            "messages.0.tool_calls.0.function.arguments",
        ),
        ({"messages": HI, "provider": []}, "invalid_value", "provider"),
    ],
)
async def test_malformed_bodies_are_400(
    server: Server, body: str | dict[str, Any], code: str, param: str | None
) -> None:
    status, answer = await post(server, body)
    assert status == 400
    assert answer["error"]["code"] == code and answer["error"]["param"] == param
    assert answer["error"]["type"] == "invalid_request_error"


async def test_oversize_body_is_413(local: AIEngineEmulator) -> None:
    async with Server(settings(max_body_bytes=2048)) as server:
        big = {"model": "", "messages": [{"role": "user", "content": "x" * 4096}]}
        status, body = await post(server, big)
        assert status == 413 and body["error"]["code"] == "body_too_large"

        async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: read and cut off
            yield json.dumps(big).encode()

        status, body = await post(server, chunked())
        assert status == 413


async def test_unknown_routes_are_openai_shaped(server: Server) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{server.url}/nothing") as response:
            assert response.status == 404
            assert (await response.json())["error"]["type"] == "not_found"
        async with session.get(f"{server.url}/chat/completions") as response:
            assert response.status == 405
            assert "error" in await response.json()


# -- auth ---------------------------------------------------------------------------------


async def test_bearer_auth(local: AIEngineEmulator) -> None:
    async with Server(settings(api_key="s3cret")) as server:
        async with client(server, key="wrong") as api:
            with pytest.raises(openai.AuthenticationError) as caught:
                await api.models.list()
            assert "s3cret" not in caught.value.response.text
            assert caught.value.response.headers["WWW-Authenticate"] == "Bearer"
        async with client(server, key="s3cret") as api:
            models = await api.models.list()
            completion = await api.chat.completions.create(model="local-model", messages=HI)
        assert "local-model" in [m.id for m in models.data]
        assert completion.choices[0].message.content == REPLY
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{server.url}/models") as response:
                assert response.status == 401
            async with session.get(server.url.removesuffix("/v1") + "/health") as response:
                assert response.status == 200  # liveness probes need no key


def test_api_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(API_KEY_ENV, "from-env")
    found = ServerSettings.from_config({"port": 9000})
    assert found.api_key is not None and found.api_key.get_secret_value() == "from-env"
    assert "from-env" not in repr(found)
    assert ServerSettings.from_config({"api_key": "file"}).api_key == found.api_key
    explicit = ServerSettings.from_config({}, api_key="flag")
    assert explicit.api_key is not None and explicit.api_key.get_secret_value() == "flag"


def test_settings_come_from_the_server_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    config.configure({"server": {"port": 0, "max_body_bytes": 4096, "timeout": 5}})
    found = ServerSettings.from_config(port=None, timeout=9)
    assert (found.host, found.port, found.max_body_bytes, found.timeout) == (
        "127.0.0.1",
        0,
        4096,
        9,
    )
    assert found.api_key is None


def test_bad_server_table_is_a_configuration_error() -> None:
    with pytest.raises(g4f_lite.errors.ConfigurationError, match="port"):
        ServerSettings.from_config({"port": "eighty"})
    with pytest.raises(g4f_lite.errors.ConfigurationError, match="hots"):
        ServerSettings.from_config({"hots": "0.0.0.0"})


# -- listings -----------------------------------------------------------------------------


async def test_models_providers_and_health(server: Server) -> None:
    async with client(server) as api:
        models = await api.models.list()
    ids = {m.id: m for m in models.data}
    assert ids["local-model"].owned_by == "Local"
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{server.url}/providers") as response:
            listing = await response.json()
        async with session.get(server.url.removesuffix("/v1") + "/health") as response:
            health = await response.json()
    local = next(p for p in listing["data"] if p["name"] == "Local")
    assert local["working"] is True and local["health"]["state"] == "closed"
    assert health["status"] == "ok" and health["version"] == g4f_lite.__version__


async def test_disabled_providers_are_left_out(
    site: AIEngineEmulator, first_party_plugins: None
) -> None:
    config.configure(
        {
            "providers": {
                "Local": {
                    "kind": "aiengine",
                    "url": site.url,
                    "models": ["local-model"],
                    "enabled": False,
                }
            }
        }
    )
    async with Server(settings()) as server:
        status, body = await post(server, {"model": "", "messages": HI, "provider": "Local"})
        assert status == 404 and body["error"]["code"] == "provider_disabled"
        status, body = await post(server, {"model": "local-model", "messages": HI})
        assert status == 404 and body["error"]["code"] == "model_not_found"
        async with client(server) as api:
            assert "local-model" not in [m.id for m in (await api.models.list()).data]


# -- disconnects ---------------------------------------------------------------------------


@pytest.fixture
def tracked(local: AIEngineEmulator) -> asyncio.Event:
    """Provider ``Tracked`` (Opchatgpts on the site); the event is set when its stream closes."""
    closed = asyncio.Event()

    class Tracked(Opchatgpts):
        """Opchatgpts that reports when its stream is closed."""

        name = "Tracked"

        @classmethod
        async def create_async_generator(
            cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
        ) -> AsyncIterator[Chunk]:
            try:
                async for chunk in super().create_async_generator(
                    model, messages, proxy, base_url=local.url
                ):
                    yield chunk
            finally:
                closed.set()

    g4f_lite.register(Tracked)
    # The site stalls 1.2 s after two words: the stream can only end early by being closed.
    local.fault = Fault.stall(after=2, delay=1.2)
    return closed


async def test_client_disconnect_mid_stream_closes_the_upstream(
    local: AIEngineEmulator, tracked: asyncio.Event
) -> None:
    async with Server(settings()) as server:
        session = aiohttp.ClientSession()
        response = await session.post(
            f"{server.url}/chat/completions",
            json={"model": "", "messages": HI, "stream": True, "provider": "Tracked"},
        )
        assert response.status == 200
        assert b"Hello" in await response.content.readuntil(b"Hello")
        loop = asyncio.get_running_loop()
        started = loop.time()
        response.close()  # drop the connection mid-stream
        await session.close()
        await asyncio.wait_for(tracked.wait(), timeout=1.0)
        assert loop.time() - started < 1.0  # before the stall ends
    assert len(local.requests) == 1


async def test_client_disconnect_while_waiting_cancels_the_upstream(
    local: AIEngineEmulator, tracked: asyncio.Event
) -> None:
    async with Server(settings()) as server, aiohttp.ClientSession() as session:
        body = {"model": "", "messages": HI, "provider": "Tracked"}  # not streamed
        request = asyncio.ensure_future(session.post(f"{server.url}/chat/completions", json=body))
        while not local.requests:  # noqa: ASYNC110 - the emulator offers no event to wait on
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # into the stall
        request.cancel()  # the client gives up: its connection closes
        with pytest.raises(asyncio.CancelledError):
            await request
        await asyncio.wait_for(tracked.wait(), timeout=1.0)
    assert len(local.requests) == 1
