"""The ``openai`` kind's whole chat surface through g4f-lite's router, against the emulator:
tools (streamed and whole), usage, images, JSON mode, sampling options, reasoning, and typed
errors for malformed tool-call data."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

import g4f_lite
from g4f_lite.answer import Answer
from g4f_lite.errors import BrokenLineError, PartialResponseError, ProtocolError
from g4f_lite.provider import BaseProvider, run_provider
from g4f_lite.router import Router
from g4f_lite.testing import Fault, OpenAIEmulator
from g4f_lite.types import Chunk, Finish, Reasoning, ToolCallDelta, Usage

pytestmark = pytest.mark.usefixtures("first_party_plugins")

MODEL = "emulated-model"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        },
    },
}
ASK = [{"role": "user", "content": "Weather in Paris?"}]
ARGUMENTS = '{"city": "Paris", "days": 3}'


def declare(server: OpenAIEmulator, name: str = "Local", **options: Any) -> type[BaseProvider]:
    """An ``openai`` endpoint on the emulator, declared as a configuration table would be."""
    g4f_lite.configure(
        {
            "providers": {
                name: {
                    "kind": "openai",
                    "base_url": server.url,
                    "api_key": "sk-test",
                    "models": [MODEL],
                    **options,
                }
            }
        }
    )
    return g4f_lite.get_provider(name)


async def streamed(
    server: OpenAIEmulator, messages: Any = ASK, **kwargs: Any
) -> tuple[list[Chunk], Answer]:
    declare(server)
    call = Router().plan(MODEL, messages, provider="Local", stream=True, **kwargs)
    chunks = [chunk async for chunk in call.events()]
    return chunks, Answer(chunks, call.answered_by)


async def whole(server: OpenAIEmulator, messages: Any = ASK, **kwargs: Any) -> Answer:
    declare(server)
    return await Router().plan(MODEL, messages, provider="Local", **kwargs).answer()


def words(text: str) -> int:
    return len(text.split())


async def test_a_streamed_tool_call_is_reassembled(openai_server: OpenAIEmulator) -> None:
    openai_server.tool_arguments = ARGUMENTS
    chunks, answer = await streamed(openai_server, tools=[WEATHER], tool_choice="auto")
    deltas = [c for c in chunks if isinstance(c, ToolCallDelta)]
    assert len(deltas) >= 3  # the head, then the arguments in fragments
    assert deltas[0].name == "get_weather" and deltas[0].id
    [call] = answer.tool_calls
    assert (call.id, call.function.name, call.function.arguments) == (
        deltas[0].id,
        "get_weather",
        ARGUMENTS,
    )
    assert answer.finish_reason == "tool_calls"
    assert answer.text == "" and answer.provider == "Local"
    body = openai_server.requests[-1].body
    assert body["stream"] is True
    assert (body["tools"], body["tool_choice"]) == ([WEATHER], "auto")


async def test_a_whole_answer_goes_upstream_unstreamed(openai_server: OpenAIEmulator) -> None:
    answer = await whole(openai_server, tools=[WEATHER], parallel_tool_calls=False)
    body = openai_server.requests[-1].body
    assert body["stream"] is False and "stream_options" not in body
    assert body["parallel_tool_calls"] is False
    [call] = answer.tool_calls
    assert call.id.startswith("call_") and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "emulated", "days": 1}
    assert answer.finish_reason == "tool_calls"
    assert answer.usage == Usage.of(words("Weather in Paris?"), words(call.function.arguments))


async def test_a_whole_tool_call_is_one_delta_with_all_its_arguments(
    openai_server: OpenAIEmulator,
) -> None:
    openai_server.tool_arguments = ARGUMENTS
    provider = declare(openai_server)
    chunks = [c async for c in run_provider(provider, MODEL, ASK, tools=[WEATHER], stream=False)]
    [delta] = [c for c in chunks if isinstance(c, ToolCallDelta)]
    assert (delta.index, delta.name, delta.arguments) == (0, "get_weather", ARGUMENTS)
    assert delta.id is not None and delta.id.startswith("call_")
    assert Finish("tool_calls") in chunks
    assert not [c for c in chunks if type(c) is str]  # a tool call only: no empty text


async def test_the_tool_result_turn_reaches_upstream_unchanged(
    openai_server: OpenAIEmulator,
) -> None:
    messages = [
        *ASK,
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ARGUMENTS},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "22 C"},
    ]
    answer = await whole(openai_server, messages, tools=[WEATHER])
    assert answer.text == "The tool said: 22 C"
    assert answer.finish_reason == "stop" and not answer.has_tool_calls
    assert openai_server.requests[-1].body["messages"] == messages


async def test_usage_streamed_and_whole(openai_server: OpenAIEmulator) -> None:
    openai_server.reply = "one two three"
    expected = Usage.of(words("Weather in Paris?"), 3)
    chunks, answer = await streamed(openai_server)
    assert openai_server.requests[-1].body["stream_options"] == {"include_usage": True}
    assert chunks[-1] == expected and answer.usage == expected
    assert answer.text == "one two three" and answer.finish_reason == "stop"
    assert (await whole(openai_server)).usage == expected


async def test_stream_usage_off_for_servers_that_reject_it(
    openai_server: OpenAIEmulator,
) -> None:
    declare(openai_server, stream_usage=False)
    chunks = [c async for c in Router().plan(MODEL, ASK, provider="Local", stream=True).events()]
    assert "stream_options" not in openai_server.requests[-1].body
    assert not [c for c in chunks if isinstance(c, Usage)]
    assert Answer(chunks).usage is None  # never invented


async def test_an_image_part_reaches_upstream_unchanged(openai_server: OpenAIEmulator) -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    messages = [{"role": "user", "content": [{"type": "text", "text": "What is this?"}, image]}]
    answer = await whole(openai_server, messages)
    assert openai_server.requests[-1].body["messages"] == messages
    assert answer.text.endswith("You said: What is this? (with 1 image(s))")


async def test_response_format_passes_through(openai_server: OpenAIEmulator) -> None:
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "reply", "schema": {"type": "object"}},
    }
    _, answer = await streamed(openai_server, response_format=response_format)
    assert openai_server.requests[-1].body["response_format"] == response_format
    assert set(json.loads(answer.text)) == {"answer"}


async def test_sampling_options_reach_the_body(openai_server: OpenAIEmulator) -> None:
    options = {
        "temperature": 0.3,
        "top_p": 0.9,
        "max_tokens": 2,
        "stop": ["\n"],
        "seed": 7,
        "presence_penalty": 0.1,
        "frequency_penalty": 0.2,
        "user": "u-1",
    }
    answer = await whole(openai_server, **options)
    body = openai_server.requests[-1].body
    assert {key: body[key] for key in options} == options
    assert (answer.text, answer.finish_reason) == ("Hello from", "length")
    assert g4f_lite.get_provider("Local").get_info().sampling_options == sorted(
        [*options, "max_completion_tokens"]
    )


async def test_options_a_server_does_not_take_are_dropped(
    openai_server: OpenAIEmulator,
) -> None:
    provider = declare(openai_server, sampling_options=["temperature"])
    assert provider.get_info().sampling_options == ["temperature"]
    call = Router().plan(MODEL, ASK, provider="Local", temperature=0.5, top_p=0.1, seed=3)
    await call.answer()
    body = openai_server.requests[-1].body
    assert body["temperature"] == 0.5
    assert "top_p" not in body and "seed" not in body
    # Called directly, the provider keeps to its list too.
    assert [c async for c in run_provider(provider, MODEL, ASK, top_p=0.1, stream=False)]
    assert "top_p" not in openai_server.requests[-1].body


def sse(*events: Any) -> Fault:
    """A 200 stream of exactly these events, then ``[DONE]``."""
    lines = [b"data: " + json.dumps(event).encode() + b"\n\n" for event in events]
    return Fault.raw(200, (*lines, b"data: [DONE]\n\n"), (("Content-Type", "text/event-stream"),))


def delta_event(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}


def tool_delta(**call: Any) -> dict[str, Any]:
    return delta_event({"tool_calls": [call]})


MALFORMED_STREAMS = {
    "index is text": tool_delta(index="0", id="c", function={"name": "f", "arguments": ""}),
    "index is negative": tool_delta(index=-1, function={"arguments": "{}"}),
    "index is a boolean": tool_delta(index=True, function={"arguments": "{}"}),
    "arguments are an object": tool_delta(index=0, function={"arguments": {"city": "P"}}),
    "name is a number": tool_delta(index=0, id="c", function={"name": 5}),
    "id is a list": tool_delta(index=0, id=["c"], function={"name": "f"}),
    "function is text": tool_delta(index=0, function="f"),
    "call is text": delta_event({"tool_calls": ["f"]}),
    "tool_calls is an object": delta_event({"tool_calls": {"index": 0}}),
    "usage has no counts": delta_event({}, "stop", usage={"prompt_tokens": "many"}),
}


@pytest.mark.parametrize("event", MALFORMED_STREAMS.values(), ids=MALFORMED_STREAMS.keys())
async def test_malformed_streamed_tool_calls_are_typed_errors(
    openai_server: OpenAIEmulator, event: dict[str, Any]
) -> None:
    openai_server.faults.append(sse(delta_event({"content": "Hi"}), event))
    with pytest.raises(PartialResponseError) as info:  # "Hi" was delivered
        await streamed(openai_server, tools=[WEATHER])
    assert info.value.partial == "Hi"
    assert isinstance(info.value.cause, BrokenLineError)
    assert info.value.cause.provider == "Local"


MALFORMED_CALLS = {
    "arguments are an object": {"id": "c", "function": {"name": "f", "arguments": {}}},
    "no function": {"id": "c", "type": "function"},
    "no name": {"id": "c", "function": {"arguments": "{}"}},
    "id is a number": {"id": 1, "function": {"name": "f", "arguments": "{}"}},
    "call is text": "f",
}


@pytest.mark.parametrize("call", MALFORMED_CALLS.values(), ids=MALFORMED_CALLS.keys())
async def test_malformed_whole_tool_calls_are_typed_errors(
    openai_server: OpenAIEmulator, call: Any
) -> None:
    message = {"role": "assistant", "content": None, "tool_calls": [call]}
    body = {"choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}]}
    openai_server.faults.append(Fault.raw(200, (json.dumps(body).encode(),)))
    with pytest.raises(ProtocolError, match="tool call") as info:
        await whole(openai_server, tools=[WEATHER])
    assert info.value.provider == "Local"


async def test_reasoning_events_streamed_and_whole(openai_server: OpenAIEmulator) -> None:
    openai_server.faults.append(
        sse(
            delta_event({"role": "assistant", "content": ""}),
            delta_event({"reasoning_content": "Think"}),
            delta_event({"reasoning": "ing."}),
            delta_event({"content": "Done."}, "stop"),
        )
    )
    chunks, answer = await streamed(openai_server)
    assert chunks == [Reasoning("Think"), Reasoning("ing."), "Done.", Finish("stop")]
    assert (answer.reasoning, answer.text) == ("Thinking.", "Done.")
    message = {"role": "assistant", "content": "Done.", "reasoning_content": "Mull."}
    body = {"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}
    openai_server.faults.append(Fault.raw(200, (json.dumps(body).encode(),)))
    answer = await whole(openai_server)
    assert (answer.reasoning, answer.text, answer.usage) == ("Mull.", "Done.", None)


async def test_an_empty_answer_is_still_empty_text(openai_server: OpenAIEmulator) -> None:
    body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": None}}]}
    openai_server.faults.append(Fault.raw(200, (json.dumps(body).encode(),)))
    provider = declare(openai_server)
    assert [c async for c in run_provider(provider, MODEL, ASK, stream=False)] == [""]
    openai_server.faults.append(sse(delta_event({"content": ""}, "eos")))
    assert [c async for c in run_provider(provider, MODEL, ASK)] == []


async def test_tools_through_the_legacy_text_api(keyless_server: OpenAIEmulator) -> None:
    # The legacy API returns text only: a tool call is an empty answer, not an error.
    declare(keyless_server, api_key=None)
    text = await g4f_lite.ChatCompletion.create_async(MODEL, ASK, provider="Local", tools=[WEATHER])
    assert text == ""
    assert keyless_server.requests[-1].body["tools"] == [WEATHER]


@pytest.fixture
async def keyless_server() -> AsyncIterator[OpenAIEmulator]:
    """An emulator that takes requests without a key."""
    async with OpenAIEmulator(models=[MODEL]) as server:
        yield server


async def test_a_declared_endpoint_with_a_key_is_routed_to_by_model(
    openai_server: OpenAIEmulator,
) -> None:
    g4f_lite.declare_provider(
        "Keyed", "openai", base_url=openai_server.url, api_key="sk-test", models=["emulated-model"]
    )
    answer = await Router().plan("emulated-model", ASK).answer()
    assert answer.provider == "Keyed"
    assert "You said" in answer.text
