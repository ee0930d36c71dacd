"""An offline emulator of Anthropic's Messages API, faults included.

It answers as ``api.anthropic.com`` does:

* ``POST /v1/messages``: ``stream: true`` gives server-sent events, each an
  ``event: <type>`` line and a ``data:`` line (``message_start``, then per
  content block ``content_block_start``, ``content_block_delta``...,
  ``content_block_stop``, a ``ping`` after the first block starts, then
  ``message_delta`` with ``stop_reason`` and ``usage.output_tokens``, and
  ``message_stop``); otherwise one ``message`` object;
* ``GET /v1/models``: the model list;
* errors as ``{"type": "error", "error": {"type", "message"}}``: 400
  ``invalid_request_error`` (a missing or malformed ``model``,
  ``max_tokens``, ``messages``, a missing ``anthropic-version`` header, an
  empty text block, a ``tool_result`` that answers no ``tool_use``), 401
  ``authentication_error`` (``x-api-key`` missing or wrong), 404
  ``not_found_error`` (unknown model or path), 429 ``rate_limit_error``
  (with ``retry-after``), 500 ``api_error`` and 529 ``overloaded_error``.

What it answers (every request is recorded as sent):

* **tool use**: with non-empty ``tools``, a ``tool_choice`` whose type is
  not ``"none"``, and a last user turn that is not tool results, one
  ``tool_use`` block (id ``toolu_<hex>``) for the tool ``tool_choice`` names
  (else the first tool); its input is ``tool_arguments`` (a JSON object as a
  string, or a callable taking the :class:`RecordedRequest`), by default
  every property of ``input_schema`` set by type, as the OpenAI emulator
  does. Streamed, the input arrives as ``input_json_delta`` fragments;
  ``stop_reason`` is ``"tool_use"``;
* **text**: ``reply`` when set; after tool results, ``The tool said: <their
  text>``; else ``... You said: <the last user text>``, plus `` (with N
  image(s))`` for image blocks. ``max_tokens`` N cuts a longer answer to N
  words (``stop_reason`` ``"max_tokens"``); the first of ``stop_sequences``
  found in it ends it there (``"stop_sequence"``);
* **thinking**: with ``thinking`` set, a ``thinking`` block of that text first;
* **usage**: ``input_tokens`` are the words of the system prompt and every
  turn's text, ``output_tokens`` those of the answer (or of the tool input,
  at least 1).

The :class:`~g4f_lite.testing.Fault` kinds apply as for the other emulators:
``status`` (529 gets ``overloaded_error``), ``drop``, ``garbage``,
``no_type`` (an event without ``type``), ``no_end`` (the stream closes
without ``message_delta`` and ``message_stop``), ``error_event`` (an
``error`` event mid-stream, ``overloaded_error`` unless ``status`` says
otherwise), ``huge_line``, ``slow_first_byte``, ``stall``, ``error_body`` (an
error object, by default with HTTP 200), ``deep_json`` (``line``, ``body`` or
``error_body``) and ``raw``. ``{api_key}`` in a fault's message is replaced by
the key the client sent, as servers that echo keys do. A stream's ``after``
counts the ``content_block_delta`` events sent before the fault strikes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from typing_extensions import Unpack

from ._aiengine import Fault, deep_json, write_raw
from ._api import APIEmulator, EmulatorOptions
from ._openai import _arguments_for, _fragments, _words
from ._server import RecordedRequest

__all__ = ["AnthropicEmulator"]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_STATUS_OF_TYPE = {kind: status for status, kind in _ERROR_TYPES.items()}


def _error_object(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    kind = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return web.json_response(
        {**_error_object(kind, message), "request_id": f"req_{secrets.token_hex(8)}"},
        status=status,
        headers=headers,
    )


def _sse(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: ".encode() + json.dumps(event).encode() + b"\n\n"


def _text_of(content: Any) -> str:
    """The text of a turn's content: a string, or its text blocks joined by spaces."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(block.get("text", ""))
            for block in content
            if isinstance(block, dict) and block.get("type") == "text"
        )
    return ""


