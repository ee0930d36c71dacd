"""Data that crosses g4f-lite's boundaries: messages, stream events, provider descriptions.

A provider's stream yields ``str`` (answer text) or one of the events here:
:class:`ToolCallDelta`, :class:`Usage`, :class:`Finish`, :class:`Reasoning`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeAlias, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import InvalidMessagesError

__all__ = [
    "IMAGE_SCHEMES",
    "BreakerState",
    "Chunk",
    "ContentPart",
    "Event",
    "Finish",
    "FinishReason",
    "FunctionCall",
    "HealthState",
    "ImagePart",
    "ImageURL",
    "Message",
    "Messages",
    "ProviderHealth",
    "ProviderInfo",
    "Reasoning",
    "Role",
    "TextPart",
    "ToolCall",
    "ToolCallDelta",
    "Usage",
    "has_images",
    "has_tool_turns",
    "text_of",
    "validate_messages",
]

Role: TypeAlias = Literal["system", "user", "assistant", "tool"]
_ROLES = frozenset(get_args(Role))
# Roles whose plain ``{"role", "content": str}`` turn needs no further checks
# (a tool turn needs its tool_call_id).
_PLAIN_ROLES = _ROLES - {"tool"}
#: A circuit breaker's state: ``closed`` (in use), ``open`` (benched, skipped
#: without a request), ``half_open`` (cooldown over, one probe in flight or due).
BreakerState: TypeAlias = Literal["closed", "open", "half_open"]
#: What :class:`ProviderHealth` reports: a breaker state, or ``auth_failed``
#: (the target refused the credentials; it is not benched for that, but every
#: call will fail the same way until the configuration is fixed).
HealthState: TypeAlias = Literal["closed", "open", "half_open", "auth_failed"]

#: What providers receive: plain dicts, already validated. The common turn is
#: ``{"role": ..., "content": "text"}`` as in the seed; OpenAI's richer shapes
#: (content parts, ``tool_calls``, ``tool_call_id``) pass through as written.
Messages: TypeAlias = list[dict[str, Any]]

#: Why an answer ended, as OpenAI reports it.
FinishReason: TypeAlias = Literal["stop", "length", "tool_calls", "content_filter"]

#: The image URL schemes a message part may use.
IMAGE_SCHEMES = ("https:", "data:")


class TextPart(BaseModel):
    """A text part of a message's ``content`` list."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["text"]
    text: str


class ImageURL(BaseModel):
    """Where an image part's picture is: an ``https:`` URL or a ``data:`` URL."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    detail: Literal["auto", "low", "high"] | None = None

    @field_validator("url")
    @classmethod
    def _scheme(cls, url: str) -> str:
        if not url.startswith(IMAGE_SCHEMES):
            raise ValueError("an image URL must start with https: or data:")
        return url


class ImagePart(BaseModel):
    """An image part of a user message's ``content`` list."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["image_url"]
    image_url: ImageURL


