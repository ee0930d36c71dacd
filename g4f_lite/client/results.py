"""What a chat completion returns: pydantic models shaped like the OpenAI SDK's.

A whole answer is a :class:`Completion` (OpenAI's ``chat.completion``, a
pydantic model), a streamed one a series of :class:`CompletionChunk`
(``chat.completion.chunk``, light dataclasses with the same surface).
Attribute access is the SDK's: ``result.choices[0].message.content``,
``.message.tool_calls[0].function.arguments``, ``result.usage.total_tokens``;
``model_dump()`` gives OpenAI's JSON. ``provider`` (who answered) is
g4f-lite's addition. ``serve`` answers with the same models.
"""

from __future__ import annotations

import dataclasses
import json
import random
import time
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..answer import Answer
from ..types import FinishReason, ToolCall, Usage

__all__ = [
    "ChunkChoice",
    "Completion",
    "CompletionChoice",
    "CompletionChunk",
    "CompletionMessage",
    "Delta",
    "DeltaFunction",
    "DeltaToolCall",
    "completion_id",
]


def completion_id() -> str:
    """A fresh ``chatcmpl-...`` id (unique, not secret)."""
    # Not secrets.token_hex: a system call per answer for an id that only
    # has to be unique; 96 random bits from the seeded generator are.
    return f"chatcmpl-{_ids.getrandbits(96):024x}"


_ids = random.Random()


class CompletionMessage(BaseModel):
    """The assistant's answer: its text, or the tools it calls (or both)."""

    model_config = ConfigDict(frozen=True)

    role: Literal["assistant"] = "assistant"
    content: str | None
    tool_calls: list[ToolCall] | None = None
    refusal: str | None = None


class CompletionChoice(BaseModel):
    """The one choice of a whole answer."""

    model_config = ConfigDict(frozen=True)

    index: int = 0
    message: CompletionMessage
    finish_reason: FinishReason = "stop"
    logprobs: None = None


class Completion(BaseModel):
    """A whole answer: OpenAI's ``chat.completion``, plus ``provider``.

    ``usage`` is what the provider reported, ``None`` when it reported
    nothing (never invented).
    """

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=completion_id)
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None
    system_fingerprint: str | None = None
    #: The provider that answered (a g4f-lite addition to OpenAI's shape).
    provider: str | None = None

    @classmethod
    def from_answer(cls, answer: Answer, model: str) -> Completion:
        """The completion for an assembled :class:`~g4f_lite.answer.Answer`."""
        calls = answer.tool_calls if answer.has_tool_calls else None
        text = answer.text
        # One validation of the nested data, not one per model: a third cheaper,
        # on every whole answer. The fields set are those of nested construction.
        return cls.model_validate(
            {
                "model": model,
                "choices": [
                    {
                        "message": {
                            "content": text if text or calls is None else None,
                            "tool_calls": calls,
                        },
                        "finish_reason": answer.finish_reason,
                    }
                ],
                "usage": answer.usage,
                "provider": answer.provider,
            }
        )


# The stream's chunks are plain slotted dataclasses, not pydantic models: a
# long answer builds three per token, and pydantic's construction costs four
# to five microseconds each time, as much as reading the token off the wire.
# They keep the surface callers use on the SDK's models (attributes,
# ``model_dump()``, ``model_dump_json()``), and their dump validates against
# OpenAI's ``chat.completion.chunk`` (a test checks it).


def _dump(value: Any, exclude_none: bool) -> Any:
    if isinstance(value, _Record):
        return value.model_dump(exclude_none=exclude_none)
    if isinstance(value, list):
        return [_dump(item, exclude_none) for item in value]
    if isinstance(value, BaseModel):
        return value.model_dump(exclude_none=exclude_none)
    return value


class _Record:
    """The pydantic-like surface of the chunk dataclasses."""

    __slots__ = ()

    def model_dump(self, *, exclude_none: bool = False) -> dict[str, Any]:
        """The chunk as OpenAI's JSON object (a dict)."""
        result = {}
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, field.name)
            if value is None and exclude_none:
                continue
            result[field.name] = _dump(value, exclude_none)
        return result

    def model_dump_json(self, *, exclude_none: bool = False) -> str:
        """The chunk as OpenAI's JSON text."""
        return json.dumps(self.model_dump(exclude_none=exclude_none), separators=(",", ":"))


@dataclass(slots=True)
class DeltaFunction(_Record):
    """A piece of a streamed tool call's function: its name first, then argument text."""

    name: str | None = None
    arguments: str | None = None


@dataclass(slots=True)
class DeltaToolCall(_Record):
    """A piece of a streamed tool call: OpenAI's ``delta.tool_calls[i]``."""

    index: int = 0
    id: str | None = None
    type: Literal["function"] | None = None
    function: DeltaFunction | None = None


@dataclass(slots=True)
class Delta(_Record):
    """What one streamed chunk adds to the answer."""

    role: Literal["assistant"] | None = None
    content: str | None = None
    tool_calls: list[DeltaToolCall] | None = None
    refusal: str | None = None


@dataclass(slots=True)
class ChunkChoice(_Record):
    """The one choice of a streamed chunk."""

    index: int = 0
    delta: Delta = dataclasses.field(default_factory=Delta)
    finish_reason: FinishReason | None = None
    logprobs: None = None


@dataclass(slots=True)
class CompletionChunk(_Record):
    """One piece of a streamed answer: OpenAI's ``chat.completion.chunk``, plus ``provider``.

    The last chunk of a stream whose provider reported usage has empty
    ``choices`` and ``usage`` set, as OpenAI's ``include_usage`` chunk.
    """

    id: str = ""
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int = 0
    model: str = ""
    choices: list[ChunkChoice] = dataclasses.field(default_factory=list)
    usage: Usage | None = None
    system_fingerprint: str | None = None
    #: The provider that answered (a g4f-lite addition to OpenAI's shape).
    provider: str | None = None
