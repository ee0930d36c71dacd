"""Request bodies and listings of the OpenAI-compatible server, as pydantic models.

They follow the OpenAI chat completions API closely enough for its official
SDK, LangChain and curl scripts; ``provider`` in the request and
``/v1/providers`` are g4f-lite extensions. Answers are the library's own
:mod:`g4f_lite.client.results` models (``Completion``, ``CompletionChunk``).
"""

from __future__ import annotations

import contextlib
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ..selection import REQUEST_OPTIONS
from ..types import (
    FunctionCall,
    ImagePart,
    ImageURL,
    Message,
    ProviderInfo,
    TextPart,
    ToolCall,
)

__all__ = [
    "FORBIDDEN_FIELDS",
    "FORWARDED_FIELDS",
    "PROVIDER_FIELDS",
    "ChatCompletionRequest",
    "ErrorBody",
    "ErrorDetail",
    "FunctionDefinition",
    "HealthResponse",
    "HealthStoreStatus",
    "JsonObjectFormat",
    "JsonSchemaFormat",
    "JsonSchemaResponseFormat",
    "ModelCard",
    "ModelList",
    "NamedToolChoice",
    "ProviderList",
    "RequestMessage",
    "ResponseFormat",
    "ServedProvider",
    "StreamOptions",
    "TextFormat",
    "ToolDefinition",
    "normalize_field",
]

#: Body fields that would let a client aim the server at another host or
#: supply credentials: only the operator's configuration may set these, so a
#: request naming any of them is refused rather than silently ignored.
#: Matched across spellings (see :func:`normalize_field`): ``baseURL``,
#: ``BASE_URL`` and ``base-url`` are all ``base_url``.
FORBIDDEN_FIELDS = frozenset(
    {
        "access_token",
        "api_base",
        "api_key",
        "api_url",
        "auth",
        "authorization",
        "base_url",
        "cookie",
        "cookies",
        "credentials",
        "endpoint",
        "extra_body",
        "extra_headers",
        "extra_query",
        "headers",
        "new_token",
        "nonce",
        "organization",
        "password",
        "project",
        "proxies",
        "proxy",
        "secret",
        "session_id",
        "token",
        "url",
    }
)


def normalize_field(name: str) -> str:
    """``name`` lowercased without ``_`` and ``-``: one key for every spelling of a field."""
    return name.lower().replace("_", "").replace("-", "")


_FORBIDDEN_NORMALIZED = frozenset(normalize_field(name) for name in FORBIDDEN_FIELDS)


# Strict: a JSON string is not a number or a boolean (``"stream": "yes"`` is a
# 400, not True), and NaN/Infinity (which Python's json accepts) are refused.
# Unknown fields are ignored, as OpenAI does, and never forwarded.
_STRICT = ConfigDict(extra="ignore", strict=True, allow_inf_nan=False)
_STRICT_FROZEN = ConfigDict(extra="ignore", strict=True, allow_inf_nan=False, frozen=True)


# The request's message shapes are g4f_lite.types' own, relaxed in one way:
# fields a client adds (``index`` on tool calls an SDK reassembled from a
# stream, ``cache_control`` on parts...) are dropped instead of refused.
class _RequestTextPart(TextPart):
    model_config = _STRICT_FROZEN


class _RequestImageURL(ImageURL):
    model_config = _STRICT_FROZEN


class _RequestImagePart(ImagePart):
    model_config = _STRICT_FROZEN

    image_url: _RequestImageURL


_RequestPart = Annotated[_RequestTextPart | _RequestImagePart, Field(discriminator="type")]


class _RequestFunctionCall(FunctionCall):
    model_config = _STRICT_FROZEN


class _RequestToolCall(ToolCall):
    model_config = _STRICT_FROZEN

    function: _RequestFunctionCall


class RequestMessage(Message):
    """One turn of the conversation sent by the client, in any of OpenAI's shapes.

    :class:`g4f_lite.types.Message` (text and image parts, assistant
    ``tool_calls``, ``tool`` turns with ``tool_call_id``), plus the
    ``developer`` role (OpenAI's new name for ``system``, forwarded as
    ``system``). ``name`` and unknown fields are ignored and never
    forwarded.
    """

    model_config = _STRICT_FROZEN

    role: Literal["system", "developer", "user", "assistant", "tool"]  # type: ignore[assignment]
    content: str | list[_RequestPart] | None = None  # type: ignore[assignment]
    tool_calls: list[_RequestToolCall] | None = None  # type: ignore[assignment]

    def as_dict(self) -> dict[str, Any]:
        """The message as providers receive it (validated again by the router)."""
        role = "system" if self.role == "developer" else self.role
        # A list of parts goes on as it is: the router joins text parts for
        # providers that read text only, and leaves them to those that see images.
        content = self.content
        if type(content) is str and self.tool_calls is None and self.tool_call_id is None:
            return {"role": role, "content": content}  # the common case, without a dump
        data = self.model_dump(exclude_none=True, exclude={"name"})
        data["role"] = role
        return data