#: One part of a message's ``content`` list.
ContentPart: TypeAlias = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class FunctionCall(BaseModel):
    """The function a tool call invokes: its name and its JSON-encoded arguments."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    arguments: str


class ToolCall(BaseModel):
    """A tool call made by the assistant, as in OpenAI's ``tool_calls``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class Message(BaseModel):
    """One turn of a conversation, in any of OpenAI's chat shapes.

    ``content`` is a string or a list of parts (text, and images for user
    turns); an assistant turn may carry ``tool_calls`` instead of content; a
    ``tool`` turn answers the call named by ``tool_call_id``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Role
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None

    @model_validator(mode="after")
    def _shape(self) -> Message:
        if self.role == "tool":
            if not self.tool_call_id:
                raise ValueError("a tool message needs the tool_call_id it answers")
            if self.content is None:
                raise ValueError("a tool message needs content (the tool's result)")
        elif self.tool_call_id is not None:
            raise ValueError("only a tool message has a tool_call_id")
        if self.tool_calls is not None and self.role != "assistant":
            raise ValueError("only an assistant message has tool_calls")
        if self.content is None and not (self.role == "assistant" and self.tool_calls):
            raise ValueError("content is required (a string or a list of parts)")
        if (
            isinstance(self.content, list)
            and self.role != "user"
            and any(isinstance(part, ImagePart) for part in self.content)
        ):
            raise ValueError("only a user message may contain images")
        return self


def validate_messages(messages: object) -> Messages:
    """Check a conversation and return it as plain dicts.

    Accepts :class:`Message` objects or mappings in OpenAI's shapes. Raises
    :class:`~g4f_lite.errors.InvalidMessagesError` naming the offending turn
    for an empty list, a missing or non-string content, an unknown role, a
    malformed part, tool call or image URL.
    """
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise InvalidMessagesError(
            f"messages must be a list of {{'role': ..., 'content': ...}} dicts, "
            f"got {type(messages).__name__}"
        )
    if not messages:
        raise InvalidMessagesError("messages must contain at least one message")
    result: Messages = []
    for index, item in enumerate(messages):
        # The common case, checked without pydantic (a few microseconds a
        # message): a plain dict of exactly a known role and a str content.
        if type(item) is dict and len(item) == 2:
            role, content = item.get("role"), item.get("content")
            if type(role) is str and role in _PLAIN_ROLES and type(content) is str:
                result.append({"role": role, "content": content})
                continue
        if isinstance(item, Message):
            result.append(item.model_dump(exclude_none=True))
            continue
        if not isinstance(item, Mapping):
            raise InvalidMessagesError(
                f"messages[{index}] must be a dict with 'role' and 'content', "
                f"got {type(item).__name__}"
            )
        try:
            if "content" not in item and not (
                item.get("role") == "assistant" and "tool_calls" in item
            ):
                raise InvalidMessagesError("content: Field required")
            message = Message.model_validate(dict(item))
        except (ValidationError, InvalidMessagesError) as exc:
            problems = (
                _problems(exc, item.get("content"))
                if isinstance(exc, ValidationError)
                else str(exc)
            )
            raise InvalidMessagesError(f"messages[{index}] is invalid: {problems}") from None
        result.append(message.model_dump(exclude_none=True))
    return result


def _problems(exc: ValidationError, content: object) -> str:
    """A validation error as ``field: problem`` phrases, one per field."""
    seen: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        if loc[:1] == ["content"] and len(loc) >= 2:
            if not isinstance(content, list):
                seen.setdefault(
                    "content", "Input should be a valid string or a list of content parts"
                )
                continue
            if loc[1] == "str":  # the other branch of the union: not what was meant
                continue
            # content.list[...].0.image_url.image_url.url: drop the union branch
            # and the part's tag, which repeats the field after it.
            loc = ["content", *loc[2:]]
            if len(loc) >= 3 and loc[2] in ("text", "image_url"):
                del loc[2]
        path = ".".join(loc) or "message"
        seen.setdefault(path, err["msg"].removeprefix("Value error, "))
    return "; ".join(f"{path}: {problem}" for path, problem in seen.items())


def text_of(content: object) -> str:
    """The text of a message's ``content``: the string, or its text parts joined.

    The parts are joined as the client split them, with nothing between
    (as ``serve`` has always forwarded them). For providers that read text
    only; :func:`has_images` tells whether anything else was there.
    """
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def has_images(messages: Messages) -> bool:
    """Whether any turn of a validated conversation has an image part."""
    for message in messages:
        content = message.get("content")
        if type(content) is list and any(part.get("type") == "image_url" for part in content):
            return True
    return False


def has_tool_turns(messages: Messages) -> bool:
    """Whether a validated conversation holds tool calls or tool results."""
    return any(m["role"] == "tool" or "tool_calls" in m for m in messages)


# -- what a provider's stream yields besides text ----------------------------


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of a tool call, as streamed: OpenAI's ``delta.tool_calls[i]``.

    ``index`` tells the calls of one answer apart; the first piece of a call
    carries its ``id`` and ``name``, later ones only more ``arguments`` text
    (JSON, in fragments that make sense only once joined).
    """

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


