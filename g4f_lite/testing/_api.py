"""What the emulators of keyed chat APIs share: their options, the key, the faults, the pieces.

:class:`APIEmulator` is the base of :class:`~g4f_lite.testing.OpenAIEmulator`,
:class:`~g4f_lite.testing.AnthropicEmulator` and
:class:`~g4f_lite.testing.GeminiEmulator`; each adds its own wire format and
says where its protocol carries the key (:meth:`APIEmulator.sent_key`).
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import TypedDict

from aiohttp import web

from ._aiengine import API_KEY_PLACEHOLDER, Fault
from ._server import LocalServer, RecordedRequest

__all__ = ["APIEmulator", "EmulatorOptions"]


class EmulatorOptions(TypedDict, total=False):
    """The options every API emulator takes (see :class:`APIEmulator`)."""

    api_key: str | None
    reply: str | Callable[[RecordedRequest], str] | None
    tool_arguments: str | Callable[[RecordedRequest], str] | None
    words_per_chunk: int
    faults: Iterable[Fault]
    fault: Fault | None
    echo_key_in_errors: bool
    host: str
    port: int


class APIEmulator(LocalServer):
    """A chat API on 127.0.0.1 with a free port, serving ``models``.

    With ``api_key`` set, requests must send it (where, the subclass says).
    Every request is appended to :attr:`requests`; queued :attr:`faults`
    apply to one chat request each, :attr:`fault` to every other one; a
    fault's message may hold :data:`~g4f_lite.testing.API_KEY_PLACEHOLDER`,
    replaced by the key the request sent (as some servers echo it).
    ``echo_key_in_errors`` makes a refused key appear in the error, to check
    that clients scrub it. ``reply`` and ``tool_arguments`` (a string, or a
    callable taking the request) replace the default text answer and
    tool-call arguments; answers are streamed ``words_per_chunk`` words at a time.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        models: Sequence[str] = ("emulated-model",),
        reply: str | Callable[[RecordedRequest], str] | None = None,
        tool_arguments: str | Callable[[RecordedRequest], str] | None = None,
        words_per_chunk: int = 1,
        faults: Iterable[Fault] = (),
        fault: Fault | None = None,
        echo_key_in_errors: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.api_key = api_key
        self.models = list(models)
        self.reply = reply
        self.tool_arguments = tool_arguments
        self.words_per_chunk = words_per_chunk
        self.faults: deque[Fault] = deque(faults)
        self.fault = fault
        self.echo_key_in_errors = echo_key_in_errors
        super().__init__(host=host, port=port)

    def __repr__(self) -> str:
        # The key is a secret even in tests: never print it.
        return f"<{type(self).__name__} {self.host}:{self.port} models={self.models!r}>"

    def sent_key(self, request: web.Request) -> str:
        """The key ``request`` sent, where this protocol carries it (empty: none)."""
        header = request.headers.get("Authorization", "")
        return header[7:] if header.startswith("Bearer ") else ""

    def next_fault(self, request: web.Request) -> Fault | None:
        """The fault for this chat request: the next queued one, else :attr:`fault`.

        Its message has the key the request sent in place of
        :data:`~g4f_lite.testing.API_KEY_PLACEHOLDER`.
        """
        fault = self.faults.popleft() if self.faults else self.fault
        if fault is None or API_KEY_PLACEHOLDER not in fault.message:
            return fault
        message = fault.message.replace(API_KEY_PLACEHOLDER, self.sent_key(request))
        return dataclasses.replace(fault, message=message)

    def pieces(self, text: str) -> list[str]:
        """``text`` cut into stream pieces of ``words_per_chunk`` words, spaces kept."""
        words = text.split(" ")
        step = max(1, self.words_per_chunk)
        pieces = [" ".join(words[i : i + step]) for i in range(0, len(words), step)]
        return [p if i == len(pieces) - 1 else p + " " for i, p in enumerate(pieces)]
