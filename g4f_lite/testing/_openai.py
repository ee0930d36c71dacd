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

What it answers (every request body is recorded as sent, unknown fields and
image parts included):

* **tool calls**: with non-empty ``tools``, ``tool_choice`` other than
  ``"none"`` and a last message from the user, one call to the tool
  ``tool_choice`` names (else the first tool), id ``call_<hex>``; its
  arguments are ``tool_arguments`` (a string, or a callable taking the
  :class:`RecordedRequest`), by default a JSON object with every property
  of the tool's ``parameters`` set by type (string ``"emulated"``, integer
  1, number 1.5, boolean true, array ``[]``, object ``{}``, else null).
  Whole: ``content: null`` and ``tool_calls``; streamed: the call's id and
  name with empty arguments, then the arguments in at least two fragments;
  ``finish_reason`` is ``"tool_calls"``;
* **text**: ``reply`` when set; after a ``tool`` message, ``The tool said:
  <its content>``; else ``... You said: <the last message's text>``, plus
  `` (with N image(s))`` when the last user message had image parts;
  ``response_format`` ``json_object``/``json_schema`` wraps it as
  ``{"answer": <text>}``; ``max_tokens``/``max_completion_tokens`` N cut a
  longer answer to its first N words, with ``finish_reason`` ``"length"``;
