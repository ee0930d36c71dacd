"""The native Gemini API: ``kind = "gemini"`` and the ``Gemini`` preset.

One provider class, :class:`GeminiProvider`, talks to Google's Generative
Language API with aiohttp (no SDK): ``{base_url}/v1beta/models/{model}:
streamGenerateContent?alt=sse`` for a stream, ``...:generateContent`` for a
whole answer (``stream=False``). Each endpoint is a subclass made from data
by :func:`make_provider`:

* the preset ``Gemini`` (:data:`PRESETS`) is registered by this plugin; its
  key comes from ``$GEMINI_API_KEY``, else ``$GOOGLE_API_KEY``;
* users declare their own with ``kind = "gemini"`` in the configuration
  file, or ``g4f_lite.declare_provider("Name", "gemini", ...)``.

OpenAI-shaped requests are translated: system messages become the
``systemInstruction``, ``assistant`` turns ``model`` turns, tool calls and
tool results ``functionCall`` / ``functionResponse`` parts, image parts
``inlineData`` (``data:`` URLs) or ``fileData`` (``https:`` URLs), ``tools``
``functionDeclarations`` (their JSON Schema as ``parametersJsonSchema``),
``tool_choice`` the ``toolConfig``, ``response_format`` the response MIME type
and JSON schema, and the sampling options the ``generationConfig``. Answers
yield text, ``Reasoning`` (thought parts), tool-call deltas (one whole call
each, with an id made up when Gemini gives none), ``Usage`` and ``Finish``.

A prompt or an answer stopped by Gemini's filters (``SAFETY``,
``RECITATION``, ``PROHIBITED_CONTENT``, ``BLOCKLIST``, ``SPII``...) is a
:class:`~g4f_lite.errors.ContentFilterError`, never an empty answer. The key
is sent in the ``x-goog-api-key`` header and never appears in a ``repr``, a
log line or an error message, even when the server echoes it.
"""

from __future__ import annotations

import json
import mimetypes
import re
import secrets as _random
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeGuard
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator

import g4f_lite
from g4f_lite.api import APIProvider
from g4f_lite.errors import (
    AuthenticationError,
    ConfigurationError,
    ContentFilterError,
    HTTPStatusError,
    InvalidMessagesError,
    LineTooLongError,
    PermissionDeniedError,
    ProtocolError,
    ProviderError,
    TruncatedResponseError,
    UnsupportedFeatureError,
    UpstreamError,
    error_for_status,
)
from g4f_lite.http import (
    DEFAULT_MAX_LINE_BYTES,
    JSONNestingError,
    drain,
    get_session,
    iter_lines,
    loads_json,
    parse_retry_after,
)
from g4f_lite.http import request_timeout as _request_timeout
from g4f_lite.kinds import ProviderKind, ProviderSettings
from g4f_lite.provider import SAMPLING_OPTIONS
from g4f_lite.redact import scrub
from g4f_lite.types import (
    Chunk,
    Finish,
    FinishReason,
    Messages,
    Reasoning,
    ToolCallDelta,
    Usage,
    text_of,
)

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "DEFAULT_BASE_URL",
    "KEY_ENVS",
    "KIND",
    "PRESETS",
    "GeminiEndpoint",
    "GeminiProvider",
    "make_provider",
    "register_provider_kinds",
    "register_providers",
]

#: Google's API root; requests go to ``{base_url}/v1beta/models/...``.
DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
#: Where a key is looked for when none is configured, in this order.
KEY_ENVS = ("GEMINI_API_KEY", "GOOGLE_API_KEY")

_API_VERSION = "v1beta"
# A base_url that already names the API version is used as it is.
_VERSIONED = re.compile(r"/v\d+(?:alpha|beta)?\d*$")
# What a model id may be: it becomes a path segment followed by ":method".
_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_MAX_MODEL_PAGES = 20
# "user" has no Gemini counterpart: the router drops it before calling.
_SAMPLING = SAMPLING_OPTIONS - {"user"}
_GENERATION_CONFIG = {
    "temperature": "temperature",
    "top_p": "topP",
    "seed": "seed",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
}
_FINISH: dict[str, FinishReason] = {"STOP": "stop", "MAX_TOKENS": "length"}
# Finish reasons (and prompt block reasons) that mean a filter stopped the answer.
_BLOCKED = frozenset(
    {"SAFETY", "RECITATION", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "IMAGE_SAFETY"}
)
_TOOL_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
# The ErrorInfo reasons of a key Google does not accept (sent with HTTP 400).
_KEY_REASON = re.compile(r"API_KEY_")
_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?)s\s*")