def _blocks_of(content: Any) -> list[dict[str, Any]]:
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _invalid(body: Any) -> str | None:
    """What is wrong with a request body, as the API words it; ``None`` when it is valid."""
    if not isinstance(body, dict):
        return "The request body is not valid JSON."
    if not isinstance(body.get("model"), str):
        return "model: Field required"
    limit = body.get("max_tokens")
    if limit is None:
        return "max_tokens: Field required"
    if type(limit) is not int or limit < 1:
        return "max_tokens: Input should be a positive integer"
    messages = body.get("messages")
    if messages is None:
        return "messages: Field required"
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    system = body.get("system")
    if system is not None and not isinstance(system, (str, list)):
        return "system: Input should be a valid string or a list of text blocks"
    tool_uses: set[str] = set()
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            return f"messages.{index}.role: Input should be 'user' or 'assistant'"
        content = message.get("content")
        if not isinstance(content, (str, list)):
            return f"messages.{index}.content: Field required"
        answered, tool_uses = tool_uses, set()
        for block in content if isinstance(content, list) else ():
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text" and not block.get("text"):
                return f"messages.{index}: text content blocks must be non-empty"
            if kind == "image":
                source = block.get("source")
                if not isinstance(source, dict) or source.get("type") not in ("base64", "url"):
                    return f"messages.{index}: image source must be base64 or url"
            if kind == "tool_use":
                if message["role"] != "assistant" or not isinstance(block.get("input"), dict):
                    return f"messages.{index}: malformed tool_use block"
                tool_uses.add(str(block.get("id")))
            if kind == "tool_result" and block.get("tool_use_id") not in answered:
                return (
                    f"messages.{index}: unexpected `tool_use_id` found in `tool_result` blocks: "
                    f"{block.get('tool_use_id')}. Each `tool_result` block must have a "
                    "corresponding `tool_use` block in the previous message."
                )
    return None


