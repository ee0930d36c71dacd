"""Fuzzing the stream parsers: whatever bytes, chunking, status or headers an upstream
sends, the only exceptions are :mod:`g4f_lite.errors` types.

The real parsing code runs on a fake response whose ``content.iter_any()``
yields the generated chunks (no sockets: hundreds of examples stay fast);
statuses go through :func:`g4f_lite.http.raise_for_status` as providers call it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from g4f_lite_aiengine import protocol
from g4f_lite_openai import OpenAICompatProvider
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from g4f_lite import errors
from g4f_lite.http import iter_sse_json, parse_retry_after, raise_for_status

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


class FakeContent:
    """The ``response.content`` the parsers read: ``iter_any``, ``read``, ``is_eof``."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = list(chunks)

    async def iter_any(self) -> AsyncIterator[bytes]:
        while self._chunks:
            yield self._chunks.pop(0)

    async def read(self, n: int = -1) -> bytes:
        data = b"".join(self._chunks)
        if n < 0 or n >= len(data):
            self._chunks = []
            return data
        self._chunks = [data[n:]]
        return data[:n]

    def is_eof(self) -> bool:
        return not self._chunks


class FakeResponse:
    """Enough of ``aiohttp.ClientResponse`` for the parsers."""

    def __init__(
        self, chunks: list[bytes], status: int = 200, headers: dict[str, str] | None = None
    ) -> None:
        self.content = FakeContent(chunks)
        self.status = status
        self.reason = "Reason"
        self.headers = CIMultiDict(headers or {})
        self.content_type = self.headers.get("Content-Type", "text/event-stream").split(";")[0]


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at the (sorted, in-range) ``cuts``."""
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, start = [], 0
    for point in [*points, len(data)]:
        pieces.append(data[start:point])
        start = point
    return [p for p in pieces if p]


# Bodies that look like the protocols, so that the fuzzer reaches deep into them.
_EVENT_PARTS = st.sampled_from(
    [
        b"data: ",
        b"data:",
        b'{"type": "live", "data": "hi"}',
        b'{"type": "end", "data": "{\\"success\\": true, \\"reply\\": \\"x\\"}"}',
        b'{"type": "end", "data": "{\\"reply\\": 1, \\"new_token\\": \\"a\\\\r\\\\nb\\"}"}',
        b'{"type": "error", "data": "boom", "overLimit": true}',
        b'{"type": "live", "subtype": "status", "data": null}',
        b'{"choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": null}]}',
        b'{"choices": [{"delta": {}, "finish_reason": "stop"}]}',
        b'{"error": {"message": "bad"}}',
        b'{"error": "bad"}',
        b"[DONE]",
        b"[" * 200 + b"]" * 200,
        b"{" * 70,
        b"\n",
        b"\r\n",
        b"\n\n",
        b"\xff\xfe",
        b'"',
        b"\\",
        b"event: ping",
        b": comment",
    ]
)
BODIES = st.one_of(
    st.binary(max_size=400),
    st.lists(_EVENT_PARTS, max_size=20).map(b"".join),
    st.lists(st.one_of(_EVENT_PARTS, st.binary(max_size=10)), max_size=20).map(b"".join),
)
CUTS = st.lists(st.integers(min_value=0, max_value=2000), max_size=8)
STATUSES = st.sampled_from([200, 201, 204, 301, 400, 401, 403, 404, 413, 422, 429, 500, 503])
HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "Content-Type": st.sampled_from(
            ["text/event-stream", "application/json", "text/html", "application/json; charset=x"]
        ),
        "Retry-After": st.one_of(
            st.sampled_from(["inf", "nan", "1e400", "-1", "Fri, 31 Dec 9999 23:59:59 GMT"]),
            st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
        ),
    },
)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _aiengine(response: FakeResponse, stream: bool) -> str:
    await raise_for_status(response, "Fuzz")  # type: ignore[arg-type]
    if not stream:
        body = await protocol.read_body(response, "Fuzz", 64 * 1024)  # type: ignore[arg-type]
        return protocol.parse_reply("Fuzz", body).reply
    parts = []
    result = protocol.StreamResult()
    async for text in protocol.iter_text(response, "Fuzz", 4096, result):  # type: ignore[arg-type]
        parts.append(text)
    return "".join(parts)


async def _openai(response: FakeResponse, stream: bool) -> str:
    await OpenAICompatProvider.raise_for_status(response, frozenset())  # type: ignore[arg-type]
    if not stream:
        return await OpenAICompatProvider._read_completion(response, 4096)  # type: ignore[arg-type]
    parts = []
    async for text in OpenAICompatProvider._iter_stream(response, 4096):  # type: ignore[arg-type]
        parts.append(text)
    return "".join(parts)


async def _sse(response: FakeResponse, stream: bool) -> str:
    return str([event async for event in iter_sse_json(response, "Fuzz", 4096)])  # type: ignore[arg-type]


@pytest.mark.parametrize("parser", [_aiengine, _openai, _sse], ids=["aiengine", "openai", "sse"])
@FUZZ
@given(body=BODIES, cuts=CUTS, status=STATUSES, headers=HEADERS, stream=st.booleans())
def test_stream_parsers_raise_only_typed_errors(
    parser: Any, body: bytes, cuts: list[int], status: int, headers: dict[str, str], stream: bool
) -> None:
    response = FakeResponse(chunked(body, cuts), status, headers)
    try:
        outcome: object = run(parser(response, stream))
    except errors.G4FLiteError as exc:
        outcome = exc
    if isinstance(outcome, errors.ProviderError):
        assert outcome.provider in ("Fuzz", "OpenAICompatible")  # typed, naming the provider
    else:
        assert isinstance(outcome, (str, errors.G4FLiteError))


@FUZZ
@given(value=st.text(max_size=40))
def test_retry_after_never_raises_and_stays_in_range(value: str) -> None:
    seconds = parse_retry_after(value)
    assert seconds is None or 0.0 <= seconds <= 86400.0


@FUZZ
@given(body=BODIES, cuts=CUTS)
def test_chunking_does_not_change_an_aiengine_answer(body: bytes, cuts: list[int]) -> None:
    def outcome(chunks: list[bytes]) -> Any:
        try:
            return run(_aiengine(FakeResponse(chunks), True))
        except errors.G4FLiteError as exc:
            return type(exc)

    assert outcome(chunked(body, cuts)) == outcome([body] if body else [])
