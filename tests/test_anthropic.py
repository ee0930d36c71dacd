"""The ``anthropic`` kind and the ``Anthropic`` preset against the Anthropic emulator."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from g4f_lite_anthropic import KIND, PRESETS, AnthropicProvider

import g4f_lite
from g4f_lite.answer import Answer
from g4f_lite.errors import (
    AuthenticationError,
    BadRequestError,
    BrokenLineError,
    ConfigurationError,
    InvalidMessagesError,
    LineTooLongError,
    MissingCredentialsError,
    NoProviderAvailableError,
    PartialResponseError,
    ProtocolError,
    RateLimitError,
    ServerError,
    TruncatedResponseError,
    UnsupportedFeatureError,
    UpstreamError,
)
from g4f_lite.provider import BaseProvider, collect, run_provider
from g4f_lite.registry import ENV_PLUGINS, registry
from g4f_lite.router import Router
from g4f_lite.testing import API_KEY_PLACEHOLDER, AnthropicEmulator, Fault
from g4f_lite.types import Chunk, Finish, Reasoning, ToolCallDelta, Usage

MODEL = "claude-emulated"
KEY = "ant-test-key-0123456789"
HELLO = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]
ASK = [{"role": "user", "content": "Weather in Paris?"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        },
    },
}
ARGUMENTS = '{"city": "Paris", "days": 3}'


@pytest.fixture(autouse=True)
def anthropic_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    """Load this plugin besides the reference one (conftest loads only the latter)."""
    monkeypatch.setenv(ENV_PLUGINS, "opchatgpts,anthropic")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    registry.reset()


@pytest.fixture
async def server() -> AsyncIterator[AnthropicEmulator]:
    """An emulated Messages API (key ``KEY``) on the test's own event loop."""
    async with AnthropicEmulator(api_key=KEY, models=[MODEL, "other-model"]) as emulator:
        yield emulator


def declare(server: AnthropicEmulator, name: str = "Claude", **options: Any) -> type[BaseProvider]:
    options.setdefault("api_key", KEY)
    options.setdefault("models", [MODEL])
    return g4f_lite.declare_provider(name, "anthropic", base_url=server.url, **options)


async def chunks_of(
    provider: type[BaseProvider], messages: Any = HELLO, **kwargs: Any
) -> list[Chunk]:
    return [chunk async for chunk in run_provider(provider, "", messages, **kwargs)]


async def ask(provider: type[BaseProvider], model: str = "", **kwargs: Any) -> str:
    return await collect(run_provider(provider, model, HELLO, **kwargs), provider.name)


def words(text: str) -> int:
    return len(text.split())


# -- the wire ----------------------------------------------------------------


async def test_a_streamed_answer(server: AnthropicEmulator) -> None:
    server.reply = "one two three"
    chunks = await chunks_of(declare(server))
    # The text, then why it ended and the usage (system prompt and turn words).
    assert chunks == ["one ", "two ", "three", Finish("stop"), Usage.of(3, 3)]
    request = server.requests[0]
    assert request.path == "/v1/messages"
    assert request.headers["x-api-key"] == KEY
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert "Authorization" not in request.headers
    assert request.body == {
        "model": MODEL,
        "max_tokens": 4096,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "Hello"}],
        "stream": True,
    }


async def test_a_whole_answer_is_one_unstreamed_request(server: AnthropicEmulator) -> None:
    server.reply = "whole answer"
    chunks = await chunks_of(declare(server), stream=False)
    assert chunks == ["whole answer", Usage.of(3, 2), Finish("stop")]
    body = server.requests[0].body
    assert "stream" not in body
    assert server.requests[0].headers["Accept"] == "application/json"
    declared = declare(server, name="Whole", stream=False)  # the kind's option
    assert await ask(declared) == "whole answer"
    assert "stream" not in server.requests[-1].body


