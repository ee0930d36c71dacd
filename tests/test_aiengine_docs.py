"""The code samples of docs/writing-a-provider.md run as written."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from g4f_lite.answer import Answer
from g4f_lite.errors import UnsupportedFeatureError
from g4f_lite.provider import run_provider
from g4f_lite.testing._server import LocalServer

DOC = Path(__file__).parent.parent / "docs" / "writing-a-provider.md"


def samples() -> list[str]:
    """The Python samples, without those marked ``<!-- not-run: reason -->``."""
    found = re.findall(
        r"(<!-- not-run:[^\n]*-->\n)?```python\n(.*?)```", DOC.read_text(), re.DOTALL
    )
    return [source for marker, source in found if not marker]


def run(source: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "doc_sample"}
    exec(compile(source, str(DOC), "exec"), namespace)
    return namespace


def test_every_sample_imports_what_it_uses() -> None:
    found = samples()
    assert len(found) >= 4
    for source in found:
        # Module-level names must resolve; the bodies run in the tests below.
        run(source)


class ToolSite(LocalServer):
    """Speaks the protocol of the MyToolSite sample."""

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        events: list[dict[str, Any]] = [
            {"type": "thinking", "text": "The user wants weather."},
            {"type": "text", "text": "Let me check. "},
            {"type": "tool_call", "index": 0, "id": "call_1", "name": "weather"},
            {"type": "tool_call", "index": 0, "arguments": '{"city": '},
            {"type": "tool_call", "index": 0, "arguments": '"Paris"}'},
            {"type": "done", "usage": {"input": 12, "output": 5}, "reason": "tool_calls"},
        ]
        for event in events:
            await response.write(b"data: " + json.dumps(event).encode() + b"\n\n")
        await response.write_eof()
        return response


async def test_the_events_sample_yields_text_and_events() -> None:
    sample = next(s for s in samples() if "class MyToolSite" in s)
    provider = run(sample)["MyToolSite"]
    tools = [{"type": "function", "function": {"name": "weather"}}]
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    async with ToolSite() as site:
        chunks = [
            c
            async for c in run_provider(
                provider, "m", messages, base_url=site.origin, tools=tools, stream=False
            )
        ]
    answer = Answer(chunks)
    assert answer.text == "Let me check. "
    assert answer.reasoning == "The user wants weather."
    assert [(c.id, c.function.name, c.function.arguments) for c in answer.tool_calls] == [
        ("call_1", "weather", '{"city": "Paris"}')
    ]
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (12, 5)  # type: ignore[union-attr]
    assert answer.finish_reason == "tool_calls"
    body = site.requests[-1].body
    assert (body["tools"], body["stream"]) == (tools, True)


def test_the_text_only_sample_refuses_images_and_joins_parts() -> None:
    sample = next(s for s in samples() if "def text_turns" in s)
    text_turns = run(sample)["text_turns"]
    parts = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    assert text_turns("P", [{"role": "user", "content": parts}]) == [
        {"role": "user", "content": "ab"}
    ]
    image = {"type": "image_url", "image_url": {"url": "https://example.org/x.png"}}
    with pytest.raises(UnsupportedFeatureError) as info:
        text_turns("P", [{"role": "user", "content": [image]}])
    assert (info.value.provider, info.value.feature) == ("P", "vision")
