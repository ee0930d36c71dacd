"""An offline emulator of Google's Gemini API (generateContent), faults included.

It answers as ``generativelanguage.googleapis.com`` does:

* ``POST /v1beta/models/{model}:generateContent``: one
  ``GenerateContentResponse`` (``candidates``, ``usageMetadata``,
  ``modelVersion``, ``responseId``);
* ``POST /v1beta/models/{model}:streamGenerateContent?alt=sse``: SSE lines
  ``data: {GenerateContentResponse}``, one per piece of text, the last with
  ``finishReason`` (there is no ``[DONE]``); without ``alt=sse``, the same
  chunks as one JSON array;
* ``GET /v1beta/models``: the model list (``models/<id>`` names);
* errors as ``{"error": {"code", "message", "status", "details"}}``: 403
  ``PERMISSION_DENIED`` without a key, 400 ``INVALID_ARGUMENT`` with an
  ``ErrorInfo`` reason ``API_KEY_INVALID`` for a wrong one, 400
  ``INVALID_ARGUMENT`` for a malformed body (no ``contents``, a role other
  than ``user``/``model``, empty ``parts``, a part with no data, an unknown
  field, a function response turn that does not follow a function call
  turn), 404 ``NOT_FOUND`` for an unknown model.

The key is read from the ``x-goog-api-key`` header (or a ``key`` query
parameter). Every request is recorded as sent (its ``path`` with the query
string, e.g. ``?alt=sse``). What it answers:

* **function calls**: with ``functionDeclarations``, a
  ``functionCallingConfig.mode`` other than ``NONE`` and a last turn from the
  user that is not a function response, one ``functionCall`` part (no id, as
  Gemini sends them) to the first of ``allowedFunctionNames``, else the
  first declared function; its ``args`` are ``tool_arguments`` (a JSON
  object as a string, or a callable taking the :class:`RecordedRequest`), by
  default every property of the declared schema set by type (as the OpenAI
  emulator does). ``finishReason`` is ``STOP``, as Gemini says after calls;
* **text**: ``reply`` when set; after function responses, ``The tool said:
  <the response as JSON>``; else ``Hello from the Gemini emulator! You said:
  <the last user text>``, plus `` (with N image(s))`` for ``inlineData`` /
  ``fileData`` parts; ``responseMimeType: application/json`` wraps it as
  ``{"answer": <text>}``; ``maxOutputTokens`` N cuts a longer answer to its
  first N words, with ``MAX_TOKENS``; with ``thinkingConfig.includeThoughts``
  and ``thoughts`` set, a ``thought: true`` part comes first;
* **usage**: ``usageMetadata`` in every answer and every streamed chunk.
  Tokens are whitespace-separated words: of every text part (system
  instruction included) for the prompt, of the answer (or a call's
  arguments, at least 1) for the candidates, of the thoughts for
  ``thoughtsTokenCount``.

``finish_reason`` (e.g. ``"SAFETY"``) ends every answer with that reason
and ``safetyRatings`` after its text; ``block_reason`` answers every request
with ``promptFeedback.blockReason`` and no candidates, as a blocked prompt is.

The :class:`~g4f_lite.testing.Fault` kinds apply as for the other
emulators: ``status`` (Gemini's error JSON for the status; a ``retry_after``
goes into a ``google.rpc.RetryInfo`` ``retryDelay``, and a fault's
``headers`` are sent too, e.g. a ``Retry-After``), ``drop``, ``garbage``,
``no_end`` (the stream closes with no ``finishReason``), ``error_event`` (an
``{"error": ...}`` event mid-stream), ``slow_first_byte``, ``stall``,
``error_body`` (an error object, by default with HTTP 200), ``deep_json``
(``line``, ``body`` or ``error_body``) and ``raw``. ``{api_key}`` in a
fault's message is replaced by the key the client sent. A stream's
``after`` counts the chunks before the fault (text pieces, or the call).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from typing_extensions import Unpack

from ._aiengine import Fault, deep_json, write_raw
from ._api import APIEmulator, EmulatorOptions
from ._server import RecordedRequest

__all__ = ["GeminiEmulator"]

_PREFIX = "/v1beta/models"
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_STATUS_MESSAGES = {
    429: "You exceeded your current quota, please check your plan and billing details.",
    500: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
}
_REQUEST_FIELDS = frozenset(
    {
        "contents",
        "systemInstruction",
        "system_instruction",
        "tools",
        "toolConfig",
        "tool_config",
        "generationConfig",
        "generation_config",
        "safetySettings",
        "safety_settings",
        "cachedContent",
        "cached_content",
    }
)
_GENERATION_FIELDS = frozenset(
    {
        "temperature",
        "topP",
        "topK",
        "candidateCount",
        "maxOutputTokens",
        "stopSequences",
        "seed",
        "presencePenalty",
        "frequencyPenalty",
        "responseMimeType",
        "responseSchema",
        "responseJsonSchema",
        "responseModalities",
        "responseLogprobs",
        "logprobs",
        "thinkingConfig",
        "mediaResolution",
        "speechConfig",
        "enableEnhancedCivicAnswers",
    }
)
_PART_DATA = ("text", "inlineData", "fileData", "functionCall", "functionResponse")
_ROLES = ("user", "model")


class _Invalid(Exception):
    """A request body the API would refuse with 400 INVALID_ARGUMENT."""


def _error(
    status: int,
    message: str,
    *,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    http_status: int | None = None,
) -> web.Response:
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": _STATUS_NAMES.get(status, "UNKNOWN"),
    }
    if details:
        error["details"] = details
    return web.json_response(
        {"error": error}, status=status if http_status is None else http_status, headers=headers
    )


def _sse(event: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(event).encode() + b"\r\n\r\n"


class GeminiEmulator(APIEmulator):
    """Google's Gemini API on 127.0.0.1 with a free port; ``url`` is the API root.

    With ``api_key`` set, requests must send it in ``x-goog-api-key``.
    Every request is appended to :attr:`requests`; queued :attr:`faults`
    apply to one generate request each, :attr:`fault` to every other one.
    ``echo_key_in_errors`` makes a wrong key's error repeat it, to check that
    clients scrub it. ``reply``, ``tool_arguments`` and ``thoughts`` replace
    the default answer, call arguments and (absent by default) thoughts;
    ``finish_reason`` and ``block_reason`` play Gemini's filters.
    """

    def __init__(
        self,
        *,
        models: Sequence[str] = ("gemini-2.5-flash",),
        thoughts: str | None = None,
        finish_reason: str | None = None,
        block_reason: str | None = None,
        **options: Unpack[EmulatorOptions],
    ) -> None:
        self.thoughts = thoughts
        self.finish_reason = finish_reason
        self.block_reason = block_reason
        super().__init__(models=models, **options)

    @property
    def url(self) -> str:
        """The API root, e.g. ``http://127.0.0.1:43125`` (requests go to ``/v1beta/...``)."""
        return self.origin

    # -- protocol ----------------------------------------------------------

    def sent_key(self, request: web.Request) -> str:
        """The key in ``x-goog-api-key``, or the ``key`` query parameter."""
        return request.headers.get("x-goog-api-key") or request.query.get("key", "")

    def _authorised(self, request: web.Request) -> web.Response | None:
        if self.api_key is None:
            return None
        sent = self.sent_key(request)
        if sent and secrets.compare_digest(sent, self.api_key):
            return None
        if not sent:
            return _error(
                403,
                "Method doesn't allow unregistered callers (callers without established "
                "identity). Please use API Key or other form of API consumer identity to call "
                "this API.",
            )
        shown = f": {sent}" if self.echo_key_in_errors else ""
        return _error(
            400,
            f"API key not valid{shown}. Please pass a valid API key.",
            details=[
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                }
            ],
        )

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        record = await self._record(request)
        # Whether a client asked for SSE (alt=sse) is part of what it sent.
        record.path = request.path_qs
        denied = self._authorised(request)
        if denied is not None:
            return denied
        if request.method == "GET" and request.path == _PREFIX:
            return web.json_response(
                {
                    "models": [
                        {
                            "name": f"models/{m}",
                            "displayName": m,
                            "supportedGenerationMethods": ["generateContent", "countTokens"],
                        }
                        for m in self.models
                    ]
                }
            )
        model, _, method = request.path.removeprefix(_PREFIX + "/").partition(":")
        if (
            request.method != "POST"
            or not request.path.startswith(_PREFIX + "/")
            or method not in ("generateContent", "streamGenerateContent")
        ):
            return _error(404, f"Unknown request URL: {request.method} {request.path}")
        if model not in self.models:
            return _error(
                404,
                f"models/{model} is not found for API version v1beta, or is not supported for "
                f"{method}. Call ListModels to see the list of available models and their "
                "supported methods.",
            )
        try:
            _validate(record.body)
        except _Invalid as exc:
            return _error(400, str(exc))
        fault = self.next_fault(request)
        if fault is not None:
            early = await self._early_fault(request, fault)
            if early is not None:
                return early
        chunks = self._chunks(record, model)
        if method == "generateContent":
            return web.json_response(_merge(chunks))
        if request.query.get("alt") != "sse":
            return web.json_response(chunks)
        try:
            return await self._stream(request, chunks, fault)
        except ConnectionResetError:
            return web.Response(status=499)

    async def _early_fault(self, request: web.Request, fault: Fault) -> web.StreamResponse | None:
        """The answer of a fault that strikes before any content, if ``fault`` is one."""
        if fault.kind == "slow_first_byte":
            await asyncio.sleep(fault.delay)
        if fault.kind == "status":
            details = []
            if fault.retry_after is not None:
                details.append(
                    {
                        "@type": "type.googleapis.com/google.rpc.RetryInfo",
                        "retryDelay": f"{fault.retry_after:g}s",
                    }
                )
            message = fault.message
            if message == Fault.message:  # the shared default: say what Gemini says
                message = _STATUS_MESSAGES.get(fault.status, f"HTTP {fault.status}")
            return _error(fault.status, message, details=details, headers=dict(fault.headers))
        if fault.kind == "error_body":
            code = 500 if fault.status < 400 else fault.status
            return _error(code, fault.message, http_status=fault.status)
        if fault.kind == "raw":
            return await write_raw(request, fault)
        if fault.kind == "deep_json" and fault.where != "line":
            status = 500 if fault.where == "error_body" else 200
            return web.Response(
                text=deep_json(fault.depth), status=status, content_type="application/json"
            )
        return None

    def _chunks(self, record: RecordedRequest, model: str) -> list[dict[str, Any]]:
        """The streamed chunks of the answer to ``record`` (see the module docstring)."""
        body = record.body
        contents = body["contents"]
        prompt_tokens = sum(_words(_text(c.get("parts"))) for c in contents)
        system = body.get("systemInstruction") or body.get("system_instruction")
        if isinstance(system, dict):
            prompt_tokens += _words(_text(system.get("parts")))
        response_id = secrets.token_hex(8)

        def chunk(
            parts: list[dict[str, Any]], completion: int, thoughts: int, finish: str | None
        ) -> dict[str, Any]:
            usage = {
                "promptTokenCount": prompt_tokens,
                "candidatesTokenCount": completion,
                "totalTokenCount": prompt_tokens + completion + thoughts,
            }
            if thoughts:
                usage["thoughtsTokenCount"] = thoughts
            candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
            if finish is not None:
                candidate["finishReason"] = finish
                if finish == "SAFETY":
                    candidate["safetyRatings"] = [
                        {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"}
                    ]
            return {
                "candidates": [candidate],
                "usageMetadata": usage,
                "modelVersion": model,
                "responseId": response_id,
            }

        if self.block_reason is not None:
            return [
                {
                    "promptFeedback": {"blockReason": self.block_reason},
                    "usageMetadata": {
                        "promptTokenCount": prompt_tokens,
                        "totalTokenCount": prompt_tokens,
                    },
                    "modelVersion": model,
                    "responseId": response_id,
                }
            ]
        config = body.get("generationConfig") or body.get("generation_config") or {}
        thinking = config.get("thinkingConfig") or {}
        thought_parts: list[dict[str, Any]] = []
        thought_tokens = 0
        if self.thoughts and thinking.get("includeThoughts") is True:
            thought_parts = [{"text": self.thoughts, "thought": True}]
            thought_tokens = _words(self.thoughts)
        call = self._function_call(record)
        if call is not None:
            tokens = max(1, _words(json.dumps(call["args"])))
            return [
                chunk(
                    [*thought_parts, {"functionCall": call}],
                    tokens,
                    thought_tokens,
                    self.finish_reason or "STOP",
                )
            ]
        text = self._text(record)
        if config.get("responseMimeType") == "application/json":
            text = json.dumps({"answer": text})
        finish = "STOP"
        limit = config.get("maxOutputTokens")
        if isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0:
            words = text.split()
            if len(words) > limit:
                text, finish = " ".join(words[:limit]), "MAX_TOKENS"
        finish = self.finish_reason or finish
        pieces = self.pieces(text)
        chunks = [chunk(thought_parts, 0, thought_tokens, None)] if thought_parts else []
        sent = 0
        for index, piece in enumerate(pieces):
            sent += _words(piece)
            last = index == len(pieces) - 1
            chunks.append(chunk([{"text": piece}], sent, thought_tokens, finish if last else None))
        return chunks

    def _function_call(self, record: RecordedRequest) -> dict[str, Any] | None:
        body = record.body
        declarations = [
            d
            for tool in body.get("tools") or ()
            if isinstance(tool, dict)
            for d in tool.get("functionDeclarations") or ()
            if isinstance(d, dict)
        ]
        config = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
        last = body["contents"][-1]
        if (
            not declarations
            or config.get("mode") == "NONE"
            or last.get("role") != "user"
            or any("functionResponse" in part for part in last["parts"])
        ):
            return None
        allowed = config.get("allowedFunctionNames") or []
        chosen = next(
            (d for d in declarations if not allowed or d.get("name") == allowed[0]),
            declarations[0],
        )
        if callable(self.tool_arguments):
            args = json.loads(self.tool_arguments(record))
        elif self.tool_arguments is not None:
            args = json.loads(self.tool_arguments)
        else:
            schema = chosen.get("parametersJsonSchema", chosen.get("parameters"))
            args = _arguments_for(schema)
        return {"name": str(chosen.get("name")), "args": args}

    def _text(self, record: RecordedRequest) -> str:
        if callable(self.reply):
            return self.reply(record)
        if self.reply is not None:
            return self.reply
        last = record.body["contents"][-1]
        responses = [p["functionResponse"] for p in last["parts"] if "functionResponse" in p]
        if responses:
            return "The tool said: " + " ".join(
                json.dumps(r.get("response"), sort_keys=True) for r in responses
            )
        users = [c for c in record.body["contents"] if c.get("role") == "user"]
        parts = users[-1]["parts"] if users else []
        text = f"Hello from the Gemini emulator! You said: {_text(parts)}"
        images = sum(1 for p in parts if "inlineData" in p or "fileData" in p)
        if images:
            text += f" (with {images} image(s))"
        return text

    async def _stream(
        self, request: web.Request, chunks: list[dict[str, Any]], fault: Fault | None
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for index, chunk in enumerate(chunks):
            last = index == len(chunks) - 1
            if fault is not None and index == fault.after:
                if fault.kind == "drop":
                    if request.transport is not None:
                        request.transport.abort()
                    return response
                if fault.kind == "garbage":
                    await response.write(b"data: <html>502 Bad Gateway</html>\r\n\r\n")
                    await response.write_eof()
                    return response
                if fault.kind == "error_event":
                    error = {"code": 500, "message": fault.message, "status": "INTERNAL"}
                    await response.write(_sse({"error": error}))
                    await response.write_eof()
                    return response
                if fault.kind == "stall":
                    await asyncio.sleep(fault.delay)
                if fault.kind == "deep_json":
                    await response.write(b"data: " + deep_json(fault.depth).encode() + b"\r\n\r\n")
                    await response.write_eof()
                    return response
            if last and fault is not None and fault.kind == "no_end":
                chunk = json.loads(json.dumps(chunk))
                chunk["candidates"][0].pop("finishReason", None)
            await response.write(_sse(chunk))
        await response.write_eof()
        return response


def _merge(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """The whole answer: every chunk's parts in one candidate, the last chunk's rest."""
    whole: dict[str, Any] = json.loads(json.dumps(chunks[-1]))
    if "candidates" in whole:
        parts: list[dict[str, Any]] = []
        for chunk in chunks:
            for part in chunk["candidates"][0]["content"]["parts"]:
                if parts and _plain_text(part) and _plain_text(parts[-1]):
                    parts[-1] = {"text": parts[-1]["text"] + part["text"]}
                else:
                    parts.append(part)
        whole["candidates"][0]["content"]["parts"] = parts
    return whole


def _plain_text(part: dict[str, Any]) -> bool:
    return "text" in part and not part.get("thought")


def _validate(body: Any) -> None:
    """Raise :class:`_Invalid` for what the API refuses with 400 INVALID_ARGUMENT."""
    if not isinstance(body, dict):
        raise _Invalid("Invalid JSON payload received.")
    unknown = sorted(set(body) - _REQUEST_FIELDS)
    if unknown:
        raise _Invalid(
            f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot find field.'
        )
    config = body.get("generationConfig", {})
    if not isinstance(config, dict):
        raise _Invalid("Invalid value at 'generation_config'")
    unknown = sorted(set(config) - _GENERATION_FIELDS)
    if unknown:
        raise _Invalid(
            f'Invalid JSON payload received. Unknown name "{unknown[0]}" at '
            "'generation_config': Cannot find field."
        )
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise _Invalid("* GenerateContentRequest.contents: contents is not specified")
    calls_before = 0
    for index, content in enumerate(contents):
        if not isinstance(content, dict):
            raise _Invalid(f"Invalid value at 'contents[{index}]'")
        if content.get("role", "user") not in _ROLES:
            raise _Invalid("Please use a valid role: user, model.")
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            raise _Invalid(
                f"* GenerateContentRequest.contents[{index}].parts: contents.parts must not be "
                "empty."
            )
        for position, part in enumerate(parts):
            data = [key for key in _PART_DATA if isinstance(part, dict) and key in part]
            if len(data) != 1:
                raise _Invalid(
                    f"* GenerateContentRequest.contents[{index}].parts[{position}].data: "
                    "required oneof field 'data' must have one initialized field"
                )
        responses = sum(1 for part in parts if "functionResponse" in part)
        if responses and responses != calls_before:
            raise _Invalid(
                "Please ensure that function response turn comes immediately after a function "
                "call turn. And the number of function response parts should be equal to number "
                "of function call parts of the function call turn."
            )
        calls_before = sum(1 for part in parts if "functionCall" in part)
    for tool in body.get("tools") or ():
        declarations = tool.get("functionDeclarations") if isinstance(tool, dict) else None
        for declaration in declarations or ():
            if not isinstance(declaration, dict) or not declaration.get("name"):
                raise _Invalid("* GenerateContentRequest.tools[0].function_declarations: name")
            if "parameters" in declaration and "parametersJsonSchema" in declaration:
                raise _Invalid("parameters and parametersJsonSchema are mutually exclusive")


#: The value a default function argument gets, by its schema type (any case).
_ARGUMENT_VALUES: dict[str, Any] = {
    "string": "emulated",
    "integer": 1,
    "number": 1.5,
    "boolean": True,
    "array": [],
    "object": {},
}


def _arguments_for(schema: Any) -> dict[str, Any]:
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict):
        return {}
    values: dict[str, Any] = {}
    for name, spec in properties.items():
        kind = spec.get("type") if isinstance(spec, dict) else None
        values[str(name)] = _ARGUMENT_VALUES.get(kind.lower()) if isinstance(kind, str) else None
    return values


def _text(parts: Any) -> str:
    """The text parts of ``parts`` (thoughts left out), joined by spaces."""
    if not isinstance(parts, list):
        return ""
    return " ".join(
        str(part["text"])
        for part in parts
        if isinstance(part, dict) and "text" in part and not part.get("thought")
    )


def _words(text: str) -> int:
    return len(text.split())