async def test_sampling_options_are_translated(server: AnthropicEmulator) -> None:
    server.reply = "alpha beta. gamma delta"
    provider = declare(server)
    text = await ask(provider, temperature=0.2, top_p=0.9, stop=".", user="u-1", seed=3)
    assert text == "alpha beta"
    body = server.requests[-1].body
    assert (body["temperature"], body["top_p"]) == (0.2, 0.9)
    assert body["stop_sequences"] == ["."]
    assert body["metadata"] == {"user_id": "u-1"}
    assert "seed" not in body and "stop" not in body  # the API has no seed
    assert provider.get_info().sampling_options == sorted(
        ["temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "user"]
    )
    chunks = await chunks_of(provider, max_completion_tokens=2, stop=["\n", "?"])
    assert server.requests[-1].body["max_tokens"] == 2
    assert server.requests[-1].body["stop_sequences"] == ["\n", "?"]
    assert [c for c in chunks if type(c) is str] == ["alpha ", "beta."]
    assert Finish("length") in chunks


async def test_max_tokens_defaults_to_the_kinds_option(server: AnthropicEmulator) -> None:
    provider = declare(server, max_tokens=64)
    await ask(provider)
    assert server.requests[-1].body["max_tokens"] == 64
    await ask(provider, max_tokens=8)
    assert server.requests[-1].body["max_tokens"] == 8
    with pytest.raises(ConfigurationError, match="max_tokens"):
        declare(server, name="Zero", max_tokens=0)


async def test_system_turns_are_joined_and_roles_merged(server: AnthropicEmulator) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "user", "content": [{"type": "text", "text": "there"}]},
        {"role": "system", "content": [{"type": "text", "text": "Be kind."}]},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "How are you?"},
    ]
    await chunks_of(declare(server), messages)
    body = server.requests[-1].body
    assert body["system"] == "Be brief.\n\nBe kind."
    assert body["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "there"}],
        },
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "How are you?"},
    ]


# -- credentials and the preset -----------------------------------------------


