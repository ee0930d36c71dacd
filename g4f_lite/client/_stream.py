"""Streamed answers: OpenAI-shaped chunks built from a routed call's text and events.

:class:`AsyncStream` (``AsyncClient``) and :class:`Stream` (``Client``) are
iterators of :class:`~g4f_lite.client.results.CompletionChunk` and context
managers whose exit closes the upstream request, as the OpenAI SDK's are.
Chunks are light dataclasses built from typed events, so that a stream
costs next to nothing over the text it carries.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import Any

from .._portal import portal
from ..http import OwnedSession
from ..router import RoutedCall
from ..types import Chunk, Finish, FinishReason, ToolCallDelta, Usage
from .results import (
    ChunkChoice,
    CompletionChunk,
    Delta,
    DeltaFunction,
    DeltaToolCall,
    completion_id,
)

__all__ = ["AsyncStream", "Stream", "completion_chunks"]


class _Chunks:
    """Builds the chunks of one stream: same id, creation time, model and provider on all."""

    __slots__ = ("created", "id", "model", "provider")

    def __init__(self, model: str, provider: str | None) -> None:
        self.id = completion_id()
        self.created = int(time.time())
        self.model = model
        self.provider = provider

    def chunk(self, delta: Delta, finish: FinishReason | None = None) -> CompletionChunk:
        # Positional arguments: one chunk per token, and keyword arguments
        # cost a dict each time.
        return CompletionChunk(
            self.id,
            "chat.completion.chunk",
            self.created,
            self.model,
            [ChunkChoice(0, delta, finish)],
            None,
            None,
            self.provider,
        )

    def usage(self, usage: Usage) -> CompletionChunk:
        return CompletionChunk(
            id=self.id,
            created=self.created,
            model=self.model,
            choices=[],
            usage=usage,
            provider=self.provider,
        )


_END: Any = object()


async def completion_chunks(
    call: RoutedCall, model: str, owned: OwnedSession | None = None
) -> AsyncIterator[CompletionChunk]:
    """The chunks of ``call``'s answer: OpenAI's ``chat.completion.chunk`` sequence.

    A first chunk with ``role: "assistant"``; a chunk per text delta and per
    tool-call piece (the first piece of a call carries its id, type and
    name); a chunk with ``finish_reason`` (as reported, else ``tool_calls``
    when tools were called, else ``stop``); and, when the provider reported
    usage, a last chunk with no choices and ``usage``. Reasoning text is left
    out (OpenAI's chunk has no place for it). ``owned``: the session the
    request is opened with (the request is opened, and providers failed
    over, while the first chunk is awaited).
    """
    events = call.events()
    try:
        try:
            if owned is not None:
                with owned.active():
                    item: Chunk = await events.__anext__()
            else:
                item = await events.__anext__()
        except StopAsyncIteration:
            item = _END
        build = _Chunks(model, call.answered_by)
        yield build.chunk(Delta(role="assistant", content=""))
        finish: FinishReason | None = None
        usage: Usage | None = None
        started: set[int] = set()
        while item is not _END:
            if type(item) is str:
                if item:
                    yield build.chunk(Delta(None, item))
            elif isinstance(item, ToolCallDelta):
                first = item.index not in started
                if first:
                    started.add(item.index)
                piece = DeltaToolCall(
                    index=item.index,
                    id=(item.id or f"call_{item.index}") if first else item.id,
                    type="function" if first else None,
                    function=DeltaFunction(
                        name=(item.name or "") if first else item.name,
                        arguments=item.arguments,
                    ),
                )
                yield build.chunk(Delta(tool_calls=[piece]))
            elif isinstance(item, Finish):
                finish = item.reason
            elif isinstance(item, Usage):
                usage = item
            try:
                item = await events.__anext__()
            except StopAsyncIteration:
                break
        if finish is None:
            finish = "tool_calls" if started else "stop"
        yield build.chunk(Delta(), finish)
        if usage is not None:
            yield build.usage(usage)
    finally:
        await events.aclose()  # type: ignore[attr-defined]


class AsyncStream:
    """A streamed answer for ``async for``; ``async with`` (or :meth:`aclose`) ends it early.

    Leaving the ``async with`` block closes the upstream request at once,
    whether or not the stream was read to the end.
    """

    __slots__ = ("_chunks",)

    def __init__(self, chunks: AsyncIterator[CompletionChunk]) -> None:
        self._chunks = chunks

    def __aiter__(self) -> AsyncIterator[CompletionChunk]:
        return self._chunks

    async def __anext__(self) -> CompletionChunk:
        return await self._chunks.__anext__()

    async def aclose(self) -> None:
        """Stop the stream and close its upstream request now."""
        await self._chunks.aclose()  # type: ignore[attr-defined]

    async def __aenter__(self) -> AsyncStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


class Stream:
    """A streamed answer for ``for``; ``with`` (or :meth:`close`) ends it early.

    The chunks are read on g4f-lite's background event loop, one per
    ``next()``, never ahead of the caller. Leaving the ``with`` block closes
    the upstream request before it returns.
    """

    __slots__ = ("_iterator",)

    def __init__(self, chunks: AsyncIterator[CompletionChunk]) -> None:
        self._iterator = portal().iterate(chunks)

    def __iter__(self) -> Iterator[CompletionChunk]:
        return self._iterator

    def __next__(self) -> CompletionChunk:
        return next(self._iterator)

    def close(self) -> None:
        """Stop the stream and close its upstream request now."""
        # Closing the portal's iterator ends its reader, which closes the chunks.
        self._iterator.close()  # type: ignore[attr-defined]

    def __enter__(self) -> Stream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
