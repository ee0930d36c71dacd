"""Which providers may serve a request: resolving names, and capability checks."""

from __future__ import annotations

import difflib
import inspect
import threading
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, TypeAlias

from ._log import get_logger
from .errors import ConfigurationError, NoProviderAvailableError, UnsupportedFeatureError
from .kinds import ProviderSettings
from .provider import SAMPLING_OPTIONS, TOOL_OPTIONS, BaseProvider
from .registry import Registry
from .registry import registry as default_registry
from .types import Messages, has_images, has_tool_turns

__all__ = [
    "ADVICE",
    "REQUEST_OPTIONS",
    "Feature",
    "ProviderSpec",
    "ProvidersArg",
    "call_options",
    "check_features",
    "exclusions",
    "lists_models_live",
    "no_provider_error",
    "request_needs",
    "resolve",
]

logger = get_logger("g4f_lite.router")

#: A capability a request may need: the flags ``supports_tools``,
#: ``supports_vision`` and ``supports_json_mode``.
Feature: TypeAlias = Literal["tools", "vision", "json_mode"]
_FLAGS: dict[str, str] = {
    "tools": "supports_tools",
    "vision": "supports_vision",
    "json_mode": "supports_json_mode",
}
_MISSING: dict[str, str] = {
    "tools": "cannot call tools",
    "vision": "cannot read images",
    "json_mode": "has no JSON mode (response_format)",
}
#: Call options that only some providers take: filtered per provider by
#: :func:`call_options`.
REQUEST_OPTIONS = SAMPLING_OPTIONS | TOOL_OPTIONS | {"response_format"}
_NO_NEEDS: frozenset[Feature] = frozenset()


def request_needs(messages: Messages, kwargs: Mapping[str, Any]) -> frozenset[Feature]:
    """The capabilities a request needs: tools, images, JSON mode."""
    # Asked on every call, and nearly always of plain text turns: one loop
    # finds out, before any of the checks below.
    if not kwargs.get("tools") and kwargs.get("response_format") is None:
        for m in messages:
            if type(m.get("content")) is list or m["role"] == "tool" or "tool_calls" in m:
                break
        else:
            return _NO_NEEDS
    needs: set[Feature] = set()
    if kwargs.get("tools") or has_tool_turns(messages):
        needs.add("tools")
    if has_images(messages):
        needs.add("vision")
    response_format = kwargs.get("response_format")
    if response_format is not None and not (
        isinstance(response_format, Mapping) and response_format.get("type") == "text"
    ):
        needs.add("json_mode")
    return frozenset(needs)


def check_features(provider: type[BaseProvider], needs: frozenset[Feature]) -> None:
    """Raise :class:`~g4f_lite.errors.UnsupportedFeatureError` if ``provider`` lacks a need."""
    if not needs:
        return
    for feature in sorted(needs):
        if not getattr(provider, _FLAGS[feature]):
            what = {
                "tools": "tools were given (or the conversation holds tool calls)",
                "vision": "the messages contain images",
                "json_mode": "response_format was given",
            }[feature]
            raise UnsupportedFeatureError(
                provider.name,
                feature,
                f"{_MISSING[feature]} ({_FLAGS[feature]} is False), but {what}; "
                "choose a provider that can, or provider=None to let the router choose",
            )


