"""Data that crosses g4f-lite's boundaries: messages and provider descriptions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, TypeAlias, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import InvalidMessagesError

__all__ = [
    "BreakerState",
    "HealthState",
    "Message",
    "Messages",
    "ProviderHealth",
    "ProviderInfo",
    "Role",
    "validate_messages",
]

Role: TypeAlias = Literal["system", "user", "assistant", "tool"]
_ROLES = frozenset(get_args(Role))
#: A circuit breaker's state: ``closed`` (in use), ``open`` (benched, skipped
#: without a request), ``half_open`` (cooldown over, one probe in flight or due).
BreakerState: TypeAlias = Literal["closed", "open", "half_open"]
#: What :class:`ProviderHealth` reports: a breaker state, or ``auth_failed``
#: (the target refused the credentials; it is not benched for that, but every
#: call will fail the same way until the configuration is fixed).
HealthState: TypeAlias = Literal["closed", "open", "half_open", "auth_failed"]

#: What providers receive: plain ``{"role": ..., "content": ...}`` dicts, as in
#: the seed, already validated.
Messages: TypeAlias = list[dict[str, str]]


class Message(BaseModel):
    """One turn of a conversation."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Role
    content: str


def validate_messages(messages: object) -> Messages:
    """Check a conversation and return it as plain dicts.

    Accepts :class:`Message` objects or mappings. Raises
    :class:`~g4f_lite.errors.InvalidMessagesError` naming the offending turn
    for an empty list, a missing or non-string content, or an unknown role.
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
            if type(role) is str and role in _ROLES and type(content) is str:
                result.append({"role": role, "content": content})
                continue
        if isinstance(item, Message):
            result.append({"role": item.role, "content": item.content})
            continue
        if not isinstance(item, Mapping):
            raise InvalidMessagesError(
                f"messages[{index}] must be a dict with 'role' and 'content', "
                f"got {type(item).__name__}"
            )
        try:
            message = Message.model_validate(dict(item))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'message'}: {err['msg']}"
                for err in exc.errors()
            )
            raise InvalidMessagesError(f"messages[{index}] is invalid: {problems}") from None
        result.append({"role": message.role, "content": message.content})
    return result


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
    models: list[str] = Field(default_factory=list)
    default_model: str | None = None
    plugin: str = Field(description="The distribution (or 'runtime') that registered it.")
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
