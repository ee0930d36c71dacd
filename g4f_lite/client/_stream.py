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


class _ChunkShaper:
    r"""Shapes a routed call's text and events into ``chat.completion.chunk``\ s."""

    __slots__ = ("build", "finish", "model", "started", "usage")

    def __init__(self, model: str) -> None:
        self.model = model
        self.build: _Chunks | None = None
        self.finish: FinishReason | None = None
        self.usage: Usage | None = None
        self.started: set[int] = set()

    def head(self, provider: str) -> list[CompletionChunk]:
        self.build = _Chunks(self.model, provider)
        return [self.build.chunk(Delta(role="assistant", content=""))]

    def item(self, item: Chunk) -> CompletionChunk | None:
        build = self.build
        assert build is not None  # head() comes first
        if type(item) is str:
            return build.chunk(Delta(None, item)) if item else None
        if isinstance(item, ToolCallDelta):
            first = item.index not in self.started
            if first:
                self.started.add(item.index)
            piece = DeltaToolCall(
                index=item.index,
                id=(item.id or f"call_{item.index}") if first else item.id,
                type="function" if first else None,
                function=DeltaFunction(
                    name=(item.name or "") if first else item.name,
                    arguments=item.arguments,
                ),
            )
            return build.chunk(Delta(tool_calls=[piece]))
        if isinstance(item, Finish):
            self.finish = item.reason
        elif isinstance(item, Usage):
            self.usage = item
        return None

    def tail(self) -> list[CompletionChunk]:
        build = self.build
        assert build is not None
        finish = self.finish or ("tool_calls" if self.started else "stop")
        last = [build.chunk(Delta(), finish)]
        if self.usage is not None:
            last.append(build.usage(self.usage))
        return last


def completion_chunks(
    call: RoutedCall, model: str, owned: OwnedSession | None = None
) -> AsyncIterator[CompletionChunk]:
    """The chunks of ``call``'s answer: OpenAI's ``chat.completion.chunk`` sequence.

    A first chunk with ``role: "assistant"``; a chunk per text delta and per
    tool-call piece (the first piece of a call carries its id, type and
    name); a chunk with ``finish_reason`` (as reported, else ``tool_calls``
    when tools were called, else ``stop``); and, when the provider reported
    usage, a last chunk with no choices and ``usage``. Reasoning text is left
    out (OpenAI's chunk has no place for it). ``owned``: the session the
    request is made with. Built inside the router's stream
    (:meth:`~g4f_lite.router.RoutedCall.shaped`), not by a generator around it.
    """
    call.session = owned
    return call.shaped(_ChunkShaper(model))


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