class AnthropicEmulator(APIEmulator):
    """Anthropic's Messages API on 127.0.0.1 with a free port; ``url`` is the API root.

    With ``api_key`` set, requests must send it in ``x-api-key``. Every
    request is appended to :attr:`requests`; queued :attr:`faults` apply to
    one messages request each, :attr:`fault` to every other one.
    ``echo_key_in_errors`` makes a 401 repeat the key it was sent, to check
    that clients scrub it. ``reply``, ``tool_arguments`` and ``thinking``
    shape the answer (see the module docstring).
    """

    def __init__(
        self,
        *,
        models: Sequence[str] = ("claude-emulated",),
        thinking: str | None = None,
        **options: Unpack[EmulatorOptions],
    ) -> None:
        self.thinking = thinking
        super().__init__(models=models, **options)

    @property
    def url(self) -> str:
        """The API root, e.g. ``http://127.0.0.1:43125`` (requests go to ``/v1/messages``)."""
        return self.origin

    # -- protocol ----------------------------------------------------------

    def sent_key(self, request: web.Request) -> str:
        """The key in ``x-api-key``."""
        return request.headers.get("x-api-key", "")

    def _authorised(self, request: web.Request) -> web.Response | None:
        if self.api_key is None:
            return None
        sent = self.sent_key(request)
        if sent and secrets.compare_digest(sent.encode(), self.api_key.encode()):
            return None
        if not sent:
            return _error(401, "x-api-key header is required")
        shown = f": {sent}" if self.echo_key_in_errors else ""
        return _error(401, f"invalid x-api-key{shown}")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        record = await self._record(request)
        denied = self._authorised(request)
        if denied is not None:
            return denied
        if request.method == "GET" and request.path == "/v1/models":
            data = [
                {
                    "type": "model",
                    "id": m,
                    "display_name": m,
                    "created_at": "2025-01-01T00:00:00Z",
                }
                for m in self.models
            ]
            return web.json_response(
                {
                    "data": data,
                    "has_more": False,
                    "first_id": self.models[0] if self.models else None,
                    "last_id": self.models[-1] if self.models else None,
                }
            )
        if request.method != "POST" or request.path != "/v1/messages":
            return _error(404, f"Not found: {request.method} {request.path}")
        if not request.headers.get("anthropic-version"):
            return _error(400, "anthropic-version: header is required")
        problem = _invalid(record.body)
        if problem is not None:
            return _error(400, problem)
        body = record.body
        if body["model"] not in self.models:
            return _error(404, f"model: {body['model']}")
        fault = self.next_fault(request)
        if fault is not None and fault.kind == "slow_first_byte":
            await asyncio.sleep(fault.delay)
        if fault is not None and fault.kind == "status":
            headers = {}
            if fault.retry_after is not None:
                headers["retry-after"] = f"{fault.retry_after:g}"
            return _error(fault.status, fault.message, headers)
        if fault is not None and fault.kind == "error_body":
            kind = _ERROR_TYPES.get(fault.status, "api_error")
            return web.json_response(_error_object(kind, fault.message), status=fault.status)
        if fault is not None and fault.kind == "raw":
            return await write_raw(request, fault)
        if fault is not None and fault.kind == "deep_json" and fault.where != "line":
            status = 500 if fault.where == "error_body" else 200
            return web.Response(
                text=deep_json(fault.depth), status=status, content_type="application/json"
            )
        answer = self._answer(record)
        message_id = f"msg_{secrets.token_hex(12)}"
        if body.get("stream") is not True:
            return web.json_response(answer.message(message_id, str(body["model"])))
        try:
            return await self._stream(request, message_id, str(body["model"]), answer, fault)
        except ConnectionResetError:
            return web.Response(status=499)

    def _answer(self, record: RecordedRequest) -> _Answer:
        """What to answer ``record`` with: a tool use, or text (see the module docstring)."""
        body: dict[str, Any] = record.body
        messages = body["messages"]
        system = body.get("system")
        prompt_tokens = _words(_text_of(system)) + sum(
            _words(_text_of(m.get("content"))) for m in messages
        )
        last = messages[-1]
        last_blocks = _blocks_of(last.get("content"))
        results = [b for b in last_blocks if b.get("type") == "tool_result"]
        thinking = [self.thinking] if self.thinking else []
        tools = [t for t in body.get("tools") or () if isinstance(t, dict)]
        choice = body.get("tool_choice")
        choice_type = choice.get("type") if isinstance(choice, dict) else "auto"
        if tools and choice_type != "none" and last.get("role") == "user" and not results:
            name, schema = _chosen_tool(tools, choice)
            if callable(self.tool_arguments):
                arguments = self.tool_arguments(record)
            elif self.tool_arguments is not None:
                arguments = self.tool_arguments
            else:
                arguments = json.dumps(_arguments_for(schema))
            call = {
                "type": "tool_use",
                "id": f"toolu_{secrets.token_hex(12)}",
                "name": name,
                "input": json.loads(arguments),
            }
            return _Answer(
                thinking, None, call, "tool_use", None, prompt_tokens, max(1, _words(arguments))
            )
        if callable(self.reply):
            text = self.reply(record)
        elif self.reply is not None:
            text = self.reply
        elif results:
            text = "The tool said: " + " ".join(_result_text(b) for b in results)
        else:
            text = f"Hello from the Anthropic emulator! You said: {_text_of(last.get('content'))}"
            images = sum(1 for b in last_blocks if b.get("type") == "image")
            if images:
                text += f" (with {images} image(s))"
        reason, stop_sequence = "end_turn", None
        for sequence in body.get("stop_sequences") or ():
            if isinstance(sequence, str) and sequence and sequence in text:
                text, reason, stop_sequence = text.split(sequence, 1)[0], "stop_sequence", sequence
                break
        words = text.split()
        if len(words) > body["max_tokens"]:
            text, reason, stop_sequence = " ".join(words[: body["max_tokens"]]), "max_tokens", None
        return _Answer(thinking, text, None, reason, stop_sequence, prompt_tokens, _words(text))

    def _blocks(self, answer: _Answer) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        """Each content block's ``content_block_start`` payload and its deltas, in order."""
        blocks: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
        for thought in answer.thinking:
            deltas = [{"type": "thinking_delta", "thinking": p} for p in self.pieces(thought)]
            deltas.append({"type": "signature_delta", "signature": secrets.token_hex(16)})
            blocks.append(({"type": "thinking", "thinking": "", "signature": ""}, deltas))
        if answer.tool_use is not None:
            call = answer.tool_use
            fragments = _fragments(json.dumps(call["input"]))
            blocks.append(
                (
                    {**call, "input": {}},
                    [{"type": "input_json_delta", "partial_json": f} for f in fragments],
                )
            )
        else:
            pieces = self.pieces(answer.text or "")
            blocks.append(
                ({"type": "text", "text": ""}, [{"type": "text_delta", "text": p} for p in pieces])
            )
        return blocks

    async def _stream(
        self,
        request: web.Request,
        message_id: str,
        model: str,
        answer: _Answer,
        fault: Fault | None,
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        start = answer.message(message_id, model, streamed=True)
        await response.write(_sse({"type": "message_start", "message": start}))
        sent = 0
        for index, (block, deltas) in enumerate(self._blocks(answer)):
            await response.write(
                _sse({"type": "content_block_start", "index": index, "content_block": block})
            )
            if index == 0:
                await response.write(_sse({"type": "ping"}))
            for delta in deltas:
                if (
                    fault is not None
                    and sent == fault.after
                    and await self._strike(request, response, fault)
                ):
                    return response
                await response.write(
                    _sse({"type": "content_block_delta", "index": index, "delta": delta})
                )
                sent += 1
            await response.write(_sse({"type": "content_block_stop", "index": index}))
        if fault is not None and fault.kind == "no_end":
            await response.write_eof()
            return response
        await response.write(
            _sse(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": answer.reason, "stop_sequence": answer.stop_sequence},
                    "usage": {"output_tokens": answer.output_tokens},
                }
            )
        )
        await response.write(_sse({"type": "message_stop"}))
        await response.write_eof()
        return response

    @staticmethod
    async def _strike(request: web.Request, response: web.StreamResponse, fault: Fault) -> bool:
        """Apply a mid-stream fault; whether the stream ends there."""
        if fault.kind == "drop":
            if request.transport is not None:
                request.transport.abort()
            return True
        if fault.kind == "stall":
            await asyncio.sleep(fault.delay)
            return False
        if fault.kind == "garbage":
            await response.write(b"event: content_block_delta\ndata: <html>502 Bad Gateway\n\n")
        elif fault.kind == "no_type":
            await response.write(b'data: {"index": 0, "delta": {"text": "?"}}\n\n')
        elif fault.kind == "error_event":
            # The API's usual mid-stream failure, unless the fault's status names another.
            kind = "overloaded_error"
            if fault.status != Fault.status:
                kind = _ERROR_TYPES.get(fault.status, "api_error")
            await response.write(_sse(_error_object(kind, fault.message)))
        elif fault.kind == "huge_line":
            text = "x" * fault.size
            event = {"type": "content_block_delta", "index": 0, "delta": {"text": text}}
            await response.write(_sse(event))
        elif fault.kind == "deep_json":
            await response.write(b"data: " + deep_json(fault.depth).encode() + b"\n\n")
        else:
            return False
        await response.write_eof()
        return True