def call_options(provider: type[BaseProvider], kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` without the request options ``provider`` does not take.

    Sampling options it does not list in ``sampling_options`` are dropped
    (with a debug line); so are tool options and ``response_format`` for a
    provider without the capability, which the router only lets through when
    they ask for nothing (e.g. ``tool_choice="none"`` and no tools). ``None``
    values of these options are dropped for every provider. A key that is
    none of these but close to one (``temprature``) gets a warning naming
    the match, once per key; it is still passed on, as any provider
    option is.
    """
    if not _COMMON_OPTIONS.issuperset(kwargs):
        _warn_misspelled(provider, kwargs)
    if REQUEST_OPTIONS.isdisjoint(kwargs):
        return kwargs
    result = dict(kwargs)
    for key in REQUEST_OPTIONS.intersection(kwargs):
        value = result[key]
        if value is None:
            del result[key]
        elif key in SAMPLING_OPTIONS:
            if key not in provider.sampling_options:
                del result[key]
                logger.debug("provider %s does not take %s; dropped", provider.name, key)
        elif key in TOOL_OPTIONS:
            if not provider.supports_tools:
                del result[key]
                logger.debug("provider %s takes no tools; dropped %s", provider.name, key)
        elif not provider.supports_json_mode:
            del result[key]
            logger.debug("provider %s has no JSON mode; dropped %s", provider.name, key)
    return result


# Options any provider may be given: the request options and the settings
# of a [providers.NAME] table (base_url, api_key, proxy, timeout...).
_COMMON_OPTIONS = REQUEST_OPTIONS | frozenset(ProviderSettings.model_fields) | {"stream"}
# Close enough to be a typo: "temprature" and "max_token" are; "top_k"
# (a real option of some providers) is not "top_p".
_TYPO_CUTOFF = 0.85
# (provider, key) pairs already looked at, so difflib runs once per pair,
# and the keys already warned about, so each is reported once.
_CHECKED: set[tuple[type[BaseProvider], str]] = set()
_WARNED: set[str] = set()
_TYPO_LOCK = threading.Lock()


def _provider_options(provider: type[BaseProvider]) -> set[str]:
    """The keyword arguments ``provider.create_async_generator`` names."""
    method = getattr(provider, "create_async_generator", None)
    try:
        parameters = inspect.signature(method).parameters if method else {}
    except (TypeError, ValueError):  # a builtin or a callable without one
        return set()
    return {
        name
        for name, parameter in parameters.items()
        if parameter.kind in (parameter.KEYWORD_ONLY, parameter.POSITIONAL_OR_KEYWORD)
    }


def _warn_misspelled(provider: type[BaseProvider], kwargs: Mapping[str, Any]) -> None:
    """Warn about an option that looks like a misspelled known one (once per key)."""
    with _TYPO_LOCK:
        keys = [key for key in kwargs if (provider, key) not in _CHECKED]
        _CHECKED.update((provider, key) for key in keys)
    keys = [key for key in keys if key not in _COMMON_OPTIONS]
    if not keys:
        return
    own = _provider_options(provider)
    known = sorted(_COMMON_OPTIONS | own)
    for key in keys:
        if key in own:
            continue
        matches = difflib.get_close_matches(key, known, n=1, cutoff=_TYPO_CUTOFF)
        if not matches:
            continue  # an option only some provider knows: passed on, said nothing
        match = matches[0]
        with _TYPO_LOCK:
            if key in _WARNED:
                continue
            _WARNED.add(key)
        warnings.warn(
            f"unknown option {key!r} (given for provider {provider.name}): "
            f"did you mean {match!r}? It is passed on as is, and most likely ignored",
            UserWarning,
            stacklevel=2,
        )


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
    needs: frozenset[Feature] = frozenset(),
) -> list[str]:
    """Why ``provider`` cannot serve this request (empty: it can)."""
    reasons = [
        _MISSING[feature] for feature in sorted(needs) if not getattr(provider, _FLAGS[feature])
    ]
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


def lists_models_live(provider: type[BaseProvider], options: Mapping[str, Any]) -> bool:
    """Whether ``provider`` serves whatever its server lists rather than a list of its own.

    A server on this machine with no models declared (Ollama serves the
    models pulled into it): the router asks it (:meth:`BaseProvider.list_models`)
    instead of reading ``models``.
    """
    return (
        not provider.models
        and provider.default_model is None
        and provider.probe_address(options) is not None
    )


def resolve(
    spec: ProviderSpec | Sequence[ProviderSpec], registry: Registry | None = None
) -> list[type[BaseProvider]]:
    """The provider classes named by ``spec``, in order, each once.

    Names are looked up in ``registry`` (the process-wide one by default).
    """
    if registry is None:
        registry = default_registry
    if type(spec) is str:  # one name: the common case, asked on every call
        return [registry.get(spec)]
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


# Reasons that say a provider cannot be used from here at all, rather than
# that it cannot serve this particular request.
# (reason prefix -> how a count of them reads)
_UNREACHABLE = {
    "needs credentials": "without a key",
    "not available:": "with no server listening",
    "not working": "not working",
    "disabled": "disabled",
}

#: What to do when nothing can be used, said once, in one line.
ADVICE = (
    "set an API key (e.g. OPENAI_API_KEY or GROQ_API_KEY), start a local server such as "
    "Ollama, run `g4f-lite providers --all` to see every provider, or try `g4f-lite demo`"
)


def no_provider_error(
    model: str, excluded: Mapping[str, Sequence[str]]
) -> NoProviderAvailableError:
    """The error for a request no provider can serve; advice when none is usable at all.

    Detailed: the providers that could be used (what this request lacks),
    and those that would serve it but cannot be used from here (no key, no
    server listening...). The rest are counted: with a dozen hosted presets
    lacking keys, naming each would bury the one line that helps.
    """
    usable: list[str] = []
    near: list[str] = []  # would serve this model, given a key
    others: dict[str, Sequence[str]] = {}
    for name, why in excluded.items():
        if not any(reason.startswith(tuple(_UNREACHABLE)) for reason in why):
            usable.append(f"{name}: {', '.join(why)}")
        elif model and all(reason.startswith("needs credentials") for reason in why):
            near.append(f"{name}: {', '.join(why)}")
        else:
            others[name] = why
    if len(near) + len(others) <= _NAMED_UNUSABLE:
        near += [f"{name}: {', '.join(why)}" for name, why in others.items()]
        others = {}
    elif len(near) > _NAMED_UNUSABLE:
        others.update((line.split(":", 1)[0], ()) for line in near[_NAMED_UNUSABLE:])
        near = near[:_NAMED_UNUSABLE]
    parts = usable + near
    if others:
        counted = _count_unusable(excluded, others)
        parts.append(f"{len(others)} more: {counted}" if parts else counted)
    detail = "; ".join(parts) or "none is registered"
    if not usable:
        return NoProviderAvailableError(f"no provider is available ({detail}): {ADVICE}", excluded)
    wanted = f"model {model!r}" if model else "this request"
    return NoProviderAvailableError(
        f"no available provider can serve {wanted} ({detail}); "
        "name one explicitly with provider=... to bypass these checks",
        excluded,
    )


# Up to this many providers that cannot be used are named (the others
# counted); those that would serve the model given a key come first.
_NAMED_UNUSABLE = 3


def _count_unusable(excluded: Mapping[str, Sequence[str]], names: Iterable[str]) -> str:
    counts: dict[str, int] = {}
    for name in names:
        for prefix, label in _UNREACHABLE.items():
            if any(reason.startswith(prefix) for reason in excluded[name]):
                counts[label] = counts.get(label, 0) + 1
                break
    return ", ".join(f"{count} {label}" for label, count in counts.items())
