"""Assembling a stream of text and events into one answer.

Providers stream text deltas and :mod:`events <g4f_lite.types>`; callers that
want the whole answer (the :class:`~g4f_lite.client.Client` without
``stream``, ``serve``'s non-streamed answers) feed every chunk to an
:class:`Answer` and read the text, tool calls, usage and finish reason back.
"""

from __future__ import annotations

from collections.abc import Iterable

from .types import (
    Chunk,
    Finish,
    FinishReason,
    FunctionCall,
    Reasoning,
    ToolCall,
    ToolCallDelta,
    Usage,
)

__all__ = ["Answer"]


class _PendingCall:
    __slots__ = ("arguments", "id", "name")

    def __init__(self) -> None:
        self.id: str | None = None
        self.name: str | None = None
        self.arguments: list[str] = []


class Answer:
    """A whole answer, built from the chunks of a stream in order.

    ``provider`` names who answered, when known. Tool-call deltas are joined
    by their ``index``; ``usage`` is the last usage reported (``None`` when
    the provider reported none: never estimated here).
    """

    __slots__ = ("_calls", "_reasoning", "_text", "finish", "provider", "usage")

    def __init__(self, chunks: Iterable[Chunk] = (), provider: str | None = None) -> None:
        self.provider = provider
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._calls: dict[int, _PendingCall] = {}
        self.usage: Usage | None = None
        self.finish: FinishReason | None = None
        for chunk in chunks:
            self.add(chunk)

    def add(self, chunk: Chunk) -> None:
        """Take the next chunk of the stream."""
        if type(chunk) is str:
            self._text.append(chunk)
        elif isinstance(chunk, ToolCallDelta):
            call = self._calls.get(chunk.index)
            if call is None:
                call = self._calls[chunk.index] = _PendingCall()
            if chunk.id:
                call.id = chunk.id
            if chunk.name:
                call.name = chunk.name
            if chunk.arguments:
                call.arguments.append(chunk.arguments)
        elif isinstance(chunk, Usage):
            self.usage = chunk
        elif isinstance(chunk, Finish):
            self.finish = chunk.reason
        elif isinstance(chunk, Reasoning):
            self._reasoning.append(chunk.text)

    @property
    def text(self) -> str:
        """The answer's text."""
        return "".join(self._text)

    @property
    def reasoning(self) -> str | None:
        """The model's reasoning text, if it exposed any."""
        return "".join(self._reasoning) if self._reasoning else None

    @property
    def tool_calls(self) -> list[ToolCall]:
        """The tool calls, in index order; a call that never got an id gets ``call_<index>``."""
        return [
            ToolCall(
                id=call.id or f"call_{index}",
                function=FunctionCall(name=call.name or "", arguments="".join(call.arguments)),
            )
            for index, call in sorted(self._calls.items())
        ]

    @property
    def has_tool_calls(self) -> bool:
        """Whether the answer calls any tool."""
        return bool(self._calls)

    @property
    def finish_reason(self) -> FinishReason:
        """Why it ended: as reported, else ``tool_calls`` when it calls tools, else ``stop``."""
        if self.finish is not None:
            return self.finish
        return "tool_calls" if self._calls else "stop"