@dataclasses.dataclass(frozen=True)
class _Answer:
    """One answer, before it is shaped as a whole message or as events."""

    thinking: list[str]
    text: str | None
    tool_use: dict[str, Any] | None
    reason: str
    stop_sequence: str | None
    input_tokens: int
    output_tokens: int

    def message(self, message_id: str, model: str, *, streamed: bool = False) -> dict[str, Any]:
        """The ``message`` object: whole, or as ``message_start`` carries it (no content yet)."""
        content: list[dict[str, Any]] = [
            {"type": "thinking", "thinking": t, "signature": "sig"} for t in self.thinking
        ]
        if self.tool_use is not None:
            content.append(self.tool_use)
        else:
            content.append({"type": "text", "text": self.text or ""})
        return {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [] if streamed else content,
            "stop_reason": None if streamed else self.reason,
            "stop_sequence": None if streamed else self.stop_sequence,
            "usage": {
                "input_tokens": self.input_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": 1 if streamed else self.output_tokens,
            },
        }


def _chosen_tool(tools: list[dict[str, Any]], choice: Any) -> tuple[str, Any]:
    """The name and input schema of the tool ``tool_choice`` names, else of the first tool."""
    wanted = (
        choice.get("name") if isinstance(choice, dict) and choice.get("type") == "tool" else None
    )
    for tool in tools:
        if wanted is None or tool.get("name") == wanted:
            return str(tool.get("name") or "tool"), tool.get("input_schema")
    return str(wanted), None


def _result_text(block: dict[str, Any]) -> str:
    return _text_of(block.get("content"))
