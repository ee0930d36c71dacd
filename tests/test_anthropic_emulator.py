"""The Anthropic emulator's wire format, read with plain aiohttp as a Messages API client would."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import pytest

from g4f_lite.testing import AnthropicEmulator, Fault

MODEL = "claude-emulated"
KEY = "ant-emulator-key-123"
HEADERS = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
HELLO: Any = {"model": MODEL, "max_tokens": 100, "messages": [{"role": "user", "content": "Hi"}]}
TOOL: Any = {
    "name": "get_weather",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.fixture
async def server() -> AsyncIterator[AnthropicEmulator]:
    async with AnthropicEmulator(api_key=KEY) as emulator:
        yield emulator


async def post(
    server: AnthropicEmulator, body: Any, headers: dict[str, str] = HEADERS
) -> tuple[int, Mapping[str, str], bytes]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{server.url}/v1/messages", json=body, headers=headers) as response,
    ):
        return response.status, response.headers.copy(), await response.read()


def events(raw: bytes) -> list[dict[str, Any]]:
    """The SSE events, checking that each ``event:`` line names its data's type."""
    parsed = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        name, data = block.split("\n")
        event = json.loads(data.removeprefix("data: "))
        assert name == f"event: {event['type']}"
        parsed.append(event)
    return parsed


async def test_a_stream_has_the_apis_event_sequence(server: AnthropicEmulator) -> None:
    server.reply = "Hello there"
    status, headers, raw = await post(server, {**HELLO, "stream": True})
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    stream = events(raw)
    assert [e["type"] for e in stream] == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = stream[0]["message"]
    assert start["id"].startswith("msg_") and start["role"] == "assistant"
    assert start["content"] == [] and start["usage"]["input_tokens"] == 1
    assert stream[1]["content_block"] == {"type": "text", "text": ""}
    assert "".join(e["delta"]["text"] for e in stream if e["type"] == "content_block_delta") == (
        "Hello there"
    )
    assert stream[-2]["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert stream[-2]["usage"] == {"output_tokens": 2}


async def test_a_whole_message(server: AnthropicEmulator) -> None:
    status, _, raw = await post(server, {**HELLO, "system": "Be brief."})
    message = json.loads(raw)
    assert status == 200
    assert (message["type"], message["role"], message["model"]) == ("message", "assistant", MODEL)
    assert message["content"] == [
        {"type": "text", "text": "Hello from the Anthropic emulator! You said: Hi"}
    ]
    assert message["stop_reason"] == "end_turn"
    assert message["usage"]["input_tokens"] == 3  # the system prompt's words count
    assert server.requests[-1].body["system"] == "Be brief."


async def test_a_streamed_tool_use(server: AnthropicEmulator) -> None:
    _, _, raw = await post(server, {**HELLO, "stream": True, "tools": [TOOL]})
    stream = events(raw)
    block = stream[1]["content_block"]
    assert block["type"] == "tool_use" and block["id"].startswith("toolu_")
    assert (block["name"], block["input"]) == ("get_weather", {})
    fragments = [e["delta"] for e in stream if e["type"] == "content_block_delta"]
    assert len(fragments) >= 2 and {f["type"] for f in fragments} == {"input_json_delta"}
    assert json.loads("".join(f["partial_json"] for f in fragments)) == {"city": "emulated"}
    assert stream[-2]["delta"]["stop_reason"] == "tool_use"


async def test_tool_choice_none_and_named_tools(server: AnthropicEmulator) -> None:
    other = {"name": "get_time", "input_schema": {"type": "object"}}
    body = {**HELLO, "tools": [TOOL, other], "tool_choice": {"type": "tool", "name": "get_time"}}
    message = json.loads((await post(server, body))[2])
    assert message["content"][0]["name"] == "get_time"
    body["tool_choice"] = {"type": "none"}
    message = json.loads((await post(server, body))[2])
    assert message["content"][0]["type"] == "text" and message["stop_reason"] == "end_turn"


async def test_a_tool_result_must_answer_a_tool_use(server: AnthropicEmulator) -> None:
    result = {"type": "tool_result", "tool_use_id": "toolu_x", "content": "22 C"}
    turns = [{"role": "user", "content": "Weather?"}, {"role": "user", "content": [result]}]
    status, _, raw = await post(server, {**HELLO, "messages": turns})
    assert status == 400 and "tool_use_id" in json.loads(raw)["error"]["message"]
    use = {"type": "tool_use", "id": "toolu_x", "name": "get_weather", "input": {}}
    turns[0] = {"role": "assistant", "content": [use]}
    status, _, raw = await post(server, {**HELLO, "messages": turns})
    assert status == 200
    assert json.loads(raw)["content"][0]["text"] == "The tool said: 22 C"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"max_tokens": None}, "max_tokens: Field required"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"model": None}, "model: Field required"),
        ({"messages": []}, "at least one message"),
        ({"messages": [{"role": "system", "content": "x"}]}, "role"),
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": ""}]}]}, "non-empty"),
    ],
)
async def test_invalid_requests_are_400(
    server: AnthropicEmulator, change: dict[str, Any], message: str
) -> None:
    body = {key: value for key, value in {**HELLO, **change}.items() if value is not None}
    status, _, raw = await post(server, body)
    error = json.loads(raw)
    assert status == 400 and error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert message in error["error"]["message"]


