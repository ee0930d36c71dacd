"""The official ``openai`` SDK through ``serve``, the ``openai`` kind and the OpenAI emulator.

The whole path a deployed gateway runs: SDK -> ``g4f-lite serve`` -> router
-> ``openai`` provider kind -> an OpenAI-compatible upstream (the emulator),
for tool calls, images, response formats and usage.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, cast

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam
from openai.types.chat.completion_create_params import ResponseFormat

from g4f_lite import config
from g4f_lite.policies import RetryPolicy
from g4f_lite.router import Router
from g4f_lite.server import Server, ServerSettings
from g4f_lite.testing import OpenAIEmulator

pytestmark = pytest.mark.usefixtures("first_party_plugins")

MODEL = "emulated-model"
WEATHER: ChatCompletionToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city", "days"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}
ASK: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Weather in Paris?"}]


@pytest.fixture
async def server(openai_server: OpenAIEmulator) -> AsyncIterator[Server]:
    """``serve`` over provider ``Up`` (the ``openai`` kind) aimed at the emulator."""
    # A configuration table, as an operator declares it: its api_key counts as
    # configured credentials when the router picks a provider for the model.
    config.configure(
        {
            "providers": {
                "Up": {
                    "kind": "openai",
                    "base_url": openai_server.url,
                    "api_key": "sk-test",
                    "models": [MODEL],
                }
            }
        }
    )
    router = Router(retry=RetryPolicy(max_attempts=1))
    async with Server(ServerSettings(port=0), router=router) as running:
        yield running


def client(server: Server) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.url, api_key="unused", max_retries=0)


async def test_tool_call_round_trip(server: Server, openai_server: OpenAIEmulator) -> None:
    async with client(server) as api:
        first = await api.chat.completions.create(model=MODEL, messages=ASK, tools=[WEATHER])
        choice = first.choices[0]
        assert choice.finish_reason == "tool_calls" and choice.message.content is None
        [call] = choice.message.tool_calls or []
        assert call.type == "function" and call.id.startswith("call_")
        assert call.function.name == "get_weather"
        assert json.loads(call.function.arguments) == {"city": "emulated", "days": 1}
        assert first.usage is not None and first.usage.total_tokens > 0
        # The client runs the tool and sends its result back.
        follow_up: list[ChatCompletionMessageParam] = [
            *ASK,
            choice.message.model_dump(exclude_none=True),  # type: ignore[list-item]
            {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"},
        ]
        final = await api.chat.completions.create(model=MODEL, messages=follow_up, tools=[WEATHER])
    assert final.choices[0].message.content == "The tool said: sunny, 21 C"
    assert final.choices[0].finish_reason == "stop"
    assert final.usage is not None and final.usage.prompt_tokens > 0
    sent = openai_server.requests[-1].body
    assert sent["messages"][1]["tool_calls"][0]["id"] == call.id
    assert sent["messages"][2] == {
        "role": "tool",
        "tool_call_id": call.id,
        "content": "sunny, 21 C",
    }
    assert sent["tools"] == [WEATHER]


async def test_named_tool_choice_reaches_the_upstream(
    server: Server, openai_server: OpenAIEmulator
) -> None:
    other: ChatCompletionToolParam = {
        "type": "function",
        "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
    }
    async with client(server) as api:
        completion = await api.chat.completions.create(
            model=MODEL,
            messages=ASK,
            tools=[WEATHER, other],
            tool_choice={"type": "function", "function": {"name": "get_time"}},
            parallel_tool_calls=False,
        )
    [call] = completion.choices[0].message.tool_calls or []
    assert call.type == "function" and call.function.name == "get_time"
    body = openai_server.requests[-1].body
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_time"}}
    assert body["parallel_tool_calls"] is False


async def test_streamed_tool_call_reassembled_by_the_sdk(server: Server) -> None:
    async with (
        client(server) as api,
        api.chat.completions.stream(model=MODEL, messages=ASK, tools=[WEATHER]) as stream,
    ):
        pieces = 0
        async for event in stream:
            if event.type == "tool_calls.function.arguments.delta":
                pieces += 1
        final = await stream.get_final_completion()
    assert pieces >= 2  # the arguments arrived in fragments
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls or []
    assert call.function.name == "get_weather" and call.id.startswith("call_")
    assert call.function.parsed_arguments == {"city": "emulated", "days": 1}


async def test_streamed_tool_call_accumulated_by_hand(server: Server) -> None:
    calls: dict[int, dict[str, str]] = {}
    finish = None
    async with client(server) as api:
        stream = await api.chat.completions.create(
            model=MODEL, messages=ASK, tools=[WEATHER], stream=True
        )
        async for chunk in stream:
            for piece in chunk.choices[0].delta.tool_calls or []:
                call = calls.setdefault(piece.index, {"id": "", "name": "", "arguments": ""})
                call["id"] += piece.id or ""
                if piece.function is not None:
                    call["name"] += piece.function.name or ""
                    call["arguments"] += piece.function.arguments or ""
            finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls"
    [call] = calls.values()
    assert call["name"] == "get_weather" and call["id"].startswith("call_")
    assert json.loads(call["arguments"]) == {"city": "emulated", "days": 1}


async def test_image_part_reaches_the_upstream_unchanged(
    server: Server, openai_server: OpenAIEmulator
) -> None:
    content: list[dict[str, Any]] = [
        {"type": "text", "text": "What is in this picture?"},
        {
            "type": "image_url",
            "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"},
        },
        {"type": "image_url", "image_url": {"url": "https://example.org/cat.png"}},
    ]
    async with client(server) as api:
        completion = await api.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": content}],  # type: ignore[list-item, misc]
        )
    assert openai_server.requests[-1].body["messages"] == [{"role": "user", "content": content}]
    text = completion.choices[0].message.content or ""
    assert text.endswith("What is in this picture? (with 2 image(s))")


async def test_usage_in_whole_answers_and_streams(server: Server) -> None:
    async with client(server) as api:
        response = await api.chat.completions.with_raw_response.create(
            model=MODEL, messages=[{"role": "user", "content": "one two three"}]
        )
        completion = response.parse()
        streamed = await api.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "one two three"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in streamed]
        plain = await api.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "one two three"}], stream=True
        )
        plain_chunks = [chunk async for chunk in plain]
    # The upstream's own figures (three words), not an estimate.
    assert completion.usage is not None and completion.usage.prompt_tokens == 3
    assert "X-G4F-Usage" not in response.headers
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None and last.usage.prompt_tokens == 3
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    assert all(chunk.choices and chunk.usage is None for chunk in plain_chunks)


@pytest.mark.parametrize(
    "response_format",
    [
        {"type": "json_object"},
        {
            "type": "json_schema",
            "json_schema": {
                "name": "answer",
                "schema": {"type": "object", "properties": {"answer": {"type": "string"}}},
            },
        },
    ],
)
async def test_response_format_passes_through(
    server: Server, openai_server: OpenAIEmulator, response_format: dict[str, Any]
) -> None:
    async with client(server) as api:
        completion = await api.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "Hi"}],
            response_format=cast("ResponseFormat", response_format),
        )
    assert openai_server.requests[-1].body["response_format"] == response_format
    answer = json.loads(completion.choices[0].message.content or "")
    assert set(answer) == {"answer"} and answer["answer"].endswith("Hi")


async def test_sampling_options_reach_the_upstream(
    server: Server, openai_server: OpenAIEmulator
) -> None:
    async with client(server) as api:
        completion = await api.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "Hi"}],
            temperature=0.25,
            top_p=0.5,
            max_tokens=2,
            seed=11,
            stop=["END"],
        )
    body = openai_server.requests[-1].body
    assert (body["temperature"], body["top_p"], body["max_tokens"], body["seed"]) == (
        0.25,
        0.5,
        2,
        11,
    )
    assert body["stop"] == ["END"]
    assert completion.choices[0].finish_reason == "length"
    assert len((completion.choices[0].message.content or "").split()) == 2