def _count(value: object) -> TypeGuard[int]:
    return type(value) is int and value >= 0


def _api_root(base_url: str) -> str:
    root = base_url.rstrip("/")
    return root if _VERSIONED.search(root) else f"{root}/{_API_VERSION}"


def _retry_delay(details: Any) -> float | None:
    """The ``retryDelay`` of a ``google.rpc.RetryInfo`` among an error's details ("7s")."""
    if not isinstance(details, list):
        return None
    for detail in details:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("RetryInfo"):
            delay = detail.get("retryDelay")
            match = _DURATION.fullmatch(delay) if isinstance(delay, str) else None
            if match:
                return parse_retry_after(match.group(1))
    return None


def _error_reason(details: Any) -> str | None:
    """The ``reason`` of a ``google.rpc.ErrorInfo`` among an error's details."""
    if isinstance(details, list):
        for detail in details:
            if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("ErrorInfo"):
                reason = detail.get("reason")
                if isinstance(reason, str) and reason:
                    return reason
    return None


class _Reading:
    """What one answer said so far, across its streamed chunks."""

    __slots__ = ("calls", "finish", "text", "usage")

    def __init__(self) -> None:
        self.calls = 0
        self.text = False
        self.finish: str | None = None
        self.usage: Usage | None = None


class GeminiProvider(APIProvider):
    """Google's Gemini API (``generateContent`` / ``streamGenerateContent``).

    Per call: ``base_url=`` another API root, ``api_key=`` (a string or a
    :class:`~pydantic.SecretStr`), ``stream=False`` for one JSON answer,
    ``include_thoughts=True`` to ask for thought summaries, the sampling
    options it lists, ``tools``, ``tool_choice`` and ``response_format``.
    Besides text it yields ``Reasoning``, tool-call deltas, ``Usage`` and
    ``Finish`` events.
    """

    name = "GeminiAPI"
    url = DEFAULT_BASE_URL
    working = True
    needs_auth = True
    supports_message_history = True
    supports_system_message = True
    supports_tools = True
    supports_vision = True
    supports_json_mode = True
    sampling_options: ClassVar[frozenset[str]] = _SAMPLING

    #: The API root (``https://generativelanguage.googleapis.com``).
    base_url: ClassVar[str] = DEFAULT_BASE_URL
    api_key_env: ClassVar[str | None] = KEY_ENVS[0]
    api_key_fallback_envs: ClassVar[tuple[str, ...]] = KEY_ENVS[1:]
    #: Whether to ask for a stream by default.
    stream: ClassVar[bool] = True
    #: Whether to ask thinking models for their thought summaries (``Reasoning``).
    include_thoughts: ClassVar[bool] = False

    @classmethod
    def request_headers(cls, key: str | None, accept: str) -> dict[str, str]:
        """Google's: the key in ``x-goog-api-key``."""
        headers = super().request_headers(None, accept)
        if key:
            headers["x-goog-api-key"] = key
        return headers

    # -- the request ---------------------------------------------------------

    @classmethod
    def _fault(cls, message: str, param: str) -> ConfigurationError:
        error = ConfigurationError(f"{cls.name}: {message}")
        error.param = param
        return error

    @classmethod
    def _model_id(cls, model: str) -> str:
        model = model.removeprefix("models/")
        if not _MODEL_ID.fullmatch(model):
            raise cls._fault(f"{model!r} is not a Gemini model id", "model")
        return model

    @classmethod
    def _image_part(cls, url: str) -> dict[str, Any]:
        if url.startswith("data:"):
            header, comma, data = url[5:].partition(",")
            mime, _, encoding = header.partition(";")
            if not comma or encoding != "base64" or "/" not in mime or not data:
                raise InvalidMessagesError(
                    f"{cls.name}: an image data: URL must be data:<type>;base64,<data>"
                )
            return {"inlineData": {"mimeType": mime, "data": data}}
        guessed, _ = mimetypes.guess_type(urlsplit(url).path)
        return {"fileData": {"mimeType": guessed or "image/jpeg", "fileUri": url}}

    @classmethod
    def _user_parts(cls, content: Any) -> list[dict[str, Any]]:
        if isinstance(content, str):
            return [{"text": content}]
        parts: list[dict[str, Any]] = []
        for part in content or ():
            if part.get("type") == "text":
                parts.append({"text": part["text"]})
            elif part.get("type") == "image_url":
                parts.append(cls._image_part(part["image_url"]["url"]))
        return parts

    @classmethod
    def _call_arguments(cls, arguments: str, name: str) -> dict[str, Any]:
        try:
            args = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            args = None
        if not isinstance(args, dict):
            raise InvalidMessagesError(
                f"{cls.name}: the arguments of the tool call {name!r} are not a JSON object"
            )
        return args

    @staticmethod
    def _tool_result(content: Any) -> dict[str, Any]:
        # Gemini wants an object: a JSON object result goes as it is, anything
        # else under "output", the key Google's SDKs use for a function's output.
        text = content if isinstance(content, str) else text_of(content)
        try:
            value: Any = json.loads(text)
        except ValueError:
            value = text
        return value if isinstance(value, dict) else {"output": value}

    @classmethod
    def _contents(cls, messages: Messages) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """The ``contents`` and the ``systemInstruction`` for an OpenAI-shaped conversation."""
        system: list[dict[str, Any]] = []
        contents: list[dict[str, Any]] = []
        names: dict[str, str] = {}  # tool call id -> function name
        results: dict[str, Any] | None = None  # the turn that gathers consecutive tool results
        for message in messages:
            role, content = message["role"], message.get("content")
            if role == "tool":
                call_id = str(message.get("tool_call_id"))
                if call_id not in names:
                    raise InvalidMessagesError(
                        f"{cls.name}: a tool message answers {call_id!r}, "
                        "which no earlier assistant tool call has"
                    )
                part = {
                    "functionResponse": {
                        "name": names[call_id],
                        "response": cls._tool_result(content),
                    }
                }
                if results is None:
                    results = {"role": "user", "parts": []}
                    contents.append(results)
                results["parts"].append(part)
                continue
            results = None
            if role == "system":
                text = text_of(content)
                if text:
                    system.append({"text": text})
            elif role == "assistant":
                parts: list[dict[str, Any]] = []
                text = text_of(content)
                if text:
                    parts.append({"text": text})
                for call in message.get("tool_calls") or ():
                    function = call["function"]
                    names[call["id"]] = function["name"]
                    args = cls._call_arguments(function["arguments"], function["name"])
                    parts.append({"functionCall": {"name": function["name"], "args": args}})
                if parts:
                    contents.append({"role": "model", "parts": parts})
            else:
                contents.append({"role": "user", "parts": cls._user_parts(content)})
        if not contents:
            raise InvalidMessagesError(f"{cls.name}: the conversation has no user or model turn")
        return contents, ({"parts": system} if system else None)

    @classmethod
    def _tools(cls, tools: Any, tool_choice: Any) -> dict[str, Any]:
        if not isinstance(tools, list):
            raise cls._fault("'tools' must be a list", "tools")
        declarations = []
        for tool in tools:
            kind = tool.get("type", "function") if isinstance(tool, dict) else None
            if kind != "function":
                raise UnsupportedFeatureError(
                    cls.name, "tools", f"only function tools are supported, not {kind!r}"
                )
            function = tool.get("function")
            if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                raise cls._fault("a tool has no function name", "tools")
            declaration: dict[str, Any] = {"name": function["name"]}
            if function.get("description"):
                declaration["description"] = function["description"]
            if function.get("parameters") is not None:
                # JSON Schema as OpenAI's clients write it; "parameters" would
                # take only Gemini's OpenAPI subset.
                declaration["parametersJsonSchema"] = function["parameters"]
            declarations.append(declaration)
        body: dict[str, Any] = {"tools": [{"functionDeclarations": declarations}]}
        if tool_choice is not None:
            body["toolConfig"] = {"functionCallingConfig": cls._tool_choice(tool_choice)}
        return body

    @classmethod
    def _tool_choice(cls, choice: Any) -> dict[str, Any]:
        if isinstance(choice, str) and choice in _TOOL_MODES:
            return {"mode": _TOOL_MODES[choice]}
        function = choice.get("function") if isinstance(choice, dict) else None
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str) or not name:
            raise cls._fault(
                "'tool_choice' must be auto, none, required or {type: function, function: {name}}",
                "tool_choice",
            )
        return {"mode": "ANY", "allowedFunctionNames": [name]}

    @classmethod
    def _response_format(cls, response_format: Any, config: dict[str, Any]) -> None:
        kind = response_format.get("type") if isinstance(response_format, dict) else None
        if kind == "text":
            return
        if kind == "json_object":
            config["responseMimeType"] = "application/json"
            return
        if kind == "json_schema":
            config["responseMimeType"] = "application/json"
            spec = response_format.get("json_schema")
            schema = spec.get("schema") if isinstance(spec, dict) else None
            if schema is not None:
                config["responseJsonSchema"] = schema
            return
        raise cls._fault(
            "'response_format' type must be text, json_object or json_schema", "response_format"
        )

    @classmethod
    def _body(
        cls, messages: Messages, include_thoughts: bool, options: Mapping[str, Any]
    ) -> dict[str, Any]:
        contents, system = cls._contents(messages)
        body: dict[str, Any] = {"contents": contents}
        if system is not None:
            body["systemInstruction"] = system
        if options.get("tools"):
            body.update(cls._tools(options["tools"], options.get("tool_choice")))
        config: dict[str, Any] = {}
        for option, field in _GENERATION_CONFIG.items():
            if options.get(option) is not None:
                config[field] = options[option]
        limit = options.get("max_completion_tokens")
        if limit is None:
            limit = options.get("max_tokens")
        if limit is not None:
            config["maxOutputTokens"] = limit
        stop = options.get("stop")
        if stop is not None:
            config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
        if options.get("response_format") is not None:
            cls._response_format(options["response_format"], config)
        if include_thoughts:
            config["thinkingConfig"] = {"includeThoughts": True}
        if config:
            body["generationConfig"] = config
        return body

    # -- errors --------------------------------------------------------------

    @classmethod
    def _error(
        cls,
        error: Any,
        status: int | None,
        retry_after: float | None = None,
        reason: str = "",
    ) -> ProviderError:
        """The typed error for a Gemini error object (already scrubbed of secrets)."""
        message, code, details = reason, None, None
        if isinstance(error, dict):
            message = str(error.get("message") or reason)
            code = error.get("status") if isinstance(error.get("status"), str) else None
            details = error.get("details")
            if status is None and type(error.get("code")) is int:
                status = error["code"]
        elif isinstance(error, str) and error:
            message = error
        if status is None or status < 400:
            # An error inside a 200 answer with no status of its own.
            return UpstreamError(cls.name, message or "the server reported an error")
        if retry_after is None:
            retry_after = _retry_delay(details)
        key_reason = _error_reason(details)
        if key_reason and _KEY_REASON.match(key_reason):
            code = key_reason
        error_class: type[HTTPStatusError] | None = None
        if status == 400 and code and _KEY_REASON.match(code):
            # Google answers a wrong key with 400 INVALID_ARGUMENT: not the request's fault.
            error_class = AuthenticationError
        elif status == 400 and code == "FAILED_PRECONDITION":
            # "User location is not supported", billing: this account, not this request.
            error_class = PermissionDeniedError
        if error_class is not None:
            return error_class(cls.name, status, message, code=code, retry_after=retry_after)
        return error_for_status(cls.name, status, message, code=code, retry_after=retry_after)

    @classmethod
    def status_error(
        cls, status: int, data: Any, text: str, reason: str, retry_after: float | None
    ) -> ProviderError:
        """The typed error for a non-2xx answer: Google's ``{"error": {...}}`` (see ``_error``)."""
        if isinstance(data, list) and data:  # the stream method without alt=sse
            data = data[0]
        error: Any = data.get("error") if isinstance(data, dict) else None
        return cls._error(error or text, status, retry_after, reason)

    # -- the answer ----------------------------------------------------------

    @classmethod
    def _read(cls, data: Any, reading: _Reading, secrets: frozenset[str]) -> list[Chunk]:
        """The chunks of one ``GenerateContentResponse``; ``ValueError`` says what is malformed."""
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        if "error" in data:
            error = data["error"]
            if isinstance(error, dict):
                error = {**error, "message": scrub(str(error.get("message") or ""), secrets)}
            raise cls._error(error, None)
        feedback = data.get("promptFeedback")
        blocked = feedback.get("blockReason") if isinstance(feedback, dict) else None
        if blocked:
            raise ContentFilterError(
                cls.name, f"Gemini blocked the prompt ({blocked})", reason=str(blocked)
            )
        usage = data.get("usageMetadata")
        if usage is not None:
            reading.usage = cls._usage(usage)
        candidates = data.get("candidates")
        if candidates is None:
            return []
        if not isinstance(candidates, list):
            raise ValueError("'candidates' is not a list")
        chunks: list[Chunk] = []
        for candidate in candidates:
            if not isinstance(candidate, dict):
                raise ValueError("a candidate is not an object")
            if candidate.get("index", 0) != 0:
                continue
            content = candidate.get("content")
            parts = content.get("parts") if isinstance(content, dict) else None
            if not isinstance(parts, list | None):
                raise ValueError("'parts' is not a list")
            for part in parts or ():
                if not isinstance(part, dict):
                    raise ValueError("a part is not an object")
                text = part.get("text")
                if isinstance(text, str):
                    if part.get("thought") is True:
                        if text:
                            chunks.append(Reasoning(text))
                    elif text:
                        chunks.append(text)
                        reading.text = True
                elif "functionCall" in part:
                    chunks.append(cls._tool_call(part["functionCall"], reading.calls))
                    reading.calls += 1
                # Other parts (executable code, inline images) have no place in a chat answer.
            reason = candidate.get("finishReason")
            if isinstance(reason, str) and reason:
                reading.finish = reason
        return chunks

    @staticmethod
    def _tool_call(call: Any, index: int) -> ToolCallDelta:
        if not isinstance(call, dict):
            raise ValueError("a functionCall is not an object")
        name, args, call_id = call.get("name"), call.get("args"), call.get("id")
        if not isinstance(name, str) or not name:
            raise ValueError("a functionCall has no name")
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise ValueError("a functionCall's args are not an object")
        if not isinstance(call_id, str) or not call_id:
            call_id = f"call_{_random.token_hex(12)}"
        return ToolCallDelta(index, call_id, name, json.dumps(args))

    @staticmethod
    def _usage(usage: Any) -> Usage:
        if not isinstance(usage, dict):
            raise ValueError("'usageMetadata' is not an object")
        prompt = usage.get("promptTokenCount", 0)
        # Gemini leaves out a count that is zero; thinking counts as completion, as OpenAI's.
        completion = usage.get("candidatesTokenCount", 0)
        thoughts = usage.get("thoughtsTokenCount", 0)
        total = usage.get("totalTokenCount")
        if not (_count(prompt) and _count(completion) and _count(thoughts)):
            raise ValueError("'usageMetadata' token counts are not non-negative integers")
        if _count(total) and total >= prompt + completion + thoughts:
            return Usage(
                prompt_tokens=prompt, completion_tokens=completion + thoughts, total_tokens=total
            )
        return Usage.of(prompt, completion + thoughts)

    @classmethod
    def _ending(cls, reading: _Reading) -> list[Chunk]:
        """The events after the last part, or the error the finish reason stands for."""
        finish = reading.finish
        if finish in _BLOCKED:
            raise ContentFilterError(
                cls.name, f"Gemini stopped the answer ({finish})", reason=finish
            )
        if finish and finish not in _FINISH and not (reading.text or reading.calls):
            # MALFORMED_FUNCTION_CALL, OTHER...: nothing came back, which is no answer.
            raise UpstreamError(cls.name, f"the model ended without an answer ({finish})")
        chunks: list[Chunk] = []
        if reading.usage is not None:
            chunks.append(reading.usage)
        if reading.calls and finish == "STOP":
            chunks.append(Finish("tool_calls"))
        elif finish in _FINISH:
            chunks.append(Finish(_FINISH[finish]))
        return chunks

    # -- calls ---------------------------------------------------------------

    @classmethod
    async def fetch_models(
        cls,
        *,
        base_url: str | None = None,
        api_key: str | SecretStr | None = None,
        proxy: str | None = None,
        timeout: float | None = 30.0,
        **kwargs: Any,
    ) -> list[str]:
        """Ask the API for the models that can ``generateContent`` (``GET .../models``)."""
        root = (base_url or cls.base_url).rstrip("/")
        key = cls.resolve_api_key(api_key)
        secrets = cls.call_secrets(key, proxy, root)
        models: list[str] = []
        params = {"pageSize": "1000"}
        for _ in range(_MAX_MODEL_PAGES):
            data = await cls.get_json(
                f"{_api_root(root)}/models",
                params=params,
                headers=cls.request_headers(key, "application/json"),
                proxy=proxy,
                timeout=timeout,
                secrets=secrets,
                what="the answer to GET /models",
            )
            items = data.get("models", []) if isinstance(data, dict) else None
            if not isinstance(items, list):
                raise ProtocolError(cls.name, "GET /models answered without a 'models' list")
            for item in items:
                if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                    continue
                methods = item.get("supportedGenerationMethods")
                if methods is None or "generateContent" in methods:
                    models.append(item["name"].removeprefix("models/"))
            token = data.get("nextPageToken")
            if not isinstance(token, str) or not token:
                break
            params = {**params, "pageToken": token}
        return models

    @classmethod
    async def create_async_generator(
        cls,
        model: str,
        messages: Messages,
        proxy: str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | SecretStr | None = None,
        timeout: float | None = None,
        stream: bool | None = None,
        include_thoughts: bool | None = None,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        **kwargs: Any,
    ) -> AsyncIterator[Chunk]:
        """Stream the answer. Without a model (and no ``default_model``), the API's first."""
        root = (base_url or cls.base_url).rstrip("/")
        key = cls.resolve_api_key(api_key)
        secrets = cls.call_secrets(key, proxy, root)
        use_stream = cls.stream if stream is None else stream
        thoughts = cls.include_thoughts if include_thoughts is None else include_thoughts
        body = cls._body(messages, thoughts, kwargs)
        if not model:
            model = cls.default_model or ""
        if not model:
            models = await cls.fetch_models(base_url=root, api_key=key, proxy=proxy)
            if not models:
                raise UpstreamError(cls.name, "the API lists no models", retryable=False)
            model = models[0]
        method = "streamGenerateContent?alt=sse" if use_stream else "generateContent"
        session = await get_session()
        async with session.post(
            f"{_api_root(root)}/models/{cls._model_id(model)}:{method}",
            json=body,
            headers=cls.request_headers(
                key, "text/event-stream" if use_stream else "application/json"
            ),
            proxy=proxy,
            timeout=_request_timeout(timeout),
        ) as response:
            await cls.raise_for_status(response, secrets)
            if use_stream:
                async for chunk in cls._iter_events(response, max_line_bytes, secrets):
                    yield chunk
            else:
                body_bytes = await cls.read_body(response, max_line_bytes)
                for chunk in cls._answer(
                    cls.parse_json(body_bytes, "the answer", secrets), secrets
                ):
                    yield chunk

    @classmethod
    def _answer(cls, data: Any, secrets: frozenset[str]) -> list[Chunk]:
        """The chunks of a whole answer (or of a stream the server sent as one JSON value)."""
        reading = _Reading()
        chunks: list[Chunk] = []
        for item in data if isinstance(data, list) else [data]:
            try:
                chunks.extend(cls._read(item, reading, secrets))
            except ValueError as exc:
                raise ProtocolError(cls.name, f"the answer's {exc}") from None
        if reading.finish is None and not (reading.text or reading.calls):
            raise ProtocolError(cls.name, "the answer has no candidate with content")
        return chunks + cls._ending(reading)

    @classmethod
    async def _iter_events(
        cls, response: aiohttp.ClientResponse, max_line_bytes: int, secrets: frozenset[str]
    ) -> AsyncIterator[Chunk]:
        reading = _Reading()
        seen_event = False
        # A server that answers the stream request with plain JSON (an error
        # with HTTP 200, or the stream as one JSON array) gets it read as such.
        plain: list[bytes] | None = None
        async for line in iter_lines(response, cls.name, max_line_bytes):
            if plain is not None:
                plain.append(line)
                if sum(map(len, plain)) > max_line_bytes:
                    raise LineTooLongError(cls.name, max_line_bytes)
                continue
            if not line.startswith(b"data:"):
                if not seen_event and line.lstrip()[:1] in (b"{", b"["):
                    plain = [line]
                continue
            seen_event = True
            try:
                event = loads_json(line[5:].strip())
            except JSONNestingError:
                raise cls.broken_line(line, "JSON nested too deep", secrets) from None
            except ValueError:
                raise cls.broken_line(line, "not JSON", secrets) from None
            try:
                chunks = cls._read(event, reading, secrets)
            except ValueError as exc:
                raise cls.broken_line(line, str(exc), secrets) from None
            for chunk in chunks:
                yield chunk
        if plain is not None:
            for chunk in cls._answer(
                cls.parse_json(b"\n".join(plain), "the answer", secrets), secrets
            ):
                yield chunk
            return
        if reading.finish is None:
            raise TruncatedResponseError(cls.name, "the stream closed without a finishReason")
        await drain(response)
        for chunk in cls._ending(reading):
            yield chunk


