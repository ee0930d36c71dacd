"""An offline emulator of an OpenAI-compatible chat server, faults included.

It answers as Ollama, vLLM, llama.cpp, LM Studio and the OpenAI API do:

* ``POST /v1/chat/completions``: ``stream: true`` gives SSE chunks
  (``chat.completion.chunk``, a ``role`` delta first, a last chunk with
  ``finish_reason``, then ``data: [DONE]``); otherwise one
  ``chat.completion`` object;
* ``GET /v1/models``: the model list;
* errors as ``{"error": {"message", "type", "code"}}`` with 400, 401 (bearer
  key missing or wrong), 404 (unknown model), 429 (with ``Retry-After``),
  and 5xx.

The :class:`~g4f_lite.testing.Fault` kinds apply as for the AI Engine
emulator: ``status``, ``drop``, ``garbage``, ``no_end`` (the stream closes
without ``finish_reason`` and ``[DONE]``), ``error_event`` (an ``error``
object mid-stream), ``slow_first_byte``, ``stall``, ``error_body`` (an
``{"error": ...}`` object, by default with HTTP 200), ``deep_json`` (``line``,
``body`` or ``error_body``) and ``raw``. ``{api_key}`` in a fault's message is
replaced by the key the client sent, as servers that echo keys do.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from aiohttp import web

from ._aiengine import API_KEY_PLACEHOLDER, Fault, deep_json, write_raw
from ._server import LocalServer, RecordedRequest

__all__ = ["OpenAIEmulator"]

_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_denied", None),
    404: ("invalid_request_error", "model_not_found"),
    429: ("rate_limit_exceeded", "rate_limit_exceeded"),
}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    kind, code = _ERROR_TYPES.get(status, ("server_error", None))
    return web.json_response(
        {"error": {"message": message, "type": kind, "param": None, "code": code}},
        status=status,
        headers=headers,
    )


def _sse(event: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(event).encode() + b"\n\n"


class OpenAIEmulator(LocalServer):
    """An OpenAI-compatible server on 127.0.0.1 with a free port; ``url`` ends in ``/v1``.

    With ``api_key`` set, requests must send ``Authorization: Bearer <key>``.
    Every request is appended to :attr:`requests`; queued :attr:`faults`
    apply to one chat request each, :attr:`fault` to every other one.
    ``echo_key_in_errors`` makes a 401 repeat the key it was sent, as some
    proxies do, to check that clients scrub it from their errors.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        models: Sequence[str] = ("emulated-model",),
        reply: str | Callable[[RecordedRequest], str] | None = None,
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
        self.words_per_chunk = words_per_chunk
        self.faults: deque[Fault] = deque(faults)
        self.fault = fault
        self.echo_key_in_errors = echo_key_in_errors
        super().__init__(host=host, port=port)

    def __repr__(self) -> str:
        # The key is a secret even in tests: never print it.
        return f"<OpenAIEmulator {self.host}:{self.port} models={self.models!r}>"

    @property
    def url(self) -> str:
        """The API base URL, e.g. ``http://127.0.0.1:43125/v1``."""
        return f"{self.origin}/v1"

    # -- protocol ----------------------------------------------------------

    def _authorised(self, request: web.Request) -> web.Response | None:
        if self.api_key is None:
            return None
        header = request.headers.get("Authorization", "")
        sent = header[7:] if header.startswith("Bearer ") else ""
        if sent and secrets.compare_digest(sent, self.api_key):
            return None
        if not sent:
            return _error(401, "You didn't provide an API key.")
        shown = sent if self.echo_key_in_errors else f"{sent[:3]}***{sent[-4:]}"
        return _error(401, f"Incorrect API key provided: {shown}.")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        record = await self._record(request)
        body = record.body
        denied = self._authorised(request)
        if denied is not None:
            return denied
        if request.method == "GET" and request.path == "/v1/models":
            created = int(time.time())
            return web.json_response(
                {
                    "object": "list",
                    "data": [
                        {"id": m, "object": "model", "created": created, "owned_by": "emulator"}
                        for m in self.models
                    ],
                }
            )
        if request.method != "POST" or request.path != "/v1/chat/completions":
            return _error(404, f"Unknown request URL: {request.method} {request.path}")
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return _error(400, "'messages' is a required property")
        model = body.get("model")
        if model not in self.models:
            return _error(404, f"The model `{model}` does not exist.")
        fault = self.faults.popleft() if self.faults else self.fault
        if fault is not None:
            fault = self._echo_key(request, fault)
        if fault is not None and fault.kind == "slow_first_byte":
            await asyncio.sleep(fault.delay)
        if fault is not None and fault.kind in ("status", "error_body"):
            headers = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = f"{fault.retry_after:g}"
            return _error(fault.status, fault.message, headers)
        if fault is not None and fault.kind == "raw":
            return await write_raw(request, fault)
        if fault is not None and fault.kind == "deep_json" and fault.where != "line":
            status = 500 if fault.where == "error_body" else 200
            return web.Response(
                text=deep_json(fault.depth), status=status, content_type="application/json"
            )
        text = self._text(record)
        completion_id = f"chatcmpl-{secrets.token_hex(8)}"
        if body.get("stream") is not True:
            return web.json_response(
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": _usage(text),
                }
            )
        try:
            return await self._stream(request, completion_id, str(model), text, fault)
        except ConnectionResetError:
            return web.Response(status=499)

    @staticmethod
    def _echo_key(request: web.Request, fault: Fault) -> Fault:
        if API_KEY_PLACEHOLDER not in fault.message:
            return fault
        header = request.headers.get("Authorization", "")
        sent = header[7:] if header.startswith("Bearer ") else ""
        return dataclasses.replace(fault, message=fault.message.replace(API_KEY_PLACEHOLDER, sent))

    def _text(self, record: RecordedRequest) -> str:
        if callable(self.reply):
            return self.reply(record)
        if self.reply is not None:
            return self.reply
        messages = record.body.get("messages") or []
        last = (
            messages[-1].get("content", "") if messages and isinstance(messages[-1], dict) else ""
        )
        return f"Hello from the OpenAI-compatible emulator! You said: {last}"

    def _chunks(self, text: str) -> list[str]:
        words = text.split(" ")
        step = max(1, self.words_per_chunk)
        chunks = [" ".join(words[i : i + step]) for i in range(0, len(words), step)]
        return [c if i == len(chunks) - 1 else c + " " for i, c in enumerate(chunks)]

    async def _stream(
        self,
        request: web.Request,
        completion_id: str,
        model: str,
        text: str,
        fault: Fault | None,
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        created = int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            return _sse(
                {
                    "id": completion_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                }
            )

        await response.write(chunk({"role": "assistant", "content": ""}))
        for index, piece in enumerate(self._chunks(text)):
            if fault is not None and index == fault.after:
                if fault.kind == "drop":
                    if request.transport is not None:
                        request.transport.abort()
                    return response
                if fault.kind == "garbage":
                    await response.write(b"data: <html>502 Bad Gateway</html>\n\n")
                    await response.write_eof()
                    return response
                if fault.kind == "error_event":
                    error = {"error": {"message": fault.message, "type": "server_error"}}
                    await response.write(_sse(error))
                    await response.write_eof()
                    return response
                if fault.kind == "stall":
                    await asyncio.sleep(fault.delay)
                if fault.kind == "deep_json":
                    await response.write(b"data: " + deep_json(fault.depth).encode() + b"\n\n")
                    await response.write_eof()
                    return response
            await response.write(chunk({"content": piece}))
        if fault is not None and fault.kind == "no_end":
            await response.write_eof()
            return response
        await response.write(chunk({}, "stop"))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


def _usage(text: str) -> dict[str, int]:
    tokens = len(text.split())
    return {"prompt_tokens": 10, "completion_tokens": tokens, "total_tokens": 10 + tokens}
