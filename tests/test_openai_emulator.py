"""The OpenAI emulator's chat surface (tools, tool results, usage, images, JSON, length), seen
from the official ``openai`` SDK: if the SDK accepts its answers, so will every other client."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletion

from g4f_lite.testing import Fault, OpenAIEmulator, RecordedRequest

MODEL = "emulated-model"
WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer"},
                "celsius": {"type": "boolean"},
                "threshold": {"type": "number"},
                "hours": {"type": "array", "items": {"type": "integer"}},
                "extra": {"type": "object"},
                "either": {"type": ["string", "null"]},
            },
            "required": ["city"],
        },
    },
}
TIME: Any = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}
DEFAULT_ARGUMENTS = {
    "city": "emulated",
    "days": 1,
    "celsius": True,
    "threshold": 1.5,
    "hours": [],
    "extra": {},
    "either": None,
}
ASK: Any = [{"role": "user", "content": "What is the weather in Paris?"}]


def calls_of(completion: ChatCompletion) -> list[Any]:
    """The tool calls of a whole answer (function calls: the SDK types them as a union)."""
    return list(completion.choices[0].message.tool_calls or [])


@pytest.fixture
async def server() -> AsyncIterator[OpenAIEmulator]:
    async with OpenAIEmulator(api_key="sk-test") as emulator:
        yield emulator


@pytest.fixture
async def client(server: OpenAIEmulator) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(api_key="sk-test", base_url=server.url, max_retries=0) as sdk:
        yield sdk


async def test_a_whole_tool_call(client: AsyncOpenAI, server: OpenAIEmulator) -> None:
    completion = await client.chat.completions.create(
        model=MODEL, messages=ASK, tools=[WEATHER, TIME]
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    [call] = calls_of(completion)
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == DEFAULT_ARGUMENTS
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 6  # the words of the question
    assert completion.usage.completion_tokens == len(call.function.arguments.split())
    assert completion.usage.total_tokens == 6 + completion.usage.completion_tokens
    assert server.requests[-1].body["tools"] == [WEATHER, TIME]


async def test_a_streamed_tool_call_with_usage(client: AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model=MODEL,
        messages=ASK,
        tools=[WEATHER],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    fragments: list[str] = []
    heads = []
    for chunk in chunks:
        for delta in (c.delta.tool_calls or [] for c in chunk.choices):
            for piece in delta:
                assert piece.index == 0
                if piece.id is not None:
                    heads.append((piece.id, piece.function and piece.function.name))
                if piece.function is not None and piece.function.arguments:
                    fragments.append(piece.function.arguments)
    [(call_id, name)] = heads
    assert call_id.startswith("call_") and name == "get_weather"
    assert len(fragments) >= 2
    assert json.loads("".join(fragments)) == DEFAULT_ARGUMENTS
    finishes = [c.finish_reason for chunk in chunks for c in chunk.choices if c.finish_reason]
    assert finishes == ["tool_calls"]
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == [] and usage_chunk.usage is not None
    assert usage_chunk.usage.completion_tokens >= 1
    assert all(chunk.usage is None for chunk in chunks[:-1])


async def test_a_stream_has_usage_only_when_asked(client: AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(model=MODEL, messages=ASK, stream=True)
    chunks = [chunk async for chunk in stream]
    assert all(chunk.usage is None and chunk.choices for chunk in chunks)
    text = "".join(c.delta.content or "" for chunk in chunks for c in chunk.choices)
    assert text.endswith("You said: What is the weather in Paris?")


async def test_tool_choice_names_the_tool_or_turns_tools_off(
    client: AsyncOpenAI, server: OpenAIEmulator
) -> None:
    named = await client.chat.completions.create(
        model=MODEL,
        messages=ASK,
        tools=[WEATHER, TIME],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    [call] = calls_of(named)
    assert (call.function.name, call.function.arguments) == ("get_time", "{}")
    assert named.usage is not None and named.usage.completion_tokens == 1  # at least 1
    plain = await client.chat.completions.create(
        model=MODEL, messages=ASK, tools=[WEATHER], tool_choice="none"
    )
    assert plain.choices[0].message.tool_calls is None
    assert plain.choices[0].finish_reason == "stop"


async def test_tool_arguments_given_as_text_or_computed(
    client: AsyncOpenAI, server: OpenAIEmulator
) -> None:
    server.tool_arguments = '{"city": "Paris"}'
    fixed = await client.chat.completions.create(model=MODEL, messages=ASK, tools=[WEATHER])
    assert calls_of(fixed)[0].function.arguments == server.tool_arguments

    def from_request(request: RecordedRequest) -> str:
        return json.dumps({"city": request.body["messages"][-1]["content"].split()[-1]})

    server.tool_arguments = from_request
    computed = await client.chat.completions.create(model=MODEL, messages=ASK, tools=[WEATHER])
    arguments = calls_of(computed)[0].function.arguments
    assert json.loads(arguments) == {"city": "Paris?"}


async def test_the_round_trip_ends_with_the_tool_result(client: AsyncOpenAI) -> None:
    first = await client.chat.completions.create(model=MODEL, messages=ASK, tools=[WEATHER])
    [call] = calls_of(first)
    messages: list[Any] = [
        *ASK,
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "22 C and sunny"},
    ]
    final = await client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER])
    assert final.choices[0].message.content == "The tool said: 22 C and sunny"
    assert final.choices[0].finish_reason == "stop"
    assert final.usage is not None
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (6 + 4, 7)


async def test_image_parts_are_recorded_unchanged_and_counted(
    client: AsyncOpenAI, server: OpenAIEmulator
) -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    content = [{"type": "text", "text": "What is"}, image, {"type": "text", "text": "this?"}]
    messages: list[Any] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": content},
    ]
    completion = await client.chat.completions.create(model=MODEL, messages=messages)
    assert completion.choices[0].message.content == (
        "Hello from the OpenAI-compatible emulator! You said: What is this? (with 1 image(s))"
    )
    assert completion.usage is not None and completion.usage.prompt_tokens == 5
    assert server.requests[-1].body["messages"] == messages


async def test_json_mode_answers_a_json_object(client: AsyncOpenAI) -> None:
    formats: list[Any] = [
        {"type": "json_object"},
        {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object"}}},
    ]
    for response_format in formats:
        completion = await client.chat.completions.create(
            model=MODEL,
            messages=ASK,
            response_format=response_format,
        )
        content = completion.choices[0].message.content or ""
        assert json.loads(content) == {
            "answer": "Hello from the OpenAI-compatible emulator! You said: "
            "What is the weather in Paris?"
        }


async def test_max_tokens_cuts_the_answer_with_finish_length(client: AsyncOpenAI) -> None:
    whole = await client.chat.completions.create(model=MODEL, messages=ASK, max_tokens=3)
    assert whole.choices[0].message.content == "Hello from the"
    assert whole.choices[0].finish_reason == "length"
    assert whole.usage is not None and whole.usage.completion_tokens == 3
    stream = await client.chat.completions.create(
        model=MODEL, messages=ASK, max_completion_tokens=2, stream=True
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.delta.content or "" for chunk in chunks for c in chunk.choices)
    assert text == "Hello from"
    assert chunks[-1].choices[0].finish_reason == "length"
    enough = await client.chat.completions.create(model=MODEL, messages=ASK, max_tokens=100)
    assert enough.choices[0].finish_reason == "stop"


async def test_unknown_fields_are_accepted_and_recorded(
    client: AsyncOpenAI, server: OpenAIEmulator
) -> None:
    completion = await client.chat.completions.create(
        model=MODEL, messages=ASK, extra_body={"top_k": 5, "mirostat": {"tau": 5.0}}
    )
    assert completion.choices[0].message.content
    assert server.requests[-1].body["top_k"] == 5
    assert server.requests[-1].body["mirostat"] == {"tau": 5.0}


async def test_faults_still_apply_to_a_streamed_tool_call(
    client: AsyncOpenAI, server: OpenAIEmulator
) -> None:
    server.faults.append(Fault.no_end())
    stream = await client.chat.completions.create(
        model=MODEL, messages=ASK, tools=[WEATHER], stream=True
    )
    chunks = [chunk async for chunk in stream]
    assert all(c.finish_reason is None for chunk in chunks for c in chunk.choices)
    fragments = [
        piece.function.arguments or ""
        for chunk in chunks
        for c in chunk.choices
        for piece in c.delta.tool_calls or []
        if piece.function is not None
    ]
    assert json.loads("".join(fragments)) == DEFAULT_ARGUMENTS