* **usage**: in every whole answer, and in a last streamed chunk with
  ``choices: []`` when ``stream_options.include_usage`` is true. Tokens are
  whitespace-separated words: of every message's text for the prompt, of
  the answer (or a tool call's arguments, at least 1) for the completion.

The :class:`~g4f_lite.testing.Fault` kinds apply as for the AI Engine
emulator: ``status``, ``drop``, ``garbage``, ``no_end`` (the stream closes
without ``finish_reason`` and ``[DONE]``), ``error_event`` (an ``error``
object mid-stream), ``slow_first_byte``, ``stall``, ``error_body`` (an
``{"error": ...}`` object, by default with HTTP 200), ``deep_json`` (``line``,
``body`` or ``error_body``) and ``raw``. ``{api_key}`` in a fault's message is
replaced by the key the client sent, as servers that echo keys do. A
stream's ``after`` counts the deltas after the role delta (text pieces, or a
tool call's head and argument fragments).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
import time
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from typing_extensions import Unpack

from ._aiengine import Fault, deep_json, write_raw
from ._api import APIEmulator, EmulatorOptions
from ._server import RecordedRequest

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


class OpenAIEmulator(APIEmulator):
    """An OpenAI-compatible server on 127.0.0.1 with a free port; ``url`` ends in ``/v1``.

    With ``api_key`` set, requests must send ``Authorization: Bearer <key>``.
    Every request is appended to :attr:`requests`; queued :attr:`faults`
    apply to one chat request each, :attr:`fault` to every other one.
    ``echo_key_in_errors`` makes a 401 repeat the key it was sent, as some
    proxies do, to check that clients scrub it from their errors.
    ``reply`` and ``tool_arguments`` (a string, or a callable taking the
    request) replace the default text answer and tool-call arguments.
    """

    def __init__(
        self, *, models: Sequence[str] = ("emulated-model",), **options: Unpack[EmulatorOptions]
    ) -> None:
        super().__init__(models=models, **options)

    @property
    def url(self) -> str:
        """The API base URL, e.g. ``http://127.0.0.1:43125/v1``."""
        return f"{self.origin}/v1"

    # -- protocol ----------------------------------------------------------

    def _authorised(self, request: web.Request) -> web.Response | None:
        if self.api_key is None:
            return None
        sent = self.sent_key(request)
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
        fault = self.next_fault(request)
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
        answer = self._answer(record)
        completion_id = f"chatcmpl-{secrets.token_hex(8)}"
        if body.get("stream") is not True:
            return web.json_response(
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [
                        {"index": 0, "message": answer.message(), "finish_reason": answer.finish}
                    ],
                    "usage": answer.usage,
                }
            )
        options = body.get("stream_options")
        with_usage = isinstance(options, dict) and options.get("include_usage") is True
        try:
            return await self._stream(
                request, completion_id, str(model), answer, fault, with_usage=with_usage
            )
        except ConnectionResetError:
            return web.Response(status=499)

    def _answer(self, record: RecordedRequest) -> _Answer:
        """What to answer ``record`` with: a tool call, or text (see the module docstring)."""
        body = record.body
        messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        prompt_tokens = sum(_words(_text_of(m.get("content"))) for m in messages)
        last = messages[-1] if messages else {}
        tools = [t for t in body.get("tools") or () if isinstance(t, dict)]
        if tools and body.get("tool_choice") != "none" and last.get("role") == "user":
            name, parameters = _chosen_tool(tools, body.get("tool_choice"))
            if callable(self.tool_arguments):
                arguments = self.tool_arguments(record)
            elif self.tool_arguments is not None:
                arguments = self.tool_arguments
            else:
                arguments = json.dumps(_arguments_for(parameters))
            call = {
                "id": f"call_{secrets.token_hex(12)}",
                "type": "function",
                "function": {"name": name, "arguments": arguments},
            }
            return _Answer(None, call, "tool_calls", prompt_tokens, max(1, _words(arguments)))
        if callable(self.reply):
            text = self.reply(record)
        elif self.reply is not None:
            text = self.reply
        elif last.get("role") == "tool":
            text = f"The tool said: {_text_of(last.get('content'))}"
        else:
            text = f"Hello from the OpenAI-compatible emulator! You said: {_said(last)}"
            users = [m for m in messages if m.get("role") == "user"]
            images = _images(users[-1].get("content")) if users else 0
            if images:
                text += f" (with {images} image(s))"
        response_format = body.get("response_format")
        if isinstance(response_format, dict) and response_format.get("type") in (
            "json_object",
            "json_schema",
        ):
            text = json.dumps({"answer": text})
        finish = "stop"
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        if isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0:
            words = text.split()
            if len(words) > limit:
                text, finish = " ".join(words[:limit]), "length"
        return _Answer(text, None, finish, prompt_tokens, _words(text))

    def _deltas(self, answer: _Answer) -> list[dict[str, Any]]:
        """The deltas after the role delta: text pieces, or a tool call's head and fragments."""
        if answer.tool_call is None:
            return [{"content": piece} for piece in self.pieces(answer.text or "")]
        call = answer.tool_call
        head = {**call, "index": 0, "function": {"name": call["function"]["name"], "arguments": ""}}
        return [{"tool_calls": [head]}] + [
            {"tool_calls": [{"index": 0, "function": {"arguments": fragment}}]}
            for fragment in _fragments(call["function"]["arguments"])
        ]

    async def _stream(
        self,
        request: web.Request,
        completion_id: str,
        model: str,
        answer: _Answer,
        fault: Fault | None,
        *,
        with_usage: bool,
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        created = int(time.time())

        def event(choices: list[dict[str, Any]], **extra: Any) -> bytes:
            return _sse(
                {
                    "id": completion_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": choices,
                    **extra,
                }
            )

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            return event([{"index": 0, "delta": delta, "finish_reason": finish}])

        role = {"role": "assistant", "content": "" if answer.tool_call is None else None}
        await response.write(chunk(role))
        for index, delta in enumerate(self._deltas(answer)):
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
            await response.write(chunk(delta))
        if fault is not None and fault.kind == "no_end":
            await response.write_eof()
            return response
        await response.write(chunk({}, answer.finish))
        if with_usage:
            await response.write(event([], usage=answer.usage))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


@dataclasses.dataclass(frozen=True)
class _Answer:
    """One answer, before it is shaped as a whole completion or as chunks."""

    text: str | None
    tool_call: dict[str, Any] | None
    finish: str
    prompt_tokens: int
    completion_tokens: int

    def message(self) -> dict[str, Any]:
        if self.tool_call is None:
            return {"role": "assistant", "content": self.text}
        return {"role": "assistant", "content": None, "tool_calls": [self.tool_call]}

    @property
    def usage(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }


#: The value a default tool argument gets, by its JSON schema type.
_ARGUMENT_VALUES: dict[str, Any] = {
    "string": "emulated",
    "integer": 1,
    "number": 1.5,
    "boolean": True,
    "array": [],
    "object": {},
}


def _words(text: str) -> int:
    return len(text.split())


def _text_of(content: Any) -> str:
    """The text of a message's content: a string, or its text parts joined by spaces."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def _said(message: dict[str, Any]) -> str:
    content = message.get("content", "")
    # A plain string is echoed as it is, as before the emulator knew parts.
    return content if isinstance(content, str) else _text_of(content)


def _images(content: Any) -> int:
    if not isinstance(content, list):
        return 0
    return sum(1 for part in content if isinstance(part, dict) and part.get("type") == "image_url")


def _chosen_tool(tools: list[dict[str, Any]], choice: Any) -> tuple[str, Any]:
    """The name and parameters of the tool ``tool_choice`` names, else of the first tool."""
    functions: list[dict[str, Any]] = [
        t["function"] if isinstance(t.get("function"), dict) else {} for t in tools
    ]
    wanted = None
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        wanted = choice["function"].get("name")
    for function in functions:
        if wanted is None or function.get("name") == wanted:
            return str(function.get("name") or "tool"), function.get("parameters")
    return str(wanted), None


def _arguments_for(parameters: Any) -> dict[str, Any]:
    properties = parameters.get("properties") if isinstance(parameters, dict) else None
    if not isinstance(properties, dict):
        return {}
    values: dict[str, Any] = {}
    for name, schema in properties.items():
        kind = schema.get("type") if isinstance(schema, dict) else None
        values[str(name)] = _ARGUMENT_VALUES.get(kind) if isinstance(kind, str) else None
    return values


def _fragments(arguments: str) -> list[str]:
    """``arguments`` cut into at least two pieces, as servers stream them."""
    size = max(1, -(-len(arguments) // 3))
    pieces = [arguments[i : i + size] for i in range(0, len(arguments), size)]
    return pieces + [""] * (2 - len(pieces))
