"""``serve`` speaks the whole chat surface: tools, images, response formats, usage.

Every test runs against runtime-registered fake providers that yield text and
events directly, so what the server does with each event is seen without an
upstream in between (tests/test_server_tools.py goes through the ``openai``
kind and its emulator).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import aiohttp
import openai
import pytest
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessageParam,
    ChatCompletionToolParam,
)

import g4f_lite
from g4f_lite.policies import RetryPolicy
from g4f_lite.provider import SAMPLING_OPTIONS, AsyncGeneratorProvider
from g4f_lite.router import Router
from g4f_lite.server import Server, ServerSettings
from g4f_lite.types import Chunk, Finish, Messages, ToolCallDelta, Usage

HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Hi there"}]  # 8 characters
WEATHER_TOOL: ChatCompletionToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
M = "scripted-model"  # routes to Scripted: TextOnly lists no model
PNG = "data:image/png;base64,iVBORw0KGgo="


class Scripted(AsyncGeneratorProvider):
    """Can do everything; yields ``script`` and records every call's arguments."""

    working = True
    supports_stream = True
    supports_message_history = True
    supports_system_message = True
    supports_tools = True
    supports_vision = True
    supports_json_mode = True
    sampling_options = SAMPLING_OPTIONS
    models = ("scripted-model",)
    script: ClassVar[list[Chunk]] = ["Hello", " world"]
    calls: ClassVar[list[dict[str, Any]]] = []

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[Chunk]:
        cls.calls.append({"model": model, "messages": messages, **kwargs})
        for chunk in cls.script:
            yield chunk


class TextOnly(AsyncGeneratorProvider):
    """Text in, text out: no tools, no images, no JSON mode, no sampling options."""

    working = True
    supports_stream = True
    supports_message_history = True
    supports_system_message = True
    calls: ClassVar[list[dict[str, Any]]] = []

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[Chunk]:
        cls.calls.append({"model": model, "messages": messages, **kwargs})
        yield "plain text"


@pytest.fixture
def text_only() -> type[TextOnly]:
    """``TextOnly`` with a fresh call log, registered first (before ``Scripted``)."""
    provider = type("TextOnly", (TextOnly,), {"calls": []})
    g4f_lite.register(provider)  # first in registry order: capability must rule it out
    return provider


@pytest.fixture
def scripted(text_only: type[TextOnly]) -> type[Scripted]:
    """``Scripted`` with a fresh script and call log, registered after ``TextOnly``."""
    provider = type("Scripted", (Scripted,), {"script": ["Hello", " world"], "calls": []})
    g4f_lite.register(provider)
    return provider


@pytest.fixture
async def server(scripted: type[Scripted]) -> AsyncIterator[Server]:
    router = Router(retry=RetryPolicy(max_attempts=1))
    async with Server(ServerSettings(port=0), router=router) as running:
        yield running


def client(server: Server) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.url, api_key="unused", max_retries=0)