async def test_key_from_the_environment_at_call_time(
    server: AnthropicEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = declare(server, api_key=None, api_key_env="CLAUDE_KEY")
    assert provider.needs_auth
    assert not provider.has_credentials({})
    with pytest.raises(MissingCredentialsError, match=r"\$CLAUDE_KEY") as info:
        await ask(provider)
    assert info.value.provider == "Claude"
    assert server.requests == []  # nothing was sent
    monkeypatch.setenv("CLAUDE_KEY", KEY)
    assert provider.has_credentials({})
    assert await ask(provider)


def test_the_preset_is_registered_with_its_models() -> None:
    [info] = g4f_lite.providers(plugin="g4f-lite-anthropic")
    assert info.name == "Anthropic" and set(PRESETS) == {"Anthropic"}
    assert info.url == "https://api.anthropic.com"
    assert info.needs_auth and info.working and info.supports_stream
    assert info.supports_tools and info.supports_vision and not info.supports_json_mode
    assert info.supports_system_message and info.supports_message_history
    assert {"claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1"} <= set(info.models)
    assert info.default_model in info.models
    assert registry.get_kind("anthropic") is KIND


async def test_the_preset_routes_by_model_once_a_key_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with AnthropicEmulator(api_key=KEY, models=["claude-haiku-4-5"]) as emulator:
        g4f_lite.configure({"providers": {"Anthropic": {"base_url": emulator.url}}})
        with pytest.raises(NoProviderAvailableError):
            await g4f_lite.ChatCompletion.create_async("claude-haiku-4-5", HELLO)
        assert emulator.requests == []
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        emulator.reply = "Hi from Claude"
        text = await g4f_lite.ChatCompletion.create_async("claude-haiku-4-5", HELLO)
        assert text == "Hi from Claude"
        assert emulator.requests[-1].headers["x-api-key"] == KEY


async def test_a_wrong_key_is_an_authentication_error_without_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "ant-very-secret-key-1234567890"
    async with AnthropicEmulator(api_key=KEY, models=[MODEL], echo_key_in_errors=True) as emulator:
        provider = declare(emulator, api_key=secret)
        with pytest.raises(AuthenticationError) as info:
            await ask(provider)
        assert emulator.requests[0].headers["x-api-key"] == secret
    error = info.value
    assert (error.status, error.code, error.provider) == (401, "authentication_error", "Claude")
    assert "invalid x-api-key: ***" in str(error)
    for text in (str(error), repr(error), caplog.text, repr(provider.__dict__), repr(emulator)):
        assert secret not in text
    assert not error.retryable


async def test_an_echoed_key_is_masked_in_mid_stream_and_200_errors(
    server: AnthropicEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAUDE_KEY", KEY)
    provider = declare(server, api_key=None, api_key_env="CLAUDE_KEY")
    server.faults.extend(
        [
            Fault.error_event(after=1, message=f"bad key {API_KEY_PLACEHOLDER}"),
            Fault.error_body(f"key {API_KEY_PLACEHOLDER} is rate limited"),
        ]
    )
    with pytest.raises(UpstreamError) as streamed:
        await ask(provider)
    with pytest.raises(UpstreamError) as whole:
        await ask(provider, stream=False)
    for error in (streamed.value, whole.value):
        assert KEY not in str(error) and KEY not in repr(error)
        assert "***" in str(error) and error.provider == "Claude"


# -- error mapping --------------------------------------------------------------


async def test_rate_limits_and_overload_are_retryable(server: AnthropicEmulator) -> None:
    server.faults.extend(
        [Fault.http_status(429, retry_after=7), Fault.http_status(529), Fault.http_status(500)]
    )
    provider = declare(server)
    with pytest.raises(RateLimitError) as limited:
        await ask(provider)
    assert (limited.value.retry_after, limited.value.code) == (7, "rate_limit_error")
    assert limited.value.retryable
    with pytest.raises(ServerError) as overloaded:
        await ask(provider)
    assert (overloaded.value.status, overloaded.value.code) == (529, "overloaded_error")
    assert overloaded.value.retryable
    with pytest.raises(ServerError, match="api_error"):
        await ask(provider)


async def test_request_faults_are_the_callers(server: AnthropicEmulator) -> None:
    provider = declare(server)
    with pytest.raises(BadRequestError, match="model: gpt-17") as unknown:
        await ask(provider, "gpt-17")
    assert (unknown.value.status, unknown.value.code) == (404, "not_found_error")
    assert unknown.value.request_fault
    with pytest.raises(BadRequestError, match="max_tokens") as invalid:
        await ask(provider, max_tokens=0)
    assert invalid.value.code == "invalid_request_error" and invalid.value.request_fault


async def test_broken_streams_are_typed_errors(server: AnthropicEmulator) -> None:
    server.reply = "a b c d"
    server.faults.extend(
        [
            Fault.no_end(),
            Fault.error_event(after=1, message="Overloaded"),
            Fault.garbage(after=1),
            Fault.no_type(after=1),
            Fault.drop(after=2),
            Fault.deep_json(),
            Fault.huge_line(size=4096),
        ]
    )
    provider = declare(server)
    with pytest.raises(TruncatedResponseError, match="message_stop") as truncated:
        await ask(provider)
    assert truncated.value.partial == "a b c d"
    with pytest.raises(UpstreamError, match="overloaded_error: Overloaded") as upstream:
        await ask(provider)
    assert upstream.value.partial == "a " and upstream.value.retryable
    with pytest.raises(BrokenLineError, match="not JSON"):
        await ask(provider)
    with pytest.raises(BrokenLineError, match="no event 'type'"):
        await ask(provider)
    with pytest.raises(TruncatedResponseError):
        await ask(provider)
    with pytest.raises(BrokenLineError, match="nested too deep"):
        await ask(provider)
    with pytest.raises(LineTooLongError):
        await ask(provider, max_line_bytes=1024)


async def test_an_error_event_after_text_is_a_partial_response_through_the_router(
    server: AnthropicEmulator,
) -> None:
    server.reply = "a b c d"
    server.faults.append(Fault.error_event(after=2, message="Overloaded"))
    declare(server)
    call = Router().plan(MODEL, HELLO, provider="Claude", stream=True)
    received: list[Chunk] = []

    async def read() -> None:
        async for chunk in call.events():
            received.append(chunk)

    with pytest.raises(PartialResponseError) as info:
        await read()
    assert received == ["a ", "b "]
    assert info.value.partial == "a b " and info.value.provider == "Claude"
    assert isinstance(info.value.cause, UpstreamError)
    assert "overloaded_error" in str(info.value)
    assert len(server.requests) == 1  # never replayed after text was delivered


async def test_bad_whole_answers_are_protocol_errors(server: AnthropicEmulator) -> None:
    provider = declare(server)
    server.faults.extend(
        [
            Fault.deep_json("body"),
            Fault.raw(200, (b"<html>hi</html>",)),
            Fault.raw(200, (json.dumps({"type": "message", "content": "x"}).encode(),)),
        ]
    )
    with pytest.raises(ProtocolError, match="nested too deep"):
        await ask(provider, stream=False)
    with pytest.raises(ProtocolError, match="not JSON"):
        await ask(provider, stream=False)
    with pytest.raises(ProtocolError, match="no 'content' list"):
        await ask(provider, stream=False)


def sse(*events: dict[str, Any]) -> Fault:
    """A 200 stream of exactly these events, each with its ``event:`` line."""
    lines = [f"event: {e.get('type', 'x')}\ndata: {json.dumps(e)}\n\n".encode() for e in events]
    return Fault.raw(200, tuple(lines), (("Content-Type", "text/event-stream"),))


START = {"type": "message_start", "message": {"usage": {"input_tokens": 5, "output_tokens": 1}}}
TEXT_BLOCK = {
    "type": "content_block_start",
    "index": 0,
    "content_block": {"type": "text", "text": ""},
}
STOP = {"type": "message_stop"}


def text_delta(text: str, index: int = 0) -> dict[str, Any]:
    return {
        "type": "content_block_delta",
        "index": index,
        "delta": {"type": "text_delta", "text": text},
    }


MALFORMED = {
    "delta before its block": [START, text_delta("x", 3)],
    "text is a number": [
        START,
        TEXT_BLOCK,
        text_delta("Hi"),
        {**text_delta(""), "delta": {"type": "text_delta", "text": 5}},
    ],
    "json into a text block": [
        START,
        TEXT_BLOCK,
        text_delta("Hi"),
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": "{"},
        },
    ],
    "tool_use without a name": [
        START,
        TEXT_BLOCK,
        text_delta("Hi"),
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "tool_use", "id": "t"},
        },
    ],
    "usage without counts": [
        START,
        TEXT_BLOCK,
        text_delta("Hi"),
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": "many"},
        },
    ],
}


