"""Request and response bodies of the OpenAI-compatible server, as pydantic models.

They follow the OpenAI chat completions API closely enough for its official
SDK, LangChain and curl scripts; ``provider`` in the request and
``/v1/providers`` are g4f-lite extensions.
"""

from __future__ import annotations

import secrets
import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator

from ..types import ProviderInfo

__all__ = [
    "FORBIDDEN_FIELDS",
    "PROVIDER_FIELDS",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionRequest",
    "Choice",
    "ChunkChoice",
    "Delta",
    "ErrorBody",
    "ErrorDetail",
    "HealthResponse",
    "ModelCard",
    "ModelList",
    "ProviderList",
    "RequestMessage",
    "ResponseMessage",
    "completion_id",
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


def completion_id() -> str:
    """A fresh ``chatcmpl-...`` id, as OpenAI's."""
    return f"chatcmpl-{secrets.token_hex(12)}"


# Strict: a JSON string is not a number or a boolean (``"stream": "yes"`` is a
# 400, not True), and NaN/Infinity (which Python's json accepts) are refused.
_STRICT = ConfigDict(extra="ignore", strict=True, allow_inf_nan=False)


class _TextPart(BaseModel):
    """One part of a multi-part message; only text can be forwarded."""

    model_config = _STRICT

    type: Literal["text"]
    text: str


class RequestMessage(BaseModel):
    """One turn of the conversation sent by the client.

    ``content`` may be a string or a list of text parts (newer SDKs send
    those); ``developer`` is OpenAI's new name for ``system``. Fields the
    providers cannot use (``name``, ...) are ignored and never forwarded:
    providers receive ``{"role", "content"}`` only.
    """

    model_config = _STRICT

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[_TextPart]

    def as_dict(self) -> dict[str, str]:
        """The plain ``{"role", "content"}`` dict providers receive."""
        content = (
            self.content
            if isinstance(self.content, str)
            else "".join(part.text for part in self.content)
        )
        role = "system" if self.role == "developer" else self.role
        return {"role": role, "content": content}


#: The request fields that reach a provider: the conversation, the model, the
#: stream flag and the provider choice. Every other field is validated (or
#: ignored when unknown) and then dropped; none becomes a provider option.
PROVIDER_FIELDS = ("model", "messages", "stream", "provider")

_Unit = Annotated[float, Field(ge=0, le=1)]
_Penalty = Annotated[float, Field(ge=-2, le=2)]
_Count = Annotated[int, Field(ge=1)]


class ChatCompletionRequest(BaseModel):
    """The body of ``POST /v1/chat/completions``.

    Types are strict (``"stream": "yes"`` or ``"temperature": "hot"`` is a
    400). OpenAI sampling parameters (``temperature``, ``max_tokens``, ...) are
    checked and then ignored: the providers behind g4f-lite take no such
    options. Unknown fields are ignored, as OpenAI does; only
    :data:`PROVIDER_FIELDS` reach a provider. Fields in
    :data:`FORBIDDEN_FIELDS`, in any spelling, are refused.
    """

    model_config = _STRICT

    model: str = Field(default="", description="A model name; empty: the provider's default.")
    messages: list[RequestMessage] = Field(min_length=1)
    stream: StrictBool = False
    #: g4f-lite extension: the provider(s) to use, by name, tried in order.
    provider: str | list[str] | None = None
    n: int = Field(default=1, ge=1, le=1, description="Only one choice is supported.")
    tools: list[Any] | None = None
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
    stream_options: dict[str, Any] | None = None

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

    @field_validator("tools", "functions")
    @classmethod
    def _refuse_tools(cls, value: list[Any] | None) -> list[Any] | None:
        # Ignoring them would let a client believe the model saw its tools.
        if value:
            raise ValueError("tool calling is not supported by g4f-lite providers")
        return value

    @field_validator("provider")
    @classmethod
    def _check_provider(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and not value:
            raise ValueError("must name at least one provider")
        return value


class ResponseMessage(BaseModel):
    """The assistant's answer in a non-streamed completion."""

    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    """The one choice of a non-streamed completion."""

    index: int = 0
    message: ResponseMessage
    finish_reason: Literal["stop"] = "stop"
    logprobs: None = None


class ChatCompletion(BaseModel):
    """A whole answer: ``object = "chat.completion"``.

    ``usage`` is left out: providers do not report token counts, and an
    invented figure would be worse than none.
    """

    id: str = Field(default_factory=completion_id)
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str
    choices: list[Choice]
    usage: None = None
    system_fingerprint: None = None


class Delta(BaseModel):
    """What one streamed chunk adds to the answer."""

    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    """The one choice of a streamed chunk."""

    index: int = 0
    delta: Delta
    finish_reason: Literal["stop"] | None = None
    logprobs: None = None


class ChatCompletionChunk(BaseModel):
    """One server-sent event of a streamed answer: ``object = "chat.completion.chunk"``."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    system_fingerprint: None = None


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


class ProviderList(BaseModel):
    """``GET /v1/providers`` (extension): capabilities and live health."""

    object: Literal["list"] = "list"
    data: list[ProviderInfo]


class HealthResponse(BaseModel):
    """``GET /health``."""

    status: Literal["ok"] = "ok"
    version: str
    providers: int
