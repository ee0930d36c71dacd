"""The provider protocol beyond text: message shapes, capabilities, options and events."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest

import g4f_lite
from g4f_lite import errors
from g4f_lite.answer import Answer
from g4f_lite.provider import AsyncGeneratorProvider, BaseProvider
from g4f_lite.registry import registry
from g4f_lite.router import Router
from g4f_lite.types import (
    Chunk,
    Finish,
    Messages,
    Reasoning,
    ToolCallDelta,
    Usage,
    validate_messages,
)

USER = [{"role": "user", "content": "Hi"}]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}


class Recording(AsyncGeneratorProvider):
    """Answers with its script and remembers what it was called with."""

    working = True
    supports_message_history = True
    supports_system_message = True
    script: ClassVar[tuple[Chunk, ...]] = ("Hello", " world")
    calls: ClassVar[list[tuple[Messages, dict[str, Any]]]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.calls = []

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[Chunk]:
        cls.calls.append((messages, kwargs))
        for chunk in cls.script:
            yield chunk


def make(name: str, **attrs: Any) -> type[Recording]:
    cls = type(name, (Recording,), {"name": name, **attrs})
    registry.register(cls)
    return cls


TOOL_SCRIPT: tuple[Chunk, ...] = (
    Reasoning("thinking"),
    ToolCallDelta(0, "call_1", "get_weather", '{"city":'),
    ToolCallDelta(0, arguments=' "Paris"}'),
    Finish("tool_calls"),
    Usage.of(12, 5),
)


# -- messages ------------------------------------------------------------------


def test_openai_message_shapes_are_accepted_as_written() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "What is this?"}, IMAGE]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "42"},
    ]
    checked = validate_messages(messages)
    assert checked[1]["content"][1] == IMAGE
    assert checked[2]["tool_calls"][0]["function"]["name"] == "f"
    assert "content" not in checked[2]
    assert checked[3] == messages[3]


@pytest.mark.parametrize(
    ("message", "match"),
    [
        ({"role": "tool", "content": "42"}, "tool_call_id"),
        ({"role": "user", "content": [IMAGE | {"image_url": {"url": "http://x/a.png"}}]}, "https:"),
        ({"role": "user", "content": [{"type": "video", "url": "x"}]}, "content.0"),
        ({"role": "system", "content": [IMAGE]}, "only a user message may contain images"),
        ({"role": "user", "content": "hi", "tool_call_id": "x"}, "only a tool message"),
        ({"role": "assistant", "content": None}, "content is required"),
        ({"role": "user", "content": 3}, "a valid string or a list of content parts"),
    ],
)
def test_malformed_turns_get_a_clear_error(message: dict[str, Any], match: str) -> None:
    with pytest.raises(errors.InvalidMessagesError, match=match) as caught:
        validate_messages([message])
    assert "messages[0]" in str(caught.value)
    assert caught.value.request_fault


# -- capabilities -----------------------------------------------------------------


async def test_router_picks_only_providers_that_can_call_tools() -> None:
    plain = make("Plain")
    tools = make("Tooled", supports_tools=True, script=TOOL_SCRIPT)
    answer = await Router().plan("", USER, tools=TOOLS).answer()
    assert answer.provider == "Tooled"
    assert not plain.calls
    assert tools.calls[0][1]["tools"] == TOOLS


@pytest.mark.parametrize(
    ("options", "messages", "feature"),
    [
        ({"tools": TOOLS}, USER, "tools"),
        ({}, [{"role": "user", "content": [IMAGE]}], "vision"),
        ({"response_format": {"type": "json_object"}}, USER, "json_mode"),
        ({}, [{"role": "tool", "tool_call_id": "c", "content": "1"}], "tools"),
    ],
)
async def test_a_named_provider_that_cannot_serve_the_request_is_refused_before_any_call(
    options: dict[str, Any], messages: list[dict[str, Any]], feature: str
) -> None:
    plain = make("Plain")
    with pytest.raises(errors.UnsupportedFeatureError) as caught:
        Router().plan("", messages, provider="Plain", **options)
    assert caught.value.feature == feature
    assert caught.value.request_fault
    assert "Plain" in str(caught.value)
    assert not plain.calls


async def test_no_capable_provider_names_the_missing_capability() -> None:
    make("Plain")
    with pytest.raises(errors.NoProviderAvailableError, match="cannot read images"):
        Router().plan("", [{"role": "user", "content": [IMAGE]}])


async def test_text_parts_reach_a_text_only_provider_as_one_string() -> None:
    plain = make("Plain")
    content = [{"type": "text", "text": "Hello"}, {"type": "text", "text": "there"}]
    await Router().complete("", [{"role": "user", "content": content}])
    assert plain.calls[0][0] == [{"role": "user", "content": "Hellothere"}]


async def test_a_vision_provider_gets_the_parts_unchanged() -> None:
    seeing = make("Seeing", supports_vision=True)
    content = [{"type": "text", "text": "What is it?"}, IMAGE]
    await Router().complete("", [{"role": "user", "content": content}])
    assert seeing.calls[0][0][0]["content"] == content


def test_capabilities_are_listed_and_filterable() -> None:
    make("Plain")
    make("Tooled", supports_tools=True, sampling_options=frozenset({"temperature"}))
    infos = g4f_lite.providers(supports_tools=True)
    assert [info.name for info in infos] == ["Tooled"]
    assert infos[0].sampling_options == ["temperature"]
    assert not infos[0].supports_vision
    assert "Plain" in {info.name for info in g4f_lite.providers(supports_tools=False)}


# -- options ----------------------------------------------------------------------


async def test_sampling_options_reach_only_providers_that_honour_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    honours = make("Honours", sampling_options=frozenset({"temperature", "max_tokens"}))
    ignores = make("Ignores")
    with caplog.at_level(logging.DEBUG, logger="g4f_lite.router"):
        for provider in ("Honours", "Ignores"):
            await Router().complete(
                "", USER, provider=provider, temperature=0.2, max_tokens=5, seed=None, top_p=0.5
            )
    assert honours.calls[0][1]["temperature"] == 0.2
    assert honours.calls[0][1]["max_tokens"] == 5
    assert not {"top_p", "seed"} & honours.calls[0][1].keys()
    assert not {"temperature", "max_tokens", "top_p", "seed"} & ignores.calls[0][1].keys()
    assert "does not take temperature" in caplog.text


async def test_a_whole_answer_asks_the_provider_for_one_and_a_stream_does_not() -> None:
    provider = make("Plain")
    router = Router()
    await router.complete("", USER)
    async for _ in router.stream("", USER):
        pass
    assert provider.calls[0][1]["stream"] is False
    assert "stream" not in provider.calls[1][1]


# -- events -------------------------------------------------------------------------


async def test_events_pass_through_the_router_in_order() -> None:
    make("Tooled", supports_tools=True, script=("Let me check. ", *TOOL_SCRIPT))
    call = Router().plan("", USER, tools=TOOLS, stream=True)
    chunks = [chunk async for chunk in call.events()]
    assert chunks == ["Let me check. ", *TOOL_SCRIPT]
    assert call.answered_by == "Tooled"


async def test_the_whole_answer_assembles_tool_calls_usage_and_reasoning() -> None:
    make("Tooled", supports_tools=True, script=TOOL_SCRIPT)
    answer = await Router().plan("", USER, tools=TOOLS).answer()
    assert [(c.id, c.function.name, c.function.arguments) for c in answer.tool_calls] == [
        ("call_1", "get_weather", '{"city": "Paris"}')
    ]
    assert answer.finish_reason == "tool_calls"
    assert answer.usage == Usage(prompt_tokens=12, completion_tokens=5, total_tokens=17)
    assert answer.reasoning == "thinking"
    assert answer.text == ""


async def test_the_text_api_ignores_events() -> None:
    make("Tooled", supports_tools=True, script=("a", *TOOL_SCRIPT, "b"))
    router = Router()
    assert await router.complete("", USER, tools=TOOLS) == "ab"
    assert [c async for c in router.stream("", USER, tools=TOOLS)] == ["a", "b"]
    legacy = g4f_lite.ChatCompletion.create("", USER, tools=TOOLS)
    assert legacy == "ab"
    assert list(g4f_lite.ChatCompletion.create("", USER, stream=True, tools=TOOLS)) == ["a", "b"]


async def test_a_stream_failing_after_events_reports_only_text_as_partial() -> None:
    class Breaks(Recording):
        name = "Breaks"

        @classmethod
        async def create_async_generator(
            cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
        ) -> AsyncIterator[Chunk]:
            yield Usage.of(1, 1)
            yield "half"
            raise errors.TruncatedResponseError(cls.name, "dropped")

    registry.register(Breaks)
    with pytest.raises(errors.PartialResponseError) as caught:
        async for _ in Router().stream("", USER):
            pass
    assert caught.value.partial == "half"


def test_answer_without_reported_finish_or_usage() -> None:
    answer = Answer(["a", "b"], "P")
    assert (answer.text, answer.finish_reason, answer.usage, answer.tool_calls) == (
        "ab",
        "stop",
        None,
        [],
    )
    calls = Answer([ToolCallDelta(1, "b", "g"), ToolCallDelta(0, None, "f", "{}")])
    assert [(c.id, c.function.name) for c in calls.tool_calls] == [("call_0", "f"), ("b", "g")]
    assert calls.finish_reason == "tool_calls"


def test_base_provider_defaults_declare_no_extra_capability() -> None:
    info = Recording.get_info()
    assert (info.supports_tools, info.supports_vision, info.supports_json_mode) == (
        False,
        False,
        False,
    )
    assert BaseProvider.sampling_options == frozenset()
