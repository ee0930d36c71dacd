"""Which providers may serve a request: resolving names, and capability checks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

from .errors import ConfigurationError
from .provider import BaseProvider
from .registry import registry
from .types import Messages

__all__ = ["ProviderSpec", "ProvidersArg", "exclusions", "resolve"]

#: One provider: its registered name (case-insensitive) or its class.
ProviderSpec: TypeAlias = str | type[BaseProvider]
#: ``None`` (let the router choose), one provider, or several in order.
ProvidersArg: TypeAlias = ProviderSpec | Sequence[ProviderSpec] | None


def exclusions(
    provider: type[BaseProvider],
    model: str,
    messages: Messages,
    stream: bool,
    kwargs: Mapping[str, Any],
) -> list[str]:
    """Why ``provider`` cannot serve this request (empty: it can)."""
    reasons = []
    if not provider.working:
        reasons.append("not working (name it explicitly to use it anyway)")
    if not provider.supports_model(model or None):
        reasons.append(f"does not support model {model!r}")
    if stream and not provider.supports_stream:
        reasons.append("cannot stream")
    if sum(m["role"] != "system" for m in messages) > 1 and not provider.supports_message_history:
        reasons.append("no message history")
    if any(m["role"] == "system" for m in messages) and not (
        provider.supports_system_message or provider.folds_system_message
    ):
        reasons.append("no system message")
    if provider.needs_auth and not provider.has_credentials(kwargs):
        reasons.append("needs credentials, none configured")
    return reasons


def resolve(spec: ProviderSpec | Sequence[ProviderSpec]) -> list[type[BaseProvider]]:
    """The provider classes named by ``spec``, in order, each once."""
    items: Sequence[ProviderSpec]
    if isinstance(spec, (str, type)):  # a str is a Sequence too
        items = [spec]
    elif isinstance(spec, Sequence):
        items = spec
    else:
        items = [spec]  # reported as invalid below, with the other bad items
    if not items:
        raise ConfigurationError(
            "provider=[] names no provider; pass None to let the router choose"
        )
    result: list[type[BaseProvider]] = []
    for item in items:
        if isinstance(item, str):
            cls = registry.get(item)
        elif isinstance(item, type) and issubclass(item, BaseProvider):
            cls = item
        else:
            raise ConfigurationError(
                f"provider must be a name, a BaseProvider subclass, a list of those or None, "
                f"got {item!r}"
            )
        if cls not in result:
            result.append(cls)
    return result
