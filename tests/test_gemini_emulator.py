"""The Gemini emulator on its own: the wire format and the errors a real client meets."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from g4f_lite.testing import GeminiEmulator

KEY = "AIzaSy-emulator-key-123456"
GENERATE = "/v1beta/models/gemini-2.5-flash:generateContent"
HELLO = {"contents": [{"role": "user", "parts": [{"text": "Hi there"}]}]}


@pytest.fixture
async def server() -> AsyncIterator[GeminiEmulator]:
    async with GeminiEmulator(api_key=KEY) as emulator:
        yield emulator


async def post(
    server: GeminiEmulator, path: str, body: Any, key: str | None = KEY
) -> tuple[int, Any]:
    headers = {"x-goog-api-key": key} if key else {}
    async with (
        aiohttp.ClientSession() as session,
        session.post(server.url + path, json=body, headers=headers) as response,
    ):
        text = await response.text()
    if path.endswith("alt=sse"):
        return response.status, [
            json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")
        ]
    return response.status, json.loads(text)


async def test_a_whole_answer(server: GeminiEmulator) -> None:
    status, answer = await post(server, GENERATE, HELLO)
    assert status == 200
    [candidate] = answer["candidates"]
    assert candidate["content"] == {
        "parts": [{"text": "Hello from the Gemini emulator! You said: Hi there"}],
        "role": "model",
    }
    assert candidate["finishReason"] == "STOP"
    assert answer["usageMetadata"] == {
        "promptTokenCount": 2,
        "candidatesTokenCount": 9,
        "totalTokenCount": 11,
    }


async def test_sse_and_json_array_streams(server: GeminiEmulator) -> None:
    server.reply = "a b c"
    path = "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    status, events = await post(server, path + "?alt=sse", HELLO)
    assert status == 200
    assert [e["candidates"][0]["content"]["parts"][0]["text"] for e in events] == ["a ", "b ", "c"]
    assert [e["candidates"][0].get("finishReason") for e in events] == [None, None, "STOP"]
    status, array = await post(server, path, HELLO)
    assert status == 200 and isinstance(array, list) and len(array) == 3


@pytest.mark.parametrize(
    ("key", "status", "name"),
    [(None, 403, "PERMISSION_DENIED"), ("wrong-key", 400, "INVALID_ARGUMENT")],
)
async def test_keys(server: GeminiEmulator, key: str | None, status: int, name: str) -> None:
    got, answer = await post(server, GENERATE, HELLO, key=key)
    assert got == status
    assert (answer["error"]["code"], answer["error"]["status"]) == (status, name)
    if key:
        assert answer["error"]["details"][0]["reason"] == "API_KEY_INVALID"
        assert key not in answer["error"]["message"]  # echoed only when asked to


BAD_BODIES = {
    "no contents": {},
    "empty contents": {"contents": []},
    "a role Gemini lacks": {"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]},
    "empty parts": {"contents": [{"role": "user", "parts": []}]},
    "a part with no data": {"contents": [{"role": "user", "parts": [{"thought": True}]}]},
    "an unknown field": {**HELLO, "messages": []},
    "an unknown generation option": {**HELLO, "generationConfig": {"max_tokens": 3}},
    "a response without a call": {
        "contents": [
            {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]}
        ]
    },
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
async def test_invalid_bodies(server: GeminiEmulator, body: Any) -> None:
    status, answer = await post(server, GENERATE, body)
    assert status == 400 and answer["error"]["status"] == "INVALID_ARGUMENT"


async def test_unknown_model_and_the_model_list(server: GeminiEmulator) -> None:
    status, answer = await post(server, "/v1beta/models/gemini-9:generateContent", HELLO)
    assert status == 404 and answer["error"]["status"] == "NOT_FOUND"
    async with (
        aiohttp.ClientSession() as session,
        session.get(server.url + "/v1beta/models", headers={"x-goog-api-key": KEY}) as response,
    ):
        listed = await response.json()
    assert [m["name"] for m in listed["models"]] == ["models/gemini-2.5-flash"]


async def test_a_function_call_and_its_response(server: GeminiEmulator) -> None:
    declaration = {
        "name": "lookup",
        "parameters": {"type": "OBJECT", "properties": {"q": {"type": "STRING"}}},
    }
    body = {**HELLO, "tools": [{"functionDeclarations": [declaration]}]}
    status, answer = await post(server, GENERATE, body)
    assert status == 200
    call = answer["candidates"][0]["content"]["parts"][0]["functionCall"]
    assert call == {"name": "lookup", "args": {"q": "emulated"}}
    follow_up = {
        **body,
        "contents": [
            *HELLO["contents"],
            {"role": "model", "parts": [{"functionCall": call}]},
            {
                "role": "user",
                "parts": [{"functionResponse": {"name": "lookup", "response": {"a": 1}}}],
            },
        ],
    }
    status, answer = await post(server, GENERATE, follow_up)
    assert answer["candidates"][0]["content"]["parts"] == [{"text": 'The tool said: {"a": 1}'}]
