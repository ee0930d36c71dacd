"""OpenAI-compatible endpoints: hosted services, local servers, and any other.

One provider class, :class:`OpenAICompatProvider`, talks to
``{base_url}/chat/completions`` with aiohttp (no ``openai`` SDK), streamed
or not. Each endpoint is a subclass made from data by :func:`make_provider`:

* the presets in :data:`PRESETS` (:mod:`g4f_lite_openai.presets`: OpenAI,
  Groq, OpenRouter... each with its key variable, and local servers on
  their default ports) are registered by this plugin;
* users declare their own with ``kind = "openai"`` in the configuration
  file, or ``g4f_lite.declare_provider("Name", "openai", base_url=...)``.

Tools, image parts, ``response_format`` and the sampling options go upstream
as given; answers yield tool-call deltas, usage (asked for in streams with
``stream_options.include_usage`` unless ``stream_usage`` is off), finish
reasons and reasoning text besides the text. A whole-answer call
(``stream=False``) is sent as a non-streamed request.

API keys come from ``api_key=`` per call, the endpoint's configuration, or
its ``api_key_env`` environment variable. They are sent as a bearer token
and never appear in a ``repr``, a log line or an error message (a server
that echoes the key in an error body has it replaced by ``***``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeGuard

from pydantic import Field, SecretStr, field_validator, model_validator

import g4f_lite
from g4f_lite.api import APIProvider
from g4f_lite.errors import (
    LineTooLongError,
    ProtocolError,
    TruncatedResponseError,
    UpstreamError,
)
from g4f_lite.http import (
    DEFAULT_MAX_LINE_BYTES,
    JSONNestingError,
    drain,
    get_session,
    iter_lines,
    loads_json,
)
from g4f_lite.http import request_timeout as _request_timeout
from g4f_lite.kinds import ProviderKind, ProviderSettings
from g4f_lite.provider import SAMPLING_OPTIONS, TOOL_OPTIONS
from g4f_lite.redact import scrub
from g4f_lite.types import Chunk, Finish, FinishReason, Messages, Reasoning, ToolCallDelta, Usage

from .presets import PRESETS, Preset

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "KIND",
    "PRESETS",
    "OpenAICompatProvider",
    "OpenAIEndpoint",
    "Preset",
    "make_provider",
    "register_provider_kinds",
    "register_providers",
]

# Passed through as given (when not None) to every endpoint: its class
# declares tools and JSON mode.
_FEATURE_OPTIONS = TOOL_OPTIONS | {"response_format"}
# finish_reason values as servers send them; "function_call" is the legacy
# name of "tool_calls". Others (llama.cpp's "eos"...) end the answer unnamed.
_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


def _count(value: object) -> TypeGuard[int]:
    return type(value) is int and value >= 0


class OpenAICompatProvider(APIProvider):
    """Any server that speaks OpenAI's ``/v1/chat/completions``.

    Per call: ``base_url=`` another endpoint, ``api_key=`` (a string or a
    :class:`~pydantic.SecretStr`), ``stream=False`` for one JSON answer, the
    sampling options it lists (``temperature``, ``max_tokens``, ...), and
    ``tools``, ``tool_choice``, ``parallel_tool_calls``, ``response_format``;
    messages go upstream as given (image parts, tool calls and tool turns
    included). Besides text it yields tool-call deltas, ``Usage``, ``Finish``
    and ``Reasoning`` (``reasoning_content``/``reasoning``) events.
    """

    name = "OpenAICompatible"
    working = True
    supports_message_history = True
    supports_system_message = True
    supports_tools = True
    supports_vision = True
    supports_json_mode = True
    sampling_options: ClassVar[frozenset[str]] = SAMPLING_OPTIONS

    #: Whether to ask the server for a stream by default.
    stream: ClassVar[bool] = True
    #: Whether a streamed request asks for usage (``stream_options:
    #: {"include_usage": true}``); off for servers that reject the field.
    stream_usage: ClassVar[bool] = True
    models_path: ClassVar[str] = "/models"

    @classmethod
    def _upstream(cls, error: Any, secrets: frozenset[str]) -> UpstreamError:
        """The error for an ``{"error": ...}`` object in an answer (HTTP 200)."""
        message = error.get("message") if isinstance(error, dict) else error
        return UpstreamError(
            cls.name, scrub(str(message or "the server reported an error"), secrets)
        )

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
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        **kwargs: Any,
    ) -> AsyncIterator[Chunk]:
        """Stream the answer. Without a model (and no ``default_model``), the server's first."""
        root = (base_url or cls.base_url).rstrip("/")
        key = cls.resolve_api_key(api_key)
        secrets = cls.call_secrets(key, proxy, root)
        use_stream = cls.stream if stream is None else stream
        if not model:
            model = cls.default_model or ""
        if not model:
            models = await cls.fetch_models(base_url=root, api_key=key, proxy=proxy)
            if not models:
                raise UpstreamError(cls.name, "the server lists no models", retryable=False)
            model = models[0]
        body: dict[str, Any] = {"model": model, "messages": messages, "stream": use_stream}
        if use_stream and cls.stream_usage:
            body["stream_options"] = {"include_usage": True}
        sampling = cls.sampling_options
        for option, value in kwargs.items():
            if value is not None and (option in sampling or option in _FEATURE_OPTIONS):
                body[option] = value
        session = await get_session()
        accept = "text/event-stream" if use_stream else "application/json"
        async with session.post(
            f"{root}/chat/completions",
            json=body,
            headers=cls.request_headers(key, accept),
            proxy=proxy,
            timeout=_request_timeout(timeout),
        ) as response:
            await cls.raise_for_status(response, secrets)
            if use_stream:
                async for chunk in cls._iter_events(response, max_line_bytes, secrets):
                    yield chunk
            else:
                for chunk in await cls._read_answer(response, max_line_bytes, secrets):
                    yield chunk

    @classmethod
    async def _iter_stream(
        cls,
        response: aiohttp.ClientResponse,
        max_line_bytes: int,
        secrets: frozenset[str] = frozenset(),
    ) -> AsyncIterator[str]:
        """The text of a streamed answer, without its events."""
        async for chunk in cls._iter_events(response, max_line_bytes, secrets):
            if type(chunk) is str:
                yield chunk

    @classmethod
    async def _iter_events(
        cls,
        response: aiohttp.ClientResponse,
        max_line_bytes: int,
        secrets: frozenset[str] = frozenset(),
    ) -> AsyncIterator[Chunk]:
        # Complete when the server says so: `data: [DONE]`, or a choice with a
        # finish_reason (a connection lost between the two loses nothing).
        finished = False
        seen_event = False
        # A server that answers a stream request with one JSON object (an
        # `{"error": ...}` with HTTP 200, or a whole completion) gets it read
        # as such, not reported as an empty, truncated stream.
        plain: list[bytes] | None = None
        async for line in iter_lines(response, cls.name, max_line_bytes):
            if plain is not None:
                plain.append(line)
                if sum(map(len, plain)) > max_line_bytes:
                    raise LineTooLongError(cls.name, max_line_bytes)
                continue
            if not line.startswith(b"data:"):
                if not seen_event and line.lstrip().startswith(b"{"):
                    plain = [line]
                continue
            seen_event = True
            payload = line[5:].strip()
            if payload == b"[DONE]":
                await drain(response)  # so that the connection goes back to the pool
                return
            try:
                event = loads_json(payload)
            except JSONNestingError:
                raise cls.broken_line(line, "JSON nested too deep", secrets) from None
            except ValueError:
                raise cls.broken_line(line, "not JSON", secrets) from None
            if not isinstance(event, dict):
                raise cls.broken_line(line, "not a JSON object", secrets)
            if "error" in event:
                raise cls._upstream(event["error"], secrets)
            choices = event.get("choices")
            if not isinstance(choices, list):
                raise cls.broken_line(line, "no 'choices'", secrets)
            for choice in choices:
                if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                    continue
                delta = choice.get("delta")
                if isinstance(delta, dict):
                    content = delta.get("content")
                    reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                    if isinstance(reasoning, str) and reasoning:
                        yield Reasoning(reasoning)
                    if isinstance(content, str) and content:
                        yield content
                    calls = delta.get("tool_calls")
                    if calls is not None:
                        try:
                            for call in cls._tool_call_deltas(calls):
                                yield call
                        except ValueError as exc:
                            raise cls.broken_line(line, str(exc), secrets) from None
                reason = choice.get("finish_reason")
                if reason:
                    finished = True
                    if isinstance(reason, str) and reason in _FINISH:
                        yield Finish(_FINISH[reason])
            usage = event.get("usage")
            if usage is not None:
                try:
                    yield cls._usage(usage)
                except ValueError as exc:
                    raise cls.broken_line(line, str(exc), secrets) from None
        if plain is not None:
            data = cls.parse_json(b"\n".join(plain), "the answer", secrets)
            for chunk in cls._answer(data, secrets):
                yield chunk
            return
        if not finished:
            raise TruncatedResponseError(
                cls.name, "the stream closed without a finish_reason or [DONE]"
            )

    @classmethod
    async def _read_completion(
        cls,
        response: aiohttp.ClientResponse,
        max_bytes: int,
        secrets: frozenset[str] = frozenset(),
    ) -> str:
        """The text of a whole answer, without its events."""
        chunks = await cls._read_answer(response, max_bytes, secrets)
        return "".join(chunk for chunk in chunks if type(chunk) is str)

    @classmethod
    async def _read_answer(
        cls,
        response: aiohttp.ClientResponse,
        max_bytes: int,
        secrets: frozenset[str] = frozenset(),
    ) -> list[Chunk]:
        body = await cls.read_body(response, max_bytes)
        return cls._answer(cls.parse_json(body, "the answer", secrets), secrets)

    @classmethod
    def _answer(cls, data: Any, secrets: frozenset[str]) -> list[Chunk]:
        """The chunks of a whole ``chat.completion`` object (or the error it carries).

        Reasoning, the text, one whole :class:`ToolCallDelta` per tool call,
        then ``Usage`` and ``Finish`` when the server gave them. An answer
        with neither text nor tool calls is the empty text, as it always was.
        """
        if not isinstance(data, dict):
            raise ProtocolError(cls.name, "the answer is not a JSON object")
        if "error" in data:
            raise cls._upstream(data["error"], secrets)
        try:
            choice = data["choices"][0]
            message = choice["message"]
        except (KeyError, IndexError, TypeError):
            message = None
        if not isinstance(message, dict) or not ("content" in message or "tool_calls" in message):
            raise ProtocolError(cls.name, "the answer has no choices[0].message")
        chunks: list[Chunk] = []
        reasoning = message.get("reasoning_content") or message.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            chunks.append(Reasoning(reasoning))
        content = message.get("content")
        text = content if isinstance(content, str) else ""
        calls = message.get("tool_calls")
        try:
            deltas = cls._whole_tool_calls(calls) if calls is not None else []
            usage = cls._usage(data["usage"]) if data.get("usage") is not None else None
        except ValueError as exc:
            raise ProtocolError(cls.name, f"the answer's {exc}") from None
        if text or not deltas:
            chunks.append(text)
        chunks.extend(deltas)
        if usage is not None:
            chunks.append(usage)
        reason = choice.get("finish_reason")
        if isinstance(reason, str) and reason in _FINISH:
            chunks.append(Finish(_FINISH[reason]))
        return chunks

    @staticmethod
    def _tool_call_deltas(calls: Any) -> list[ToolCallDelta]:
        """``delta.tool_calls`` of a streamed chunk; ``ValueError`` says what is malformed."""
        if not isinstance(calls, list):
            raise ValueError("'tool_calls' is not a list")
        deltas = []
        for position, call in enumerate(calls):
            if not isinstance(call, dict):
                raise ValueError("a tool call is not an object")
            # Servers that send each call whole in one chunk may leave out its index.
            index = call.get("index", position)
            if type(index) is not int or index < 0:
                raise ValueError(f"a tool call's index is not a non-negative integer: {index!r}")
            function = call.get("function")
            if function is None:
                function = {}
            elif not isinstance(function, dict):
                raise ValueError("a tool call's 'function' is not an object")
            call_id, name = call.get("id"), function.get("name")
            arguments = function.get("arguments")
            for field, value in (("id", call_id), ("name", name), ("arguments", arguments)):
                if value is not None and not isinstance(value, str):
                    raise ValueError(f"a tool call's {field} is not a string")
            deltas.append(ToolCallDelta(index, call_id, name, arguments or ""))
        return deltas

    @staticmethod
    def _whole_tool_calls(calls: Any) -> list[ToolCallDelta]:
        """``message.tool_calls`` of a whole answer; ``ValueError`` says what is malformed."""
        if not isinstance(calls, list):
            raise ValueError("'tool_calls' is not a list")
        deltas = []
        for index, call in enumerate(calls):
            function = call.get("function") if isinstance(call, dict) else None
            if not isinstance(function, dict):
                raise ValueError(f"tool call {index} has no 'function' object")
            call_id, name = call.get("id"), function.get("name")
            arguments = function.get("arguments", "")
            if not isinstance(name, str) or not name:
                raise ValueError(f"tool call {index} has no function name")
            if call_id is not None and not isinstance(call_id, str):
                raise ValueError(f"tool call {index}'s id is not a string")
            if not isinstance(arguments, str):
                raise ValueError(f"tool call {index}'s arguments are not a JSON string")
            deltas.append(ToolCallDelta(index, call_id, name, arguments))
        return deltas

    @staticmethod
    def _usage(usage: Any) -> Usage:
        """A ``usage`` object; ``ValueError`` when its counts are not non-negative integers."""
        if not isinstance(usage, dict):
            raise ValueError("'usage' is not an object")
        prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
        total = usage.get("total_tokens")
        if not (_count(prompt) and _count(completion)):
            raise ValueError("'usage' has no token counts")
        if _count(total):
            return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=total)
        return Usage.of(prompt, completion)