@pytest.mark.parametrize("events", MALFORMED.values(), ids=MALFORMED.keys())
async def test_malformed_events_are_broken_lines(
    server: AnthropicEmulator, events: list[dict[str, Any]]
) -> None:
    server.faults.append(sse(*events, STOP))
    with pytest.raises(BrokenLineError) as info:
        await ask(declare(server))
    assert info.value.provider == "Claude"


async def test_ping_and_unknown_events_are_skipped(server: AnthropicEmulator) -> None:
    # The API may add event types at any time (its versioning policy): skip, never fail.
    server.faults.append(
        sse(
            START,
            {"type": "ping"},
            TEXT_BLOCK,
            text_delta("Hi"),
            {"type": "content_block_annotation", "index": 0},
            {"type": "content_block_delta", "index": 0, "delta": {"type": "citations_delta"}},
            {"type": "content_block_stop", "index": 0},
            {
                "type": "message_delta",
                "delta": {"stop_reason": "refusal"},
                "usage": {"output_tokens": 1},
            },
            STOP,
        )
    )
    chunks = await chunks_of(declare(server))
    assert chunks == ["Hi", Finish("content_filter"), Usage.of(5, 1)]


async def test_a_json_error_answer_to_a_stream_request(server: AnthropicEmulator) -> None:
    server.faults.append(Fault.error_body("Overloaded", status=200))
    with pytest.raises(UpstreamError, match="Overloaded") as info:
        await ask(declare(server))
    assert info.value.provider == "Claude"


# -- the chat surface: tools, images, usage, reasoning --------------------------


