"""The native Anthropic API for g4f-lite: kind ``anthropic`` and the ``Anthropic`` preset.

One provider class, :class:`AnthropicProvider`, talks to Anthropic's Messages
API (``POST {base_url}/v1/messages``) with aiohttp (no ``anthropic`` SDK),
streamed or not. Each endpoint is a subclass made from data by
:func:`make_provider`:

* the preset ``Anthropic`` (``https://api.anthropic.com``, key from
  ``$ANTHROPIC_API_KEY``) is registered by this plugin;
* users declare their own with ``kind = "anthropic"`` in the configuration
  file, or ``g4f_lite.declare_provider("Name", "anthropic", base_url=...)``
  (a proxy or gateway that speaks the Messages API).

Callers keep writing OpenAI's shapes: system turns become ``system``;
``tools``, ``tool_choice``, assistant ``tool_calls`` and ``tool`` turns,
image parts, ``stop`` and ``max_tokens`` are translated to their Messages API
equivalents, and the answer's blocks and events come back as text,
:class:`~g4f_lite.types.ToolCallDelta`, :class:`~g4f_lite.types.Reasoning`,
:class:`~g4f_lite.types.Usage` and :class:`~g4f_lite.types.Finish`.

API keys come from ``api_key=`` per call, the endpoint's configuration, or
its ``api_key_env`` environment variable. They are sent in ``x-api-key``
and never appear in a ``repr``, a log line or an error message (a server
that echoes the key in an error body has it replaced by ``***``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeGuard

from pydantic import Field, SecretStr, model_validator

import g4f_lite
from g4f_lite.api import APIProvider
from g4f_lite.errors import (
    InvalidMessagesError,
    LineTooLongError,
    ProtocolError,
    TruncatedResponseError,
    UnsupportedFeatureError,
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
from g4f_lite.provider import TOOL_OPTIONS
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
    "ANTHROPIC_VERSION",
    "DEFAULT_MAX_TOKENS",
    "KIND",
    "PRESETS",
    "AnthropicEndpoint",
    "AnthropicProvider",
    "make_provider",
    "register_provider_kinds",
    "register_providers",
]

#: The ``anthropic-version`` header sent with every request.
ANTHROPIC_VERSION = "2023-06-01"
#: ``max_tokens`` when the caller sets none: the API requires one.
DEFAULT_MAX_TOKENS = 4096

_SAMPLING = frozenset(
    {"temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "user"}
)
_STOP_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
# Error types a retry may get past (the rest are the request's or the key's fault).
_RETRYABLE_ERRORS = frozenset(
    {"overloaded_error", "api_error", "rate_limit_error", "timeout_error"}
)
_MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


def _count(value: object) -> TypeGuard[int]:
    return type(value) is int and value >= 0


class _Blocks:
    """The state of one streamed answer: which content block is what."""

    __slots__ = ("argued", "kinds", "tools")

    def __init__(self) -> None:
        #: Block index -> the block's type.
        self.kinds: dict[int, str] = {}
        #: Block index of a ``tool_use`` block -> its tool-call index (0, 1, ...).
        self.tools: dict[int, int] = {}
        #: Tool-call indices that received some argument text.
        self.argued: set[int] = set()


class AnthropicProvider(APIProvider):
    """Any server that speaks Anthropic's Messages API (``/v1/messages``).

    Per call: ``base_url=`` another API root, ``api_key=`` (a string or a
    :class:`~pydantic.SecretStr`), ``stream=False`` for one JSON answer,
    ``temperature``, ``top_p``, ``max_tokens`` (or ``max_completion_tokens``;
    default :attr:`max_tokens`), ``stop`` (sent as ``stop_sequences``),
    ``user`` (sent as ``metadata.user_id``), and OpenAI-shaped ``tools``,
    ``tool_choice`` and ``parallel_tool_calls``. Besides text it yields
    tool-call deltas, ``Usage``, ``Finish`` and ``Reasoning`` (thinking)
    events.
    """

    name = "AnthropicAPI"
    url = "https://api.anthropic.com"
    working = True
    supports_message_history = True
    supports_system_message = True
    supports_tools = True
    supports_vision = True
    supports_json_mode = False
    sampling_options: ClassVar[frozenset[str]] = _SAMPLING

    #: The API root, without ``/v1`` (as in Anthropic's SDK).
    base_url: ClassVar[str] = "https://api.anthropic.com"
    #: Whether to ask the server for a stream by default.
    stream: ClassVar[bool] = True
    models_path: ClassVar[str] = "/v1/models"
    #: ``max_tokens`` sent when the caller sets none.
    max_tokens: ClassVar[int] = DEFAULT_MAX_TOKENS
    #: The ``anthropic-version`` header.
    anthropic_version: ClassVar[str] = ANTHROPIC_VERSION

    @classmethod
    def request_headers(cls, key: str | None, accept: str) -> dict[str, str]:
        """Anthropic's: the key in ``x-api-key``, and the ``anthropic-version`` header."""
        headers = super().request_headers(None, accept)
        headers["anthropic-version"] = cls.anthropic_version
        if key:
            headers["x-api-key"] = key
        return headers

    # -- the request -------------------------------------------------------

    @classmethod
    def build_body(
        cls, model: str, messages: Messages, *, stream: bool, **kwargs: Any
    ) -> dict[str, Any]:
        """The Messages API request for an OpenAI-shaped conversation and options.

        Raises :class:`~g4f_lite.errors.InvalidMessagesError` (or
        :class:`~g4f_lite.errors.UnsupportedFeatureError` for tools) for
        input that has no Messages API equivalent: a request fault.
        """
        system, turns = cls._convert_messages(messages)
        limit = kwargs.get("max_tokens")
        if limit is None:
            limit = kwargs.get("max_completion_tokens")
        body: dict[str, Any] = {
            "model": model,
            "max_tokens": cls.max_tokens if limit is None else limit,
            "messages": turns,
        }
        if system:
            body["system"] = system
        for option in ("temperature", "top_p"):
            if kwargs.get(option) is not None:
                body[option] = kwargs[option]
        stop = kwargs.get("stop")
        if stop:
            body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
        if kwargs.get("user"):
            body["metadata"] = {"user_id": str(kwargs["user"])}
        tools = kwargs.get("tools")
        if tools:
            body["tools"] = [cls._tool(tool) for tool in tools]
            choice = cls._tool_choice(kwargs.get("tool_choice"))
            if kwargs.get("parallel_tool_calls") is False:
                choice = choice or {"type": "auto"}
                if choice["type"] != "none":
                    choice["disable_parallel_tool_use"] = True
            if choice is not None:
                body["tool_choice"] = choice
        if stream:
            body["stream"] = True
        return body

    @classmethod
    def _tool(cls, tool: Any) -> dict[str, Any]:
        function = tool.get("function") if isinstance(tool, dict) else None
        if (
            not isinstance(tool, dict)
            or tool.get("type", "function") != "function"
            or not isinstance(function, dict)
            or not isinstance(function.get("name"), str)
        ):
            raise UnsupportedFeatureError(
                cls.name, "tools", "only function tools ({'type': 'function', ...}) are supported"
            )
        parameters = function.get("parameters")
        result: dict[str, Any] = {
            "name": function["name"],
            "input_schema": parameters
            if isinstance(parameters, dict)
            else {"type": "object", "properties": {}},
        }
        if function.get("description"):
            result["description"] = function["description"]
        return result

    @classmethod
    def _tool_choice(cls, choice: Any) -> dict[str, Any] | None:
        if choice is None:
            return None
        if choice in ("auto", "none"):
            return {"type": choice}
        if choice == "required":
            return {"type": "any"}
        if isinstance(choice, dict):
            function = choice.get("function")
            if isinstance(function, dict) and isinstance(function.get("name"), str):
                return {"type": "tool", "name": function["name"]}
        raise UnsupportedFeatureError(cls.name, "tools", f"unknown tool_choice {choice!r}")

    @classmethod
    def _convert_messages(cls, messages: Messages) -> tuple[str, list[dict[str, Any]]]:
        """``system`` text and Messages API turns; consecutive turns of one role are merged.

        The API wants every tool result in the user turn right after the
        assistant's calls, so tool turns and a following user turn merge.
        """
        system: list[str] = []
        turns: list[tuple[str, str | list[dict[str, Any]]]] = []
        for index, message in enumerate(messages):
            role = message.get("role")
            content = message.get("content")
            if role == "system":
                text = text_of(content)
                if text:
                    system.append(text)
                continue
            converted: str | list[dict[str, Any]]
            if role == "tool":
                role = "user"
                converted = [
                    {
                        "type": "tool_result",
                        "tool_use_id": message.get("tool_call_id"),
                        "content": text_of(content),
                    }
                ]
            elif role == "assistant" and message.get("tool_calls"):
                converted = cls._blocks(content, index)
                converted += [cls._tool_use(call, index) for call in message["tool_calls"]]
            elif isinstance(content, str):
                converted = content
            else:
                converted = cls._blocks(content, index)
            if turns and turns[-1][0] == role:
                previous = turns[-1][1]
                merged = cls._as_blocks(previous) + cls._as_blocks(converted)
                turns[-1] = (role, merged)
            else:
                turns.append((str(role), converted))
        return "\n\n".join(system), [{"role": r, "content": c} for r, c in turns]

    @staticmethod
    def _as_blocks(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
        if isinstance(content, str):
            return [{"type": "text", "text": content}] if content else []
        return content

    @classmethod
    def _blocks(cls, content: Any, index: int) -> list[dict[str, Any]]:
        if content is None:
            return []
        if isinstance(content, str):
            return cls._as_blocks(content)
        blocks: list[dict[str, Any]] = []
        for part in content:
            if part.get("type") == "text":
                if part.get("text"):  # the API refuses empty text blocks
                    blocks.append({"type": "text", "text": part["text"]})
            elif part.get("type") == "image_url":
                blocks.append(cls._image(part["image_url"]["url"], index))
        return blocks

    @classmethod
    def _image(cls, url: str, index: int) -> dict[str, Any]:
        if url.startswith("https:"):
            return {"type": "image", "source": {"type": "url", "url": url}}
        header, comma, data = url.partition(",")
        media_type = header[5:].split(";", 1)[0]
        if not comma or not header.endswith(";base64") or media_type not in _MEDIA_TYPES:
            raise InvalidMessagesError(
                f"messages[{index}] has an image that {cls.name} cannot take: a data: URL "
                f"must be base64 and one of {', '.join(sorted(_MEDIA_TYPES))}"
            )
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }

    @classmethod
    def _tool_use(cls, call: dict[str, Any], index: int) -> dict[str, Any]:
        function = call["function"]
        arguments = function.get("arguments") or "{}"
        try:
            value = loads_json(arguments)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise InvalidMessagesError(
                f"messages[{index}] has a tool call whose arguments are not a JSON object, "
                f"which {cls.name} needs"
            )
        return {"type": "tool_use", "id": call["id"], "name": function["name"], "input": value}

    # -- errors ------------------------------------------------------------

    @classmethod
    def _upstream(cls, error: Any, secrets: frozenset[str]) -> UpstreamError:
        """The error for an ``error`` event or a ``{"type": "error"}`` body with HTTP 200."""
        kind = error.get("type") if isinstance(error, dict) else None
        message = error.get("message") if isinstance(error, dict) else error
        text = str(message or "the server reported an error")
        if isinstance(kind, str) and kind:
            text = f"{kind}: {text}"
        return UpstreamError(
            cls.name, scrub(text, secrets), retryable=kind is None or kind in _RETRYABLE_ERRORS
        )

    # -- calls -------------------------------------------------------------

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
        """Stream the answer. Without a model: ``default_model``, else the server's first."""
        root = (base_url or cls.base_url).rstrip("/")
        key = cls.resolve_api_key(api_key)
        secrets = cls.call_secrets(key, proxy, root)
        use_stream = cls.stream if stream is None else stream
        options = {
            option: value
            for option, value in kwargs.items()
            if option in cls.sampling_options or option in TOOL_OPTIONS
        }
        # Translated before any request: input the API cannot take fails fast.
        body = cls.build_body(model or "", messages, stream=use_stream, **options)
        if not model:
            model = cls.default_model or ""
            if not model:
                models = await cls.fetch_models(base_url=root, api_key=key, proxy=proxy)
                if not models:
                    raise UpstreamError(cls.name, "the server lists no models", retryable=False)
                model = models[0]
            body["model"] = model
        session = await get_session()
        accept = "text/event-stream" if use_stream else "application/json"
        async with session.post(
            f"{root}/v1/messages",
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
                body_bytes = await cls.read_body(response, max_line_bytes)
                for chunk in cls._answer(
                    cls.parse_json(body_bytes, "the answer", secrets), secrets
                ):
                    yield chunk

    @classmethod
    async def _iter_events(
        cls,
        response: aiohttp.ClientResponse,
        max_line_bytes: int,
        secrets: frozenset[str] = frozenset(),
    ) -> AsyncIterator[Chunk]:
        blocks = _Blocks()
        prompt_tokens: int | None = None
        seen_event = False
        # A server that answers a stream request with one JSON object (an
        # error, or a whole message) gets it read as such, not reported as an
        # empty, truncated stream.
        plain: list[bytes] | None = None
        async for line in iter_lines(response, cls.name, max_line_bytes):
            if plain is not None:
                plain.append(line)
                if sum(map(len, plain)) > max_line_bytes:
                    raise LineTooLongError(cls.name, max_line_bytes)
                continue
            if not line.startswith(b"data:"):
                # `event:` lines repeat the data's "type"; blank lines separate events.
                if not seen_event and line.lstrip().startswith(b"{"):
                    plain = [line]
                continue
            seen_event = True
            try:
                event = loads_json(line[5:])
            except JSONNestingError:
                raise cls.broken_line(line, "JSON nested too deep", secrets) from None
            except ValueError:
                raise cls.broken_line(line, "not JSON", secrets) from None
            if not isinstance(event, dict):
                raise cls.broken_line(line, "not a JSON object", secrets)
            kind = event.get("type")
            if not isinstance(kind, str):
                raise cls.broken_line(line, "no event 'type'", secrets)
            try:
                if kind == "message_start":
                    prompt_tokens = cls._prompt_tokens(event.get("message"))
                elif kind == "content_block_start":
                    for chunk in cls._block_start(event, blocks):
                        yield chunk
                elif kind == "content_block_delta":
                    for chunk in cls._block_delta(event, blocks):
                        yield chunk
                elif kind == "content_block_stop":
                    index = event.get("index")
                    call = blocks.tools.get(index) if type(index) is int else None
                    if call is not None and call not in blocks.argued:
                        # A tool without parameters streams no input at all.
                        yield ToolCallDelta(call, arguments="{}")
                elif kind == "message_delta":
                    for chunk in cls._message_delta(event, prompt_tokens):
                        yield chunk
                elif kind == "message_stop":
                    await drain(response)  # so that the connection goes back to the pool
                    return
                elif kind == "error":
                    raise cls._upstream(event.get("error"), secrets)
                # `ping` and event types newer than this code are skipped: the
                # API's versioning policy allows new event types at any time.
            except ValueError as exc:
                raise cls.broken_line(line, str(exc), secrets) from None
        if plain is not None:
            data = cls.parse_json(b"\n".join(plain), "the answer", secrets)
            for chunk in cls._answer(data, secrets):
                yield chunk
            return
        raise TruncatedResponseError(cls.name, "the stream closed before message_stop")

    @staticmethod
    def _prompt_tokens(message: Any) -> int | None:
        usage = message.get("usage") if isinstance(message, dict) else None
        if usage is None:
            return None
        return _input_tokens(usage)

    @staticmethod
    def _block_start(event: dict[str, Any], blocks: _Blocks) -> list[Chunk]:
        index, block = event.get("index"), event.get("content_block")
        if type(index) is not int or index < 0 or not isinstance(block, dict):
            raise ValueError("content_block_start without an index and a content_block")
        kind = block.get("type")
        blocks.kinds[index] = str(kind)
        if kind == "text":
            text = block.get("text", "")
            if not isinstance(text, str):
                raise ValueError("a text block's text is not a string")
            return [text] if text else []
        if kind == "thinking":
            thinking = block.get("thinking", "")
            return [Reasoning(thinking)] if isinstance(thinking, str) and thinking else []
        if kind == "tool_use":
            call_id, name = block.get("id"), block.get("name")
            if not isinstance(call_id, str) or not isinstance(name, str) or not name:
                raise ValueError("a tool_use block without a string id and name")
            call = len(blocks.tools)
            blocks.tools[index] = call
            initial = block.get("input")
            if isinstance(initial, dict) and initial:
                blocks.argued.add(call)
                return [ToolCallDelta(call, call_id, name, json.dumps(initial))]
            return [ToolCallDelta(call, call_id, name, "")]
        return []  # redacted thinking, server tools...: nothing a chat client shows

    @staticmethod
    def _block_delta(event: dict[str, Any], blocks: _Blocks) -> list[Chunk]:
        index, delta = event.get("index"), event.get("delta")
        if type(index) is not int or not isinstance(delta, dict):
            raise ValueError("content_block_delta without an index and a delta")
        if index not in blocks.kinds:
            raise ValueError(f"a delta for block {index}, which never started")
        kind = delta.get("type")
        if kind == "text_delta":
            text = delta.get("text")
            if not isinstance(text, str):
                raise ValueError("a text_delta's text is not a string")
            return [text] if text else []
        if kind == "input_json_delta":
            partial = delta.get("partial_json")
            call = blocks.tools.get(index)
            if call is None:
                raise ValueError(f"an input_json_delta for block {index}, not a tool_use block")
            if not isinstance(partial, str):
                raise ValueError("an input_json_delta's partial_json is not a string")
            if not partial:
                return []
            blocks.argued.add(call)
            return [ToolCallDelta(call, arguments=partial)]
        if kind == "thinking_delta":
            thinking = delta.get("thinking")
            if not isinstance(thinking, str):
                raise ValueError("a thinking_delta's thinking is not a string")
            return [Reasoning(thinking)] if thinking else []
        return []  # signature_delta, citations_delta and newer kinds

    @staticmethod
    def _message_delta(event: dict[str, Any], prompt_tokens: int | None) -> list[Chunk]:
        chunks: list[Chunk] = []
        delta = event.get("delta")
        reason = delta.get("stop_reason") if isinstance(delta, dict) else None
        if isinstance(reason, str) and reason in _STOP_REASONS:
            chunks.append(Finish(_STOP_REASONS[reason]))
        usage = event.get("usage")
        if usage is not None:
            if not isinstance(usage, dict) or not _count(usage.get("output_tokens")):
                raise ValueError("message_delta's usage has no output_tokens count")
            # Newer servers repeat the input counts here; message_start's otherwise.
            prompt = _input_tokens(usage) if "input_tokens" in usage else prompt_tokens
            if prompt is not None:
                chunks.append(Usage.of(prompt, usage["output_tokens"]))
        return chunks

    @classmethod
    def _answer(cls, data: Any, secrets: frozenset[str]) -> list[Chunk]:
        """The chunks of a whole ``message`` object (or the error it carries).

        Reasoning, the text, one whole :class:`ToolCallDelta` per tool call,
        then ``Usage`` and ``Finish``.
        """
        if not isinstance(data, dict):
            raise ProtocolError(cls.name, "the answer is not a JSON object")
        if data.get("type") == "error" or "error" in data:
            raise cls._upstream(data.get("error"), secrets)
        content = data.get("content")
        if not isinstance(content, list):
            raise ProtocolError(cls.name, "the answer has no 'content' list")
        chunks: list[Chunk] = []
        texts: list[str] = []
        calls: list[ToolCallDelta] = []
        try:
            for block in content:
                if not isinstance(block, dict):
                    raise ValueError("a content block is not an object")
                kind = block.get("type")
                if kind == "text":
                    if not isinstance(block.get("text"), str):
                        raise ValueError("a text block's text is not a string")
                    texts.append(block["text"])
                elif kind == "thinking" and isinstance(block.get("thinking"), str):
                    chunks.append(Reasoning(block["thinking"]))
                elif kind == "tool_use":
                    call_id, name = block.get("id"), block.get("name")
                    arguments = block.get("input", {})
                    if not isinstance(call_id, str) or not isinstance(name, str) or not name:
                        raise ValueError(f"tool call {len(calls)} has no string id and name")
                    if not isinstance(arguments, dict):
                        raise ValueError(f"tool call {len(calls)}'s input is not an object")
                    calls.append(ToolCallDelta(len(calls), call_id, name, json.dumps(arguments)))
            usage = data.get("usage")
            counted: Usage | None = None
            if usage is not None:
                if not isinstance(usage, dict) or not _count(usage.get("output_tokens")):
                    raise ValueError("usage has no output_tokens count")
                counted = Usage.of(_input_tokens(usage), usage["output_tokens"])
        except ValueError as exc:
            raise ProtocolError(cls.name, f"the answer's {exc}") from None
        text = "".join(texts)
        if text or not calls:
            chunks.append(text)
        chunks.extend(calls)
        if counted is not None:
            chunks.append(counted)
        reason = data.get("stop_reason")
        if isinstance(reason, str) and reason in _STOP_REASONS:
            chunks.append(Finish(_STOP_REASONS[reason]))
        return chunks


def _input_tokens(usage: Any) -> int:
    """The prompt's tokens: uncached input plus what was written to or read from the cache."""
    if not isinstance(usage, dict) or not _count(usage.get("input_tokens")):
        raise ValueError("usage has no input_tokens count")
    total: int = usage["input_tokens"]
    for field in ("cache_creation_input_tokens", "cache_read_input_tokens"):
        extra = usage.get(field)
        if _count(extra):
            total += extra
    return total


class AnthropicEndpoint(ProviderSettings):
    """An endpoint declared as data: the options of ``kind = "anthropic"`` tables."""

    base_url: str = Field(
        default="https://api.anthropic.com",
        description="The API root, without /v1 (requests go to {base_url}/v1/messages).",
    )
    models: list[str] = Field(default_factory=list)
    default_model: str | None = None
    max_tokens: int = Field(
        default=DEFAULT_MAX_TOKENS,
        gt=0,
        description="max_tokens sent when the caller sets none (the API requires one).",
    )
    anthropic_version: str = Field(
        default=ANTHROPIC_VERSION, description="The anthropic-version header."
    )
    #: Default: whether ``api_key`` or ``api_key_env`` is set.
    needs_auth: bool | None = None
    working: bool = True
    stream: bool = True
    supports_tools: bool = True
    supports_vision: bool = True
    description: str = ""

    @model_validator(mode="after")
    def _default_model_listed(self) -> AnthropicEndpoint:
        if self.default_model and self.models and self.default_model not in self.models:
            raise ValueError(f"default_model {self.default_model!r} is not in models")
        return self


def make_provider(name: str, endpoint: AnthropicEndpoint) -> type[AnthropicProvider]:
    """Create the provider class ``name`` for one Messages API endpoint."""
    needs_auth = endpoint.needs_auth
    if needs_auth is None:
        needs_auth = endpoint.api_key is not None or endpoint.api_key_env is not None
    attributes: dict[str, Any] = {
        "__doc__": endpoint.description or f"The Anthropic Messages API at {endpoint.base_url}.",
        "__module__": __name__,
        "name": name,
        "url": endpoint.base_url,
        "base_url": endpoint.base_url,
        "api_key_env": endpoint.api_key_env,
        "_api_key": endpoint.api_key,
        "needs_auth": needs_auth,
        "working": endpoint.working,
        "stream": endpoint.stream,
        "max_tokens": endpoint.max_tokens,
        "anthropic_version": endpoint.anthropic_version,
        "supports_tools": endpoint.supports_tools,
        "supports_vision": endpoint.supports_vision,
        "models": tuple(endpoint.models),
        "default_model": endpoint.default_model
        or (endpoint.models[0] if endpoint.models else None),
    }
    return type(name, (AnthropicProvider,), attributes)


#: The kind behind ``kind = "anthropic"`` tables.
KIND: ProviderKind[AnthropicEndpoint] = ProviderKind(
    "anthropic",
    AnthropicEndpoint,
    make_provider,
    "Anthropic's Messages API (/v1/messages), or a server that speaks it.",
)

#: Anthropic's own API; the key comes from ``$ANTHROPIC_API_KEY``.
PRESETS: dict[str, dict[str, Any]] = {
    "Anthropic": {
        "base_url": "https://api.anthropic.com",
        "api_key_env": "ANTHROPIC_API_KEY",
        "needs_auth": True,
        "models": ["claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-5", "claude-opus-4-1"],
        "default_model": "claude-sonnet-4-5",
        "description": "Anthropic's Claude models (api.anthropic.com); key in $ANTHROPIC_API_KEY.",
    },
}


@g4f_lite.hookimpl
def register_providers(register: Callable[[type[g4f_lite.BaseProvider]], None]) -> None:
    """Register the ``Anthropic`` preset."""
    for name, data in PRESETS.items():
        register(make_provider(name, AnthropicEndpoint.model_validate(data)))


@g4f_lite.hookimpl
def register_provider_kinds(register: Callable[[ProviderKind[Any]], None]) -> None:
    """Register kind ``anthropic``."""
    register(KIND)
