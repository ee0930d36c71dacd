"""LangChain's ``ChatOpenAI`` through ``serve``: a second real client of the chat surface.

Against the OpenAI emulator behind the ``openai`` kind, and against a fake
provider whose answer carries no usage (so the server's estimate shows).
Nothing here counts tokens on the client (``get_num_tokens`` would fetch
tiktoken's files) or traces to LangSmith: no test leaves the machine.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

import g4f_lite
from g4f_lite import config
from g4f_lite.policies import RetryPolicy
from g4f_lite.provider import AsyncGeneratorProvider
from g4f_lite.router import Router
from g4f_lite.server import Server, ServerSettings
from g4f_lite.testing import OpenAIEmulator
from g4f_lite.types import Chunk, Messages, ToolCallDelta

MODEL = "emulated-model"


@tool
def get_weather(city: str) -> str:
    """The current weather in a city."""
    return f"sunny in {city}"


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No LangSmith tracing, whatever the environment says."""
    for name in ("LANGCHAIN_TRACING_V2", "LANGCHAIN_TRACING", "LANGSMITH_TRACING"):
        monkeypatch.setenv(name, "false")
    monkeypatch.delenv("LANGSMITH_API_KEY", raising=False)
    monkeypatch.delenv("LANGCHAIN_API_KEY", raising=False)


async def running(router: Router) -> AsyncIterator[Server]:
    async with Server(ServerSettings(port=0), router=router) as server:
        yield server


@pytest.fixture
async def upstream(
    openai_server: OpenAIEmulator, first_party_plugins: None
) -> AsyncIterator[Server]:
    """``serve`` over provider ``Up`` (the ``openai`` kind) aimed at the emulator."""
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
    async for server in running(Router(retry=RetryPolicy(max_attempts=1))):
        yield server


def chat(server: Server, model: str = MODEL, **options: Any) -> ChatOpenAI:
    return ChatOpenAI(
        base_url=server.url, api_key=SecretStr("unused"), model=model, max_retries=0, **options
    )


async def test_bind_tools_gets_tool_calls(upstream: Server) -> None:
    model = chat(upstream).bind_tools([get_weather])
    message = await model.ainvoke([HumanMessage("Weather in Paris?")])
    assert isinstance(message, AIMessage)
    [call] = message.tool_calls
    assert call["name"] == "get_weather" and call["args"] == {"city": "emulated"}
    assert call["id"] and call["id"].startswith("call_")
    assert message.response_metadata["finish_reason"] == "tool_calls"


async def test_tool_result_round_trip(upstream: Server) -> None:
    model = chat(upstream).bind_tools([get_weather])
    history: list[BaseMessage] = [HumanMessage("Weather in Paris?")]
    asked = await model.ainvoke(history)
    assert isinstance(asked, AIMessage)
    history.append(asked)
    for call in asked.tool_calls:
        history.append(await get_weather.ainvoke(call))  # a ToolMessage with the call's id
    answer = await model.ainvoke(history)
    assert answer.content == "The tool said: sunny in emulated"


async def test_plain_invoke_has_usage_metadata(upstream: Server) -> None:
    message = await chat(upstream).ainvoke("one two three")
    assert isinstance(message, AIMessage) and isinstance(message.content, str)
    assert message.content.endswith("one two three")
    assert message.usage_metadata is not None
    assert message.usage_metadata["input_tokens"] == 3  # the upstream's own count
    assert message.usage_metadata["total_tokens"] == (
        message.usage_metadata["input_tokens"] + message.usage_metadata["output_tokens"]
    )


# -- a provider that reports no usage -----------------------------------------------


class Caller(AsyncGeneratorProvider):
    """Calls the first tool it is given, else says hello; never reports usage."""

    working = True
    supports_stream = True
    supports_message_history = True
    supports_system_message = True
    supports_tools = True
    models = ("caller",)
    seen: ClassVar[list[dict[str, Any]]] = []

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[Chunk]:
        cls.seen.append(kwargs)
        tools = kwargs.get("tools")
        if tools and messages[-1]["role"] == "user":
            name = tools[0]["function"]["name"]
            yield ToolCallDelta(0, id="call_c1", name=name, arguments='{"city": ')
            yield ToolCallDelta(0, arguments='"Oslo"}')
        else:
            yield "Hello"
            yield " there"


@pytest.fixture
async def fake() -> AsyncIterator[Server]:
    g4f_lite.register(type("Caller", (Caller,), {"seen": []}))
    async for server in running(Router(retry=RetryPolicy(max_attempts=1))):
        yield server


async def test_estimated_usage_reaches_usage_metadata(fake: Server) -> None:
    message = await chat(fake, "caller").ainvoke("Hi there")
    assert message.content == "Hello there"
    # ceil(8 / 4) and ceil(11 / 4): the server's documented estimate.
    assert message.usage_metadata is not None
    assert (message.usage_metadata["input_tokens"], message.usage_metadata["output_tokens"]) == (
        2,
        3,
    )


async def test_streamed_tool_call_chunks_add_up(fake: Server) -> None:
    model = chat(fake, "caller", stream_usage=True).bind_tools([get_weather])
    total: AIMessageChunk | None = None
    async for chunk in model.astream("Weather in Oslo?"):
        assert isinstance(chunk, AIMessageChunk)
        total = chunk if total is None else total + chunk
    assert total is not None
    [call] = total.tool_calls
    assert (call["name"], call["args"], call["id"]) == ("get_weather", {"city": "Oslo"}, "call_c1")
    assert total.usage_metadata is not None  # from the include_usage chunk
    assert total.usage_metadata["output_tokens"] > 0