class OpenAIEndpoint(ProviderSettings):
    """An endpoint declared as data: the options of ``kind = "openai"`` tables."""

    base_url: str = Field(description="The API root, e.g. http://127.0.0.1:11434/v1")
    models: list[str] = Field(default_factory=list)
    default_model: str | None = None
    #: Default: whether ``api_key`` or ``api_key_env`` is set.
    needs_auth: bool | None = None
    working: bool = True
    stream: bool = True
    stream_usage: bool = Field(
        default=True,
        description="Ask for usage with a stream (stream_options.include_usage); "
        "false for servers that reject the field.",
    )
    supports_tools: bool = True
    supports_vision: bool = True
    supports_json_mode: bool = True
    #: Default: all of them.
    sampling_options: list[str] | None = Field(
        default=None, description="The sampling options the server honours; the rest are dropped."
    )
    supports_gpt_35_turbo: bool = False
    supports_gpt_4: bool = False
    description: str = ""

    @field_validator("sampling_options")
    @classmethod
    def _known_sampling_options(cls, value: list[str] | None) -> list[str] | None:
        unknown = sorted(set(value or ()) - SAMPLING_OPTIONS)
        if unknown:
            known = ", ".join(sorted(SAMPLING_OPTIONS))
            raise ValueError(f"unknown sampling options {unknown} (known: {known})")
        return value

    @model_validator(mode="after")
    def _default_model_listed(self) -> OpenAIEndpoint:
        if self.default_model and self.models and self.default_model not in self.models:
            raise ValueError(f"default_model {self.default_model!r} is not in models")
        return self