class FunctionDefinition(BaseModel):
    """The function a tool offers: OpenAI's ``tools[i].function``."""

    model_config = _STRICT

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str | None = None
    #: A JSON Schema object describing the arguments.
    parameters: dict[str, Any] | None = None
    strict: StrictBool | None = None


class ToolDefinition(BaseModel):
    """One entry of ``tools``: ``{"type": "function", "function": {...}}``."""

    model_config = _STRICT

    type: Literal["function"]
    function: FunctionDefinition


class _NamedFunction(BaseModel):
    model_config = _STRICT

    name: str


class NamedToolChoice(BaseModel):
    """``tool_choice`` forcing one tool: ``{"type": "function", "function": {"name"}}``."""

    model_config = _STRICT

    type: Literal["function"]
    function: _NamedFunction


class JsonSchemaFormat(BaseModel):
    """``response_format.json_schema``: a named JSON Schema the answer must follow."""

    model_config = ConfigDict(
        extra="ignore", strict=True, allow_inf_nan=False, populate_by_name=True
    )

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str | None = None
    # "schema" would shadow a BaseModel attribute.
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: StrictBool | None = None


class TextFormat(BaseModel):
    """``response_format`` ``{"type": "text"}``: plain text (the default)."""

    model_config = _STRICT

    type: Literal["text"]


class JsonObjectFormat(BaseModel):
    """``response_format`` ``{"type": "json_object"}``: any JSON object."""

    model_config = _STRICT

    type: Literal["json_object"]


class JsonSchemaResponseFormat(BaseModel):
    """``response_format`` ``{"type": "json_schema", "json_schema": {...}}``."""

    model_config = _STRICT

    type: Literal["json_schema"]
    json_schema: JsonSchemaFormat


ResponseFormat = Annotated[
    TextFormat | JsonObjectFormat | JsonSchemaResponseFormat, Field(discriminator="type")
]


class StreamOptions(BaseModel):
    """``stream_options``: ``include_usage`` asks for a last chunk carrying ``usage``."""

    model_config = _STRICT

    include_usage: StrictBool = False


#: The request fields that reach the router besides ``model``, ``messages``,
#: ``stream`` and ``provider``: sampling options, tools and the response
#: format. The router passes each only to providers that declare it (see
#: :func:`g4f_lite.selection.call_options`); every other field is validated
#: (or ignored when unknown) and then dropped.
FORWARDED_FIELDS = tuple(sorted(REQUEST_OPTIONS))
#: Every request field that can reach a provider.
PROVIDER_FIELDS = ("model", "messages", "stream", "provider", *FORWARDED_FIELDS)

_Unit = Annotated[float, Field(ge=0, le=1)]
_Penalty = Annotated[float, Field(ge=-2, le=2)]
_Count = Annotated[int, Field(ge=1)]
_TOOL_CHOICES = ("none", "auto", "required")