async def test_a_tool_round_trip_through_the_client(server: AnthropicEmulator) -> None:
    server.tool_arguments = ARGUMENTS
    declare(server)
    async with g4f_lite.AsyncClient() as client:
        first = await client.chat.completions.create(
            model=MODEL, messages=ASK, provider="Claude", tools=[WEATHER], tool_choice="auto"
        )
        [call] = first.choices[0].message.tool_calls or []
        assert call.function.name == "get_weather" and call.id.startswith("toolu_")
        assert json.loads(call.function.arguments) == json.loads(ARGUMENTS)
        assert first.choices[0].finish_reason == "tool_calls"
        assert first.usage is not None and first.usage.prompt_tokens == words(ASK[0]["content"])
        sent = server.requests[-1].body
        assert sent["tools"] == [
            {
                "name": "get_weather",
                "description": "The weather in a city.",
                "input_schema": WEATHER["function"]["parameters"],  # type: ignore[index]
            }
        ]
        assert sent["tool_choice"] == {"type": "auto"}
        follow_up = [
            *ASK,
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": "22 C"},
        ]
        final = await client.chat.completions.create(
            model=MODEL, messages=follow_up, provider="Claude", tools=[WEATHER]
        )
    assert final.choices[0].message.content == "The tool said: 22 C"
    assert final.choices[0].finish_reason == "stop"
    assert server.requests[-1].body["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": call.id,
                    "name": "get_weather",
                    "input": json.loads(ARGUMENTS),
                }
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "22 C"}],
        },
    ]


async def test_a_streamed_tool_call_is_reassembled(server: AnthropicEmulator) -> None:
    declare(server)
    call = Router().plan(MODEL, ASK, provider="Claude", stream=True, tools=[WEATHER])
    chunks = [chunk async for chunk in call.events()]
    deltas = [c for c in chunks if isinstance(c, ToolCallDelta)]
    assert len(deltas) >= 3  # the head, then the input in fragments
    assert deltas[0].name == "get_weather" and deltas[0].id and deltas[0].arguments == ""
    answer = Answer(chunks, call.answered_by)
    [whole] = answer.tool_calls
    assert json.loads(whole.function.arguments) == {"city": "emulated", "days": 1}
    assert answer.finish_reason == "tool_calls" and answer.text == ""
    assert answer.usage == Usage.of(words(ASK[0]["content"]), words(whole.function.arguments))


async def test_parallel_tool_results_share_one_user_turn(server: AnthropicEmulator) -> None:
    calls = [
        {
            "id": f"toolu_{i}",
            "type": "function",
            "function": {"name": "get_weather", "arguments": a},
        }
        for i, a in enumerate(['{"city": "Paris"}', ""])
    ]
    messages: list[dict[str, Any]] = [
        *ASK,
        {"role": "assistant", "content": "Checking.", "tool_calls": calls},
        {"role": "tool", "tool_call_id": "toolu_0", "content": "22 C"},
        {"role": "tool", "tool_call_id": "toolu_1", "content": [{"type": "text", "text": "9 C"}]},
    ]
    text = await collect(run_provider(declare(server), MODEL, messages, tools=[WEATHER]), "Claude")
    assert text == "The tool said: 22 C 9 C"
    assistant, results = server.requests[-1].body["messages"][1:]
    assert assistant["content"][0] == {"type": "text", "text": "Checking."}
    assert [b["input"] for b in assistant["content"][1:]] == [{"city": "Paris"}, {}]
    assert [b["tool_use_id"] for b in results["content"]] == ["toolu_0", "toolu_1"]


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        ("auto", None, {"type": "auto"}),
        ("none", None, {"type": "none"}),
        ("required", None, {"type": "any"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            None,
            {"type": "tool", "name": "get_weather"},
        ),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
    ],
)
async def test_tool_choice_is_translated(
    server: AnthropicEmulator, choice: Any, parallel: bool | None, expected: dict[str, Any]
) -> None:
    chunks = await chunks_of(
        declare(server), ASK, tools=[WEATHER], tool_choice=choice, parallel_tool_calls=parallel
    )
    assert server.requests[-1].body["tool_choice"] == expected
    made_call = any(isinstance(c, ToolCallDelta) for c in chunks)
    assert made_call == (expected["type"] != "none")


async def test_bad_tools_fail_before_any_request(server: AnthropicEmulator) -> None:
    provider = declare(server)
    with pytest.raises(UnsupportedFeatureError, match="function tools"):
        await chunks_of(provider, ASK, tools=[{"type": "web_search"}])
    with pytest.raises(UnsupportedFeatureError, match="tool_choice"):
        await chunks_of(provider, ASK, tools=[WEATHER], tool_choice="sometimes")
    bad_call = {"id": "t", "type": "function", "function": {"name": "f", "arguments": "[1]"}}
    with pytest.raises(InvalidMessagesError, match="JSON object"):
        await chunks_of(provider, [*ASK, {"role": "assistant", "tool_calls": [bad_call]}])
    assert server.requests == []