def make_provider(name: str, endpoint: OpenAIEndpoint) -> type[OpenAICompatProvider]:
    """Create the provider class ``name`` for one OpenAI-compatible endpoint."""
    needs_auth = endpoint.needs_auth
    if needs_auth is None:
        needs_auth = endpoint.api_key is not None or endpoint.api_key_env is not None
    attributes: dict[str, Any] = {
        "__doc__": endpoint.description or f"The OpenAI-compatible endpoint {endpoint.base_url}.",
        "__module__": __name__,
        "name": name,
        "url": endpoint.base_url,
        "base_url": endpoint.base_url,
        "api_key_env": endpoint.api_key_env,
        "_api_key": endpoint.api_key,
        "needs_auth": needs_auth,
        "working": endpoint.working,
        "stream": endpoint.stream,
        "stream_usage": endpoint.stream_usage,
        "supports_tools": endpoint.supports_tools,
        "supports_vision": endpoint.supports_vision,
        "supports_json_mode": endpoint.supports_json_mode,
        "sampling_options": SAMPLING_OPTIONS
        if endpoint.sampling_options is None
        else frozenset(endpoint.sampling_options),
        "models": tuple(endpoint.models),
        "default_model": endpoint.default_model
        or (endpoint.models[0] if endpoint.models else None),
        "supports_gpt_35_turbo": endpoint.supports_gpt_35_turbo,
        "supports_gpt_4": endpoint.supports_gpt_4,
    }
    return type(name, (OpenAICompatProvider,), attributes)


#: The kind behind ``kind = "openai"`` tables.
KIND: ProviderKind[OpenAIEndpoint] = ProviderKind(
    "openai", OpenAIEndpoint, make_provider, "Any OpenAI-compatible /v1/chat/completions server."
)


@g4f_lite.hookimpl
def register_providers(register: Callable[[type[g4f_lite.BaseProvider]], None]) -> None:
    """Register the presets: local servers, and hosted services (each needing its key)."""
    for name, preset in PRESETS.items():
        register(make_provider(name, OpenAIEndpoint.model_validate(preset.options())))


@g4f_lite.hookimpl
def register_provider_kinds(register: Callable[[ProviderKind[Any]], None]) -> None:
    """Register kind ``openai``."""
    register(KIND)