class ChatCompletionRequest(BaseModel):
    """The body of ``POST /v1/chat/completions``.

    Types are strict (``"stream": "yes"`` or ``"temperature": "hot"`` is a
    400). Unknown fields are ignored, as OpenAI does; only
    :data:`PROVIDER_FIELDS` reach the router, which gives each provider the
    options it declares. Fields in :data:`FORBIDDEN_FIELDS`, in any
    spelling, are refused.
    """

    model_config = _STRICT

    model: str = Field(default="", description="A model name; empty: the provider's default.")
    messages: list[RequestMessage] = Field(min_length=1)
    stream: StrictBool = False
    #: g4f-lite extension: the provider(s) to use, by name, tried in order.
    provider: str | list[str] | None = None
    n: int = Field(default=1, ge=1, le=1, description="Only one choice is supported.")
    tools: list[ToolDefinition] | None = Field(default=None, max_length=128)
    tool_choice: Any = None
    parallel_tool_calls: StrictBool | None = None
    response_format: ResponseFormat | None = None
    functions: list[Any] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: _Unit | None = None
    max_tokens: _Count | None = None
    max_completion_tokens: _Count | None = None
    presence_penalty: _Penalty | None = None
    frequency_penalty: _Penalty | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    user: str | None = None
    logprobs: bool | None = None
    top_logprobs: Annotated[int, Field(ge=0, le=20)] | None = None
    stream_options: StreamOptions | None = None

    @model_validator(mode="before")
    @classmethod
    def _refuse_forbidden(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in data:
                if isinstance(name, str) and normalize_field(name) in _FORBIDDEN_NORMALIZED:
                    shown = name if len(name) <= 40 else name[:37] + "..."
                    # Raised as ValueError so it becomes an ordinary 400 naming the field.
                    raise ValueError(
                        f"field {shown!r} cannot be set by a request; the server's "
                        "configuration file sets provider options"
                    )
        return data

    @field_validator("functions")
    @classmethod
    def _refuse_functions(cls, value: list[Any] | None) -> list[Any] | None:
        # Ignoring them would let a client believe the model saw its functions.
        if value:
            raise ValueError("the legacy function calling API is not supported; use tools")
        return value

    @field_validator("tool_choice")
    @classmethod
    def _check_tool_choice(cls, value: Any, info: ValidationInfo) -> str | NamedToolChoice | None:
        if value is None:
            return None
        choice: str | NamedToolChoice | None = None
        if type(value) is str and value in _TOOL_CHOICES:
            choice = value
        elif isinstance(value, dict):
            with contextlib.suppress(ValidationError):
                choice = NamedToolChoice.model_validate(value)
        if choice is None:
            raise ValueError(
                'must be "none", "auto", "required" or '
                '{"type": "function", "function": {"name": ...}}'
            )
        if "tools" not in info.data:  # tools are invalid: that error is the one to report
            return choice
        names = {tool.function.name for tool in info.data["tools"] or ()}
        if isinstance(choice, NamedToolChoice) and choice.function.name not in names:
            raise ValueError("names a function that is not in tools")
        if choice == "required" and not names:
            raise ValueError('"required" needs tools')
        return choice

    @field_validator("provider")
    @classmethod
    def _check_provider(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and not value:
            raise ValueError("must name at least one provider")
        return value

    @property
    def include_usage(self) -> bool:
        """Whether a stream ends with a chunk carrying ``usage``."""
        return self.stream_options is not None and self.stream_options.include_usage

    def options(self) -> dict[str, Any]:
        """The request options for the router: every :data:`FORWARDED_FIELDS` set."""
        options: dict[str, Any] = {}
        for name in FORWARDED_FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            if name == "tools":
                value = [tool.model_dump(exclude_none=True) for tool in value]
            elif isinstance(value, BaseModel):
                value = value.model_dump(exclude_none=True, by_alias=True)
            options[name] = value
        return options


class ErrorDetail(BaseModel):
    """OpenAI's error object."""

    message: str
    type: str
    code: str | None = None
    param: str | None = None
    #: g4f-lite extension: the id of the request (also its ``X-Request-Id``
    #: header), under which the server logged the details.
    request_id: str | None = None


class ErrorBody(BaseModel):
    """Every error response: ``{"error": {...}}``."""

    error: ErrorDetail


class ModelCard(BaseModel):
    """One entry of ``GET /v1/models``; ``providers`` (extension) lists who serves it."""

    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str
    providers: list[str] = Field(default_factory=list)


class ModelList(BaseModel):
    """``GET /v1/models``."""

    object: Literal["list"] = "list"
    data: list[ModelCard]


class ServedProvider(ProviderInfo):
    """One entry of ``GET /v1/providers``: the provider, and whether the server routes to it."""

    excluded: str | None = Field(
        default=None,
        description="Why the server never routes to it (e.g. its target is the server "
        "itself); None: it is routed to.",
    )


class ProviderList(BaseModel):
    """``GET /v1/providers`` (extension): capabilities, live health, and exclusions."""

    object: Literal["list"] = "list"
    data: list[ServedProvider]


class HealthStoreStatus(BaseModel):
    """Where provider health lives, in ``GET /health``."""

    kind: str = Field(description="memory, redis, or a custom store's class name.")
    state: str = Field(
        default="ok",
        description="redis: connected, connecting, or fallback (Redis unreachable: each "
        "instance keeps its own health until it is back).",
    )
    shared: bool = Field(default=False, description="Whether instances share it now.")
    url: str | None = Field(default=None, description="The store's URL, password masked.")
    error: str | None = Field(default=None, description="Why Redis is unreachable.")


class HealthResponse(BaseModel):
    """``GET /health``."""

    status: Literal["ok"] = "ok"
    version: str
    providers: int
    health_store: HealthStoreStatus | None = None