async def post(server: Server, body: dict[str, Any]) -> tuple[int, Any, Any]:
    """POST ``body`` as JSON: status, JSON answer and headers."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{server.url}/chat/completions", json=body) as response,
    ):
        return response.status, await response.json(), response.headers


async def events(server: Server, body: dict[str, Any]) -> list[dict[str, Any]]:
    """POST a streamed request; its events as JSON, after checking the ``[DONE]`` ending."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{server.url}/chat/completions", json={**body, "stream": True}) as response,
    ):
        assert response.status == 200, await response.text()
        lines = [line.decode().strip() async for line in response.content]
    data = [line[6:] for line in lines if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    found = [json.loads(item) for item in data[:-1]]
    for event in found:  # every event is a chunk, by the SDK's own model
        ChatCompletionChunk.model_validate(event)
    return found


# -- usage ---------------------------------------------------------------------------


async def test_non_streamed_usage_is_estimated_and_marked(server: Server) -> None:
    status, body, headers = await post(server, {"model": "scripted-model", "messages": HI})
    assert status == 200, body
    completion = ChatCompletion.model_validate(body)
    assert completion.choices[0].message.content == "Hello world"
    # ceil(8 / 4) for "Hi there", ceil(11 / 4) for "Hello world".
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (2, 3)
    assert completion.usage.total_tokens == 5
    assert headers["X-G4F-Usage"] == "estimated"
    assert body["provider"] == "Scripted" and "system_fingerprint" in body


async def test_provider_usage_is_reported_without_the_header(
    server: Server, scripted: type[Scripted]
) -> None:
    scripted.script = ["Hello", Usage.of(17, 4)]
    async with client(server) as api:
        response = await api.chat.completions.with_raw_response.create(
            model="scripted-model", messages=HI
        )
    completion = response.parse()
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (17, 4)
    assert completion.usage.total_tokens == 21
    assert "X-G4F-Usage" not in response.headers


async def test_estimate_counts_every_part_of_the_prompt_and_tool_arguments(
    server: Server, scripted: type[Scripted]
) -> None:
    scripted.script = [ToolCallDelta(0, id="call_a", name="get_weather", arguments="{}")]
    messages = [
        {"role": "system", "content": "a" * 7},
        {"role": "user", "content": [{"type": "text", "text": "b" * 5}, _image(PNG)]},
    ]
    status, body, headers = await post(
        server, {"model": M, "messages": messages, "tools": [WEATHER_TOOL]}
    )
    assert status == 200, body
    # Prompt: 7 + 5 characters of text (the image is not counted) -> 3 tokens;
    # answer: "get_weather" and "{}", 13 characters -> 4 tokens.
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    assert headers["X-G4F-Usage"] == "estimated"


async def test_include_usage_adds_a_last_chunk(server: Server) -> None:
    found = await events(
        server, {"model": M, "messages": HI, "stream_options": {"include_usage": True}}
    )
    last = found[-1]
    assert last["choices"] == [] and last["id"] == found[0]["id"]
    assert last["usage"] == {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}
    assert found[-2]["choices"][0]["finish_reason"] == "stop"
    assert all(event["usage"] is None for event in found[:-1])


async def test_include_usage_takes_the_providers_figures(
    server: Server, scripted: type[Scripted]
) -> None:
    scripted.script = [Usage.of(40, 9), "Hello"]  # reported before the text: still last
    async with client(server) as api:
        stream = await api.chat.completions.create(
            model=M, messages=HI, stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in stream]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (40, 9)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello"


async def test_no_usage_chunk_unless_asked(server: Server, scripted: type[Scripted]) -> None:
    scripted.script = ["Hello", Usage.of(1, 1)]
    found = await events(server, {"model": M, "messages": HI})
    assert all(event["choices"] for event in found)
    assert all(event["usage"] is None for event in found)


# -- tool calls ----------------------------------------------------------------------


def _weather_call() -> list[Chunk]:
    return [
        ToolCallDelta(0, id="call_w1", name="get_weather", arguments='{"city": '),
        ToolCallDelta(0, arguments='"Paris"}'),
    ]


async def test_tool_calls_in_a_whole_answer(server: Server, scripted: type[Scripted]) -> None:
    scripted.script = _weather_call()
    async with client(server) as api:
        completion = await api.chat.completions.create(
            model=M,
            messages=HI,
            tools=[WEATHER_TOOL],
        )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    [call] = choice.message.tool_calls or []
    assert call.id == "call_w1" and call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert completion.usage is not None


async def test_tool_calls_streamed(server: Server, scripted: type[Scripted]) -> None:
    scripted.script = [
        *_weather_call(),
        ToolCallDelta(1, name="get_time", arguments="{}"),  # no id: the server makes one
    ]
    async with client(server) as api:
        stream = await api.chat.completions.create(
            model=M,
            messages=HI,
            tools=[WEATHER_TOOL],
            stream=True,
        )
        chunks = [chunk async for chunk in stream]
    pieces = [piece for c in chunks for piece in c.choices[0].delta.tool_calls or []]
    first, second, third = pieces
    assert (first.index, first.id, first.type) == (0, "call_w1", "function")
    assert first.function is not None and first.function.name == "get_weather"
    assert second.id is None and second.function is not None and second.function.name is None
    assert third.index == 1 and third.id and third.id.startswith("call_")
    arguments = "".join(p.function.arguments or "" for p in pieces if p.index == 0 and p.function)
    assert json.loads(arguments) == {"city": "Paris"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


async def test_reported_finish_reason_wins(server: Server, scripted: type[Scripted]) -> None:
    scripted.script = ["Once upon", Finish("length")]
    status, body, _ = await post(server, {"model": M, "messages": HI, "max_tokens": 2})
    assert status == 200 and body["choices"][0]["finish_reason"] == "length"
    found = await events(server, {"model": M, "messages": HI, "max_tokens": 2})
    assert found[-1]["choices"][0]["finish_reason"] == "length"


async def test_the_tool_round_trip_reaches_the_provider(
    server: Server, scripted: type[Scripted]
) -> None:
    conversation: list[dict[str, Any]] = [
        {"role": "developer", "content": "Use tools."},
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "index": 0,  # as an SDK's stream accumulator leaves it: ignored
                    "id": "call_w1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_w1", "content": "sunny"},
    ]
    status, body, _ = await post(
        server, {"model": M, "messages": conversation, "tools": [WEATHER_TOOL]}
    )
    assert status == 200, body
    sent = scripted.calls[-1]["messages"]
    assert sent[0] == {"role": "system", "content": "Use tools."}
    assert sent[2] == {
        "role": "assistant",
        "tool_calls": [
            {
                "id": "call_w1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    }
    assert sent[3] == {"role": "tool", "tool_call_id": "call_w1", "content": "sunny"}


# -- what reaches the provider ------------------------------------------------------------


async def test_request_options_reach_the_provider(server: Server, scripted: type[Scripted]) -> None:
    options: dict[str, Any] = {
        "temperature": 0.5,
        "top_p": 0.9,
        "max_tokens": 50,
        "max_completion_tokens": 60,
        "stop": ["\n"],
        "seed": 7,
        "presence_penalty": 0.1,
        "frequency_penalty": -0.1,
        "user": "someone",
        "tools": [WEATHER_TOOL],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": False,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": True},
        },
    }
    status, body, _ = await post(server, {"model": M, "messages": HI, **options})
    assert status == 200, body
    got = scripted.calls[-1]
    for name, value in options.items():
        assert got[name] == value, name
    assert got["stream"] is False  # a whole answer is asked for as such


async def test_options_a_provider_does_not_take_are_dropped(
    server: Server, text_only: type[TextOnly]
) -> None:
    status, body, _ = await post(
        server,
        {"model": "", "messages": HI, "provider": "TextOnly", "temperature": 0.3, "seed": 1},
    )
    assert status == 200 and body["choices"][0]["message"]["content"] == "plain text"
    [call] = text_only.calls
    assert "temperature" not in call and "seed" not in call


async def test_an_image_part_reaches_the_provider_unchanged(
    server: Server, scripted: type[Scripted]
) -> None:
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": PNG, "detail": "low"}},
    ]
    async with client(server) as api:
        completion = await api.chat.completions.create(
            model=M,
            messages=[{"role": "user", "content": content}],  # type: ignore[list-item, misc]
        )
    assert completion.choices[0].message.content == "Hello world"
    assert scripted.calls[-1]["messages"] == [{"role": "user", "content": content}]


async def test_the_router_picks_a_provider_that_can(
    server: Server, scripted: type[Scripted]
) -> None:
    # TextOnly is registered first; tools, images and JSON mode each rule it out.
    for extra in (
        {"tools": [WEATHER_TOOL]},
        {"response_format": {"type": "json_object"}},
        {"messages": [{"role": "user", "content": [_image(PNG)]}]},
    ):
        status, body, _ = await post(server, {"model": "", "messages": HI, **extra})
        assert status == 200 and body["provider"] == "Scripted", extra
    status, body, _ = await post(server, {"model": "", "messages": HI})
    assert body["provider"] == "TextOnly"  # nothing special: the first one


@pytest.mark.parametrize(
    ("extra", "param", "said"),
    [
        ({"tools": [WEATHER_TOOL]}, "tools", "cannot call tools"),
        ({"response_format": {"type": "json_object"}}, "response_format", "no JSON mode"),
        (
            {"messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]},
            None,
            None,
        ),
    ],
)
async def test_a_named_provider_that_cannot_is_a_400(
    server: Server, extra: dict[str, Any], param: str | None, said: str | None
) -> None:
    body = {"model": "", "messages": HI, "provider": "TextOnly", **extra}
    status, answer, _ = await post(server, body)
    if said is None:  # text parts only: a text provider takes them
        assert status == 200, answer
        return
    assert status == 400
    error = answer["error"]
    assert error["code"] == "unsupported_feature" and error["param"] == param
    assert "TextOnly" in error["message"] and said in error["message"]


async def test_an_image_for_a_named_text_provider_is_a_400(server: Server) -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": "x"}, _image(PNG)]}]
    status, answer, _ = await post(
        server, {"model": "", "messages": messages, "provider": "TextOnly"}
    )
    assert status == 400
    assert answer["error"]["code"] == "unsupported_feature"
    assert answer["error"]["param"] == "messages"
    assert "TextOnly" in answer["error"]["message"] and "images" in answer["error"]["message"]


async def test_tool_choice_none_with_a_text_provider_is_fine(server: Server) -> None:
    status, answer, _ = await post(
        server, {"model": "", "messages": HI, "provider": "TextOnly", "tool_choice": "none"}
    )
    assert status == 200, answer


# -- what stays refused -------------------------------------------------------------------


async def test_n_above_one_is_a_400(server: Server) -> None:
    async with client(server) as api:
        with pytest.raises(openai.BadRequestError) as caught:
            await api.chat.completions.create(model=M, messages=HI, n=2)
    assert caught.value.param == "n"


async def test_legacy_completions_is_a_clear_404(server: Server) -> None:
    async with client(server) as api:
        with pytest.raises(openai.NotFoundError) as caught:
            await api.completions.create(model="scripted-model", prompt="Hi")
    assert caught.value.code == "unsupported_endpoint"
    assert "/v1/chat/completions" in caught.value.message


async def test_bad_image_urls_are_400s(server: Server, scripted: type[Scripted]) -> None:
    for url in ("http://example.com/a.png", "file:///etc/passwd", "ftp://x/y", ""):
        messages = [{"role": "user", "content": [_image(url)]}]
        status, answer, _ = await post(server, {"model": M, "messages": messages})
        assert status == 400, url
        assert answer["error"]["param"] == "messages.0.content.0.image_url.url"
        assert "https: or data:" in answer["error"]["message"]
    assert not scripted.calls


def _image(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}