class GeminiEndpoint(ProviderSettings):
    """A Gemini endpoint declared as data: the options of ``kind = "gemini"`` tables.

    Without ``api_key`` or ``api_key_env`` the key is read from
    ``$GEMINI_API_KEY``, else ``$GOOGLE_API_KEY``.
    """

    base_url: str = Field(
        default=DEFAULT_BASE_URL, description="The API root (requests go to .../v1beta/...)."
    )
    models: list[str] = Field(default_factory=list)
    default_model: str | None = None
    needs_auth: bool = True
    working: bool = True
    stream: bool = True
    include_thoughts: bool = Field(
        default=False,
        description="Ask thinking models for thought summaries (streamed as reasoning).",
    )
    supports_tools: bool = True
    supports_vision: bool = True
    supports_json_mode: bool = True
    description: str = ""

    @model_validator(mode="after")
    def _default_model_listed(self) -> GeminiEndpoint:
        if self.default_model and self.models and self.default_model not in self.models:
            raise ValueError(f"default_model {self.default_model!r} is not in models")
        return self


def make_provider(name: str, endpoint: GeminiEndpoint) -> type[GeminiProvider]:
    """Create the provider class ``name`` for one Gemini endpoint."""
    attributes: dict[str, Any] = {
        "__doc__": endpoint.description or f"The Gemini API at {endpoint.base_url}.",
        "__module__": __name__,
        "name": name,
        "url": endpoint.base_url,
        "base_url": endpoint.base_url,
        # A configured variable replaces both of Google's: that key is the one meant.
        "api_key_env": endpoint.api_key_env or KEY_ENVS[0],
        "api_key_fallback_envs": () if endpoint.api_key_env else KEY_ENVS[1:],
        "_api_key": endpoint.api_key,
        "needs_auth": endpoint.needs_auth,
        "working": endpoint.working,
        "stream": endpoint.stream,
        "include_thoughts": endpoint.include_thoughts,
        "supports_tools": endpoint.supports_tools,
        "supports_vision": endpoint.supports_vision,
        "supports_json_mode": endpoint.supports_json_mode,
        "models": tuple(endpoint.models),
        "default_model": endpoint.default_model
        or (endpoint.models[0] if endpoint.models else None),
    }
    return type(name, (GeminiProvider,), attributes)


#: The kind behind ``kind = "gemini"`` tables.
KIND: ProviderKind[GeminiEndpoint] = ProviderKind(
    "gemini", GeminiEndpoint, make_provider, "Google's Gemini API (generateContent)."
)

#: Google's hosted API, keyed by $GEMINI_API_KEY (or $GOOGLE_API_KEY).
PRESETS: dict[str, dict[str, Any]] = {
    "Gemini": {
        "models": [
            "gemini-2.5-flash",
            "gemini-2.5-pro",
            "gemini-2.5-flash-lite",
            "gemini-2.0-flash",
        ],
        "default_model": "gemini-2.5-flash",
        "description": "Google's Gemini API; key from $GEMINI_API_KEY or $GOOGLE_API_KEY.",
    },
}


@g4f_lite.hookimpl
def register_providers(register: Callable[[type[g4f_lite.BaseProvider]], None]) -> None:
    """Register the ``Gemini`` preset."""
    for name, data in PRESETS.items():
        register(make_provider(name, GeminiEndpoint.model_validate(data)))


@g4f_lite.hookimpl
def register_provider_kinds(register: Callable[[ProviderKind[Any]], None]) -> None:
    """Register kind ``gemini``."""
    register(KIND)
