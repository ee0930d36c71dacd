"""What a chat completion returns: pydantic models shaped like the OpenAI SDK's.

A whole answer is a :class:`Completion` (OpenAI's ``chat.completion``), a
streamed one a series of :class:`CompletionChunk` (``chat.completion.chunk``).
Attribute access is the SDK's: ``result.choices[0].message.content``,
``.message.tool_calls[0].function.arguments``, ``result.usage.total_tokens``;
``model_dump()`` gives OpenAI's JSON. ``provider`` (who answered) is
g4f-lite's addition. ``serve`` answers with the same models.
"""

from __future__ import annotations

import secrets
import time
from typing import Literal

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
    """A fresh ``chatcmpl-...`` id."""
    return f"chatcmpl-{secrets.token_hex(12)}"


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
        message = CompletionMessage(
            content=text if text or calls is None else None, tool_calls=calls
        )
        return cls(
            model=model,
            choices=[CompletionChoice(message=message, finish_reason=answer.finish_reason)],
            usage=answer.usage,
            provider=answer.provider,
        )


class DeltaFunction(BaseModel):
    """A piece of a streamed tool call's function: its name first, then argument text."""

    model_config = ConfigDict(frozen=True)

    name: str | None = None
    arguments: str | None = None


class DeltaToolCall(BaseModel):
    """A piece of a streamed tool call: OpenAI's ``delta.tool_calls[i]``."""

    model_config = ConfigDict(frozen=True)

    index: int
    id: str | None = None
    type: Literal["function"] | None = None
    function: DeltaFunction | None = None


class Delta(BaseModel):
    """What one streamed chunk adds to the answer."""

    model_config = ConfigDict(frozen=True)

    role: Literal["assistant"] | None = None
    content: str | None = None
    tool_calls: list[DeltaToolCall] | None = None
    refusal: str | None = None


class ChunkChoice(BaseModel):
    """The one choice of a streamed chunk."""

    model_config = ConfigDict(frozen=True)

    index: int = 0
    delta: Delta
    finish_reason: FinishReason | None = None
    logprobs: None = None


class CompletionChunk(BaseModel):
    """One piece of a streamed answer: OpenAI's ``chat.completion.chunk``, plus ``provider``.

    The last chunk of a stream whose provider reported usage has empty
    ``choices`` and ``usage`` set, as OpenAI's ``include_usage`` chunk.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None
    system_fingerprint: str | None = None
    #: The provider that answered (a g4f-lite addition to OpenAI's shape).
    provider: str | None = None