async def test_headers_are_checked(server: AnthropicEmulator) -> None:
    status, _, raw = await post(server, HELLO, {"x-api-key": KEY})
    assert status == 400 and "anthropic-version" in json.loads(raw)["error"]["message"]
    status, _, raw = await post(server, HELLO, {"anthropic-version": "2023-06-01"})
    assert status == 401 and json.loads(raw)["error"]["type"] == "authentication_error"
    status, _, raw = await post(server, HELLO, {**HEADERS, "x-api-key": "wrong-key"})
    assert status == 401 and "wrong-key" not in raw.decode()  # only echo_key_in_errors echoes
    assert server.requests[-1].headers["x-api-key"] == "wrong-key"  # recorded as sent


async def test_unknown_models_and_paths_are_404(server: AnthropicEmulator) -> None:
    status, _, raw = await post(server, {**HELLO, "model": "gpt-4"})
    assert status == 404 and json.loads(raw)["error"]["type"] == "not_found_error"
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{server.url}/v1/models", headers=HEADERS) as response,
    ):
        assert [m["id"] for m in (await response.json())["data"]] == [MODEL]


async def test_status_faults_carry_the_apis_error_types(server: AnthropicEmulator) -> None:
    server.faults.extend([Fault.http_status(429, retry_after=3), Fault.http_status(529)])
    status, headers, raw = await post(server, HELLO)
    assert (status, headers["retry-after"]) == (429, "3")
    assert json.loads(raw)["error"]["type"] == "rate_limit_error"
    status, _, raw = await post(server, HELLO)
    assert status == 529 and json.loads(raw)["error"]["type"] == "overloaded_error"


async def test_an_error_event_mid_stream(server: AnthropicEmulator) -> None:
    server.reply = "a b c"
    server.faults.append(Fault.error_event(after=1, message="Overloaded"))
    stream = events((await post(server, {**HELLO, "stream": True}))[2])
    deltas = [e for e in stream if e["type"] == "content_block_delta"]
    assert len(deltas) == 1
    assert stream[-1] == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }


async def test_length_and_stop_sequences(server: AnthropicEmulator) -> None:
    server.reply = "one two. three four"
    message = json.loads((await post(server, {**HELLO, "max_tokens": 2}))[2])
    assert (message["content"][0]["text"], message["stop_reason"]) == ("one two.", "max_tokens")
    message = json.loads((await post(server, {**HELLO, "stop_sequences": ["."]}))[2])
    assert message["content"][0]["text"] == "one two"
    assert (message["stop_reason"], message["stop_sequence"]) == ("stop_sequence", ".")


async def test_thinking_blocks(server: AnthropicEmulator) -> None:
    server.thinking = "Hmm."
    stream = events((await post(server, {**HELLO, "stream": True}))[2])
    assert stream[1]["content_block"]["type"] == "thinking"
    kinds = [e["delta"]["type"] for e in stream if e["type"] == "content_block_delta"]
    assert kinds[:2] == ["thinking_delta", "signature_delta"]
    message = json.loads((await post(server, HELLO))[2])
    assert [b["type"] for b in message["content"]] == ["thinking", "text"]