class Usage(BaseModel):
    """Token counts the provider reported for one answer (never estimated here)."""

    model_config = ConfigDict(frozen=True)

    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    total_tokens: int = Field(ge=0)

    @classmethod
    def of(cls, prompt_tokens: int, completion_tokens: int) -> Usage:
        """Usage with the total computed."""
        return cls(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=prompt_tokens + completion_tokens,
        )


@dataclass(frozen=True, slots=True)
class Finish:
    """Why the answer ended, when the provider says (``stop``, ``length``, ``tool_calls``...)."""

    reason: FinishReason


@dataclass(frozen=True, slots=True)
class Reasoning:
    """A piece of the model's reasoning text, for models that expose it (not the answer)."""

    text: str


#: Anything but text that a provider's stream may yield.
Event: TypeAlias = ToolCallDelta | Usage | Finish | Reasoning
#: What a provider's ``create_async_generator`` yields: text deltas or events.
Chunk: TypeAlias = str | Event


class ProviderHealth(BaseModel):
    """A provider's live health at one target, as the router's health store sees it.

    Times are in seconds; ``latency`` and ``first_chunk`` are moving averages
    of recent successful calls (``None`` until there is one). ``state`` is
    ``open`` while benched, else ``auth_failed`` after refused credentials,
    else the breaker's ``closed`` or ``half_open``.
    """

    model_config = ConfigDict(frozen=True)

    state: HealthState = "closed"
    successes: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    #: How many times the breaker has tripped in a row (the cooldown grows with it).
    trips: int = 0
    #: Seconds until a benched provider may be probed again (0 when not benched).
    cooldown_remaining: float = 0.0
    latency: float | None = None
    first_chunk: float | None = None
    #: ``"ErrorType: message"`` of the latest failure, if any (secrets masked).
    last_error: str | None = None
    #: The target refused the credentials (HTTP 401/403, or none configured)
    #: and has not succeeded since: a configuration problem, not an outage.
    auth_failed: bool = False
    #: The site this health is for (``base_url`` or the provider's ``url``),
    #: without userinfo; ``None`` when not known.
    target: str | None = None

    @property
    def benched(self) -> bool:
        """Whether the router currently skips this provider."""
        return self.state == "open" and self.cooldown_remaining > 0


class ProviderInfo(BaseModel):
    """A provider's description: its capability flags, where it came from, its health.

    Returned by :func:`g4f_lite.providers`; JSON-serialisable with
    ``model_dump_json()``.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    url: str
    working: bool
    needs_auth: bool
    supports_stream: bool
    supports_message_history: bool
    supports_system_message: bool
    supports_gpt_35_turbo: bool
    supports_gpt_4: bool
    supports_tools: bool = False
    supports_vision: bool = False
    supports_json_mode: bool = False
    sampling_options: list[str] = Field(
        default_factory=list,
        description="The sampling options (temperature, max_tokens...) it honours; "
        "others are dropped before it is called.",
    )
    models: list[str] = Field(default_factory=list)
    default_model: str | None = None
    plugin: str = Field(description="The distribution (or 'runtime') that registered it.")
    available: bool | None = Field(
        default=None,
        description="Whether it can be used now: its credentials are present (or none are "
        "needed) and, for a server on this machine, something listens there "
        "(None: not probed yet).",
    )
    health: ProviderHealth | None = Field(
        default=None,
        description="Live health of the default target from the router's store "
        "(None: not looked up).",
    )
    targets: list[ProviderHealth] = Field(
        default_factory=list,
        description="Live health of every target called so far (the default target first), "
        "each naming its target without userinfo.",
    )
