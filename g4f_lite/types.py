"""Data that crosses g4f-lite's boundaries: messages and provider descriptions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import InvalidMessagesError

__all__ = ["Message", "Messages", "ProviderInfo", "Role", "validate_messages"]

Role: TypeAlias = Literal["system", "user", "assistant", "tool"]

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


class ProviderInfo(BaseModel):
    """A provider's static description: its capability flags and where it came from.

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