async def test_images_become_base64_and_url_sources(server: AnthropicEmulator) -> None:
    parts = [
        {"type": "text", "text": "What are these?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.org/cat.jpg"}},
    ]
    async with g4f_lite.AsyncClient() as client:
        declare(server)
        result = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": parts}], provider="Claude"
        )
    assert (result.choices[0].message.content or "").endswith(
        "You said: What are these? (with 2 image(s))"
    )
    assert server.requests[-1].body["messages"][0]["content"] == [
        {"type": "text", "text": "What are these?"},
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
        },
        {"type": "image", "source": {"type": "url", "url": "https://example.org/cat.jpg"}},
    ]


async def test_an_image_the_api_cannot_take_is_the_callers_fault(
    server: AnthropicEmulator,
) -> None:
    svg = {"type": "image_url", "image_url": {"url": "data:image/svg+xml;base64,PHN2Zz4="}}
    with pytest.raises(InvalidMessagesError, match="image/png") as info:
        await chunks_of(declare(server), [{"role": "user", "content": [svg]}])
    assert info.value.request_fault
    assert server.requests == []


async def test_thinking_is_reasoning_streamed_and_whole(server: AnthropicEmulator) -> None:
    server.thinking = "Let me think."
    server.reply = "Done."
    provider = declare(server)
    streamed = await chunks_of(provider)
    assert streamed[:4] == [Reasoning("Let "), Reasoning("me "), Reasoning("think."), "Done."]
    whole = await chunks_of(provider, stream=False)
    assert whole[:2] == [Reasoning("Let me think."), "Done."]
    assert Answer(whole).reasoning == Answer(streamed).reasoning == "Let me think."


async def test_usage_through_the_client_streamed_and_not(server: AnthropicEmulator) -> None:
    server.reply = "one two three"
    declare(server)
    async with g4f_lite.AsyncClient() as client:
        whole = await client.chat.completions.create(model=MODEL, messages=HELLO, provider="Claude")
        stream = await client.chat.completions.create(
            model=MODEL, messages=HELLO, provider="Claude", stream=True
        )
        chunks = [chunk async for chunk in stream]
    assert whole.usage is not None
    assert (whole.usage.prompt_tokens, whole.usage.completion_tokens) == (3, 3)
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 6
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "one two three"


def test_a_declared_table_through_a_synchronous_client(
    anthropic_emulator: AnthropicEmulator,
) -> None:
    anthropic_emulator.reply = "sync"
    table = {
        "kind": "anthropic",
        "base_url": anthropic_emulator.url,
        "models": ["claude-emulated"],
        "max_tokens": 100,
    }
    with g4f_lite.Client(config={"providers": {"Local": table}}) as client:
        result = client.chat.completions.create(
            model="claude-emulated", messages=HELLO, provider="Local"
        )
        assert result.choices[0].message.content == "sync"
        stream = client.chat.completions.create(
            model="claude-emulated", messages=HELLO, provider="Local", stream=True
        )
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "sync"
    assert [r.body["max_tokens"] for r in anthropic_emulator.requests] == [100, 100]
    assert "x-api-key" not in anthropic_emulator.requests[0].headers  # none configured


async def test_models_are_listed_and_fill_an_empty_model(server: AnthropicEmulator) -> None:
    provider = declare(server, models=[])
    assert isinstance(provider, type) and issubclass(provider, AnthropicProvider)
    assert await provider.list_models() == [MODEL, "other-model"]
    await ask(provider)
    assert [r.path for r in server.requests] == ["/v1/models", "/v1/models", "/v1/messages"]
    assert server.requests[-1].body["model"] == MODEL


def test_a_default_model_must_be_listed() -> None:
    with pytest.raises(ConfigurationError, match="default_model"):
        g4f_lite.declare_provider(
            "Bad", "anthropic", models=["a"], default_model="b", api_key="k-12345"
        )


async def test_connections_are_reused(server: AnthropicEmulator) -> None:
    provider = declare(server)
    await ask(provider)
    await ask(provider, stream=False)
    await ask(provider)
    assert len({r.client_port for r in server.requests}) == 1
