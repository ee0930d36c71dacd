"""``Client`` / ``AsyncClient`` results: OpenAI's shapes, built from text and events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest
from openai.types.chat import ChatCompletion as OpenAICompletion
from openai.types.chat import ChatCompletionChunk as OpenAIChunk

import g4f_lite
from g4f_lite.provider import AsyncGeneratorProvider
from g4f_lite.registry import registry
from g4f_lite.testing import AIEngineEmulator
from g4f_lite.types import Chunk, Finish, Messages, Reasoning, ToolCallDelta, Usage

USER = [{"role": "user", "content": "What is the weather in Paris?"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


class Scripted(AsyncGeneratorProvider):
    """Yields ``script`` (text and events); records the keyword arguments it got."""

    working = True
    supports_tools = True
    sampling_options = frozenset({"temperature", "max_tokens"})
    script: ClassVar[list[Chunk]] = []
    calls: ClassVar[list[dict[str, Any]]] = []

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[Chunk]:
        cls.calls.append(kwargs)
        for chunk in cls.script:
            yield chunk


def scripted(name: str, script: list[Chunk], **flags: Any) -> type[Scripted]:
    cls = type(name, (Scripted,), {"name": name, "script": script, "calls": [], **flags})
    return registry.register(cls)


TOOL_SCRIPT: list[Chunk] = [
    ToolCallDelta(0, id="call_abc", name="get_weather"),
    ToolCallDelta(0, arguments='{"city": '),
    ToolCallDelta(0, arguments='"Paris"}'),
    Usage.of(8, 5),
]


async def test_text_answer_has_openai_shape_and_no_invented_usage(site: AIEngineEmulator) -> None:
    site.usage = None  # a site that reports no usage
    async with g4f_lite.AsyncClient() as client:
        result = await client.chat.completions.create(
            model="gpt-3.5-turbo", messages=USER, provider="Opchatgpts", base_url=site.url
        )
    assert result.choices[0].message.content.endswith("You said: " + USER[0]["content"])
    assert result.choices[0].message.role == "assistant"
    assert result.choices[0].message.tool_calls is None
    assert result.choices[0].finish_reason == "stop"
    assert result.model == "gpt-3.5-turbo"
    assert result.id.startswith("chatcmpl-")
    assert result.provider == "Opchatgpts"
    assert result.usage is None
    assert OpenAICompletion.model_validate(result.model_dump()).choices[0].message.content == (
        result.choices[0].message.content
    )


async def test_tool_call_answer_with_usage() -> None:
    scripted("Tooly", TOOL_SCRIPT)
    async with g4f_lite.AsyncClient() as client:
        result = await client.chat.completions.create(
            model="", messages=USER, tools=[WEATHER_TOOL], temperature=0.5
        )
    message = result.choices[0].message
    assert message.content is None
    assert message.tool_calls is not None
    call = message.tool_calls[0]
    assert (call.id, call.type, call.function.name) == ("call_abc", "function", "get_weather")
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert result.choices[0].finish_reason == "tool_calls"
    assert result.usage is not None
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (8, 5)
    assert result.usage.total_tokens == 13
    assert result.provider == "Tooly"
    validated = OpenAICompletion.model_validate(result.model_dump()).choices[0].message
    assert validated.tool_calls is not None
    assert validated.tool_calls[0].model_dump()["function"]["name"] == "get_weather"


async def test_options_reach_the_provider_and_unset_ones_do_not() -> None:
    provider = scripted("Tooly", ["ok"])
    async with g4f_lite.AsyncClient() as client:
        await client.chat.completions.create(
            model="", messages=USER, provider="Tooly", temperature=0.25, tools=[WEATHER_TOOL]
        )
    sent = provider.calls[-1]
    assert sent["temperature"] == 0.25
    assert sent["tools"] == [WEATHER_TOOL]
    assert "max_tokens" not in sent and "top_p" not in sent and "seed" not in sent


async def test_bad_arguments_raise_before_any_request(site: AIEngineEmulator) -> None:
    async with g4f_lite.AsyncClient() as client:
        with pytest.raises(g4f_lite.InvalidMessagesError):
            await client.chat.completions.create(
                model="", messages=[{"role": "wizard", "content": "x"}], base_url=site.url
            )
        with pytest.raises(g4f_lite.UnsupportedFeatureError):
            await client.chat.completions.create(
                model="", messages=USER, provider="Opchatgpts", tools=[WEATHER_TOOL]
            )
    assert site.requests == []


async def test_stream_chunks_have_openai_shape(site: AIEngineEmulator) -> None:
    async with g4f_lite.AsyncClient() as client:
        stream = await client.chat.completions.create(
            model="m", messages=USER, provider="Opchatgpts", base_url=site.url, stream=True
        )
        chunks = [chunk async for chunk in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    # The site reports usage: a last chunk without choices carries it.
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens > 0
    chunks, usage_chunk = chunks[:-1], chunks[-1]
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text.endswith("You said: " + USER[0]["content"])
    assert [c.choices[0].finish_reason for c in chunks][-1] == "stop"
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])
    chunks.append(usage_chunk)
    assert len({(c.id, c.created, c.model, c.provider) for c in chunks}) == 1
    assert chunks[0].provider == "Opchatgpts"
    for chunk in chunks:
        assert OpenAIChunk.model_validate(chunk.model_dump()).id == chunk.id


async def test_streamed_tool_calls_and_usage_chunk() -> None:
    scripted("Tooly", [*TOOL_SCRIPT, Reasoning("not shown"), Finish("tool_calls")])
    async with g4f_lite.AsyncClient() as client:
        stream = await client.chat.completions.create(
            model="", messages=USER, tools=[WEATHER_TOOL], stream=True
        )
        async with stream:
            chunks = [chunk async for chunk in stream]
    pieces = [
        c.choices[0].delta.tool_calls[0]
        for c in chunks
        if c.choices and c.choices[0].delta.tool_calls
    ]
    assert len(pieces) == 3
    assert pieces[0].function is not None
    assert (pieces[0].id, pieces[0].type, pieces[0].function.name) == (
        "call_abc",
        "function",
        "get_weather",
    )
    assert all(p.id is None and p.type is None for p in pieces[1:])
    arguments = "".join(p.function.arguments or "" for p in pieces if p.function)
    assert json.loads(arguments) == {"city": "Paris"}
    finish = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert [c.choices[0].finish_reason for c in finish] == ["tool_calls"]
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None and last.usage.total_tokens == 13
    for chunk in chunks:
        OpenAIChunk.model_validate(chunk.model_dump())


def test_sync_client_streams_and_answers(aiengine_emulator: AIEngineEmulator) -> None:
    url = aiengine_emulator.url
    with g4f_lite.Client() as client:
        result = client.chat.completions.create(
            model="", messages=USER, provider="Opchatgpts", base_url=url
        )
        with client.chat.completions.create(
            model="", messages=USER, provider="Opchatgpts", base_url=url, stream=True
        ) as stream:
            text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == result.choices[0].message.content
    assert result.provider == "Opchatgpts"


def test_sync_stream_of_events() -> None:
    scripted("Tooly", ["It is ", "sunny", Usage.of(3, 2)])
    with g4f_lite.Client() as client:
        chunks = list(client.chat.completions.create(model="", messages=USER, stream=True))
    assert [c.choices[0].delta.content for c in chunks[1:3]] == ["It is ", "sunny"]
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 5


class Endless(AsyncGeneratorProvider):
    """Streams two chunks, then waits for ever; notes when its generator is closed."""

    working = True
    closed: ClassVar[list[bool]] = []

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[str]:
        try:
            yield "one "
            yield "two "
            await asyncio.Event().wait()
            yield "never"
        finally:
            cls.closed.append(True)


async def test_leaving_the_async_stream_closes_the_provider_at_once() -> None:
    provider: type[Endless] = registry.register(
        type("Endless", (Endless,), {"name": "Endless", "closed": []})
    )
    async with g4f_lite.AsyncClient() as client:
        stream = await client.chat.completions.create(model="", messages=USER, stream=True)
        async with stream:
            async for chunk in stream:
                if chunk.choices[0].delta.content == "two ":
                    break
        assert provider.closed == [True]


def test_leaving_the_sync_stream_closes_the_provider_at_once() -> None:
    provider: type[Endless] = registry.register(
        type("Endless", (Endless,), {"name": "Endless", "closed": []})
    )
    with g4f_lite.Client() as client:
        with client.chat.completions.create(model="", messages=USER, stream=True) as stream:
            assert next(stream).choices[0].delta.role == "assistant"
            assert next(stream).choices[0].delta.content == "one "
        assert provider.closed == [True]


def test_legacy_chat_completion_ignores_events() -> None:
    scripted("Tooly", ["It is ", ToolCallDelta(0, id="c", name="f"), "sunny", Usage.of(1, 1)])
    assert g4f_lite.ChatCompletion.create("", USER) == "It is sunny"
    assert list(g4f_lite.ChatCompletion.create("", USER, stream=True)) == ["It is ", "sunny"]


async def test_stream_chunks_dump_to_openai_json() -> None:
    scripted("Tooly", ["Hi", *TOOL_SCRIPT])
    async with g4f_lite.AsyncClient() as client:
        stream = await client.chat.completions.create(
            model="", messages=USER, tools=[WEATHER_TOOL], stream=True
        )
        async with stream:
            chunks = [chunk async for chunk in stream]
    for chunk in chunks:
        as_json = json.loads(chunk.model_dump_json())
        assert as_json == chunk.model_dump()
        assert OpenAIChunk.model_validate(as_json).id == chunk.id
    pieces = [
        c.choices[0].delta.tool_calls for c in chunks if c.choices and c.choices[0].delta.tool_calls
    ]
    assert pieces[0][0].model_dump(exclude_none=True) == {
        "index": 0,
        "id": "call_abc",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    assert chunks[-1].model_dump()["usage"] == {
        "prompt_tokens": 8,
        "completion_tokens": 5,
        "total_tokens": 13,
    }
