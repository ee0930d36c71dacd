"""Provider kinds: factories that turn a table of settings into a provider class.

A plugin that implements a *protocol* rather than one site (the AI Engine
plugin, the OpenAI-compatible plugin) registers a :class:`ProviderKind`
through the ``register_provider_kinds`` hook. A ``[providers.NAME]`` table
with ``kind = "..."`` in the configuration file, or one call to
:func:`g4f_lite.config.declare_provider`, then creates an ordinary provider
class called ``NAME``: listed, filtered and routed like any other.

:class:`ProviderSettings` holds the options every ``[providers.NAME]`` table
may set, declared or not; a kind's own options model extends it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StrictBool,
    field_serializer,
    field_validator,
)

from .redact import mask_url

if TYPE_CHECKING:
    from .provider import BaseProvider

__all__ = ["PROVIDER_NAME_PATTERN", "MaskedURL", "ProviderKind", "ProviderSettings"]

#: What a declared provider may be called: it becomes a class name and a CLI word.
PROVIDER_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$"

_URL_SCHEMES = ("http://", "https://")
_UNSET = object()
_PROXY_SCHEMES = ("http://", "https://", "socks4://", "socks5://")


class MaskedURL(str):
    """A URL that may hold credentials (``http://user:pass@host``): its ``repr`` masks them.

    It is a real ``str`` holding the real URL, so a provider given one builds
    requests and connects through the proxy as with any string; only the
    ``repr`` (and so the ``repr`` of any dict, list or settings object holding
    it, as in logs and tracebacks) shows ``http://***@host`` instead.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(mask_url(str.__str__(self)))


def _masked(value: str | None) -> str | None:
    return None if value is None else MaskedURL(value)


class ProviderSettings(BaseModel):
    """Options a ``[providers.NAME]`` table may set for any provider.

    ``base_url``, ``api_key``, ``proxy`` and ``timeout`` are passed to the
    provider on every call (see :meth:`call_options`); ``enabled = false``
    keeps the table but tells the router and server to leave the provider
    out. ``api_key`` is a :class:`~pydantic.SecretStr`, so printing or
    logging settings never shows it; ``api_key_env`` names an environment
    variable read at call time instead. ``models`` replaces the models the
    provider answers for (see :meth:`class_overrides`). ``rpm`` and ``tpm`` cap
    the requests and reported tokens per minute (the router skips the provider
    at its limit, across instances with a shared health store). The user and password of a
    ``base_url`` or ``proxy`` are masked the same way in ``repr`` and in JSON
    dumps (they are :class:`MaskedURL` strings), yet reach the provider intact.
    Values are not coerced: ``enabled`` (and every boolean of a kind's
    settings) must be a real boolean, ``timeout`` a finite number of seconds.
    """

    # strict: a file's value must already have its field's type (``stream =
    # "no"`` is a mistake to report, not a string to guess about), in every
    # kind's settings, not only these base fields.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    enabled: StrictBool = True
    base_url: str | None = Field(default=None, description="Where the provider's API lives.")
    api_key: SecretStr | None = None
    api_key_env: str | None = Field(
        default=None, description="Environment variable holding the API key."
    )
    proxy: str | None = None
    timeout: float | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        strict=True,
        description="Seconds for a whole answer.",
    )
    models: list[str] | None = Field(
        default=None,
        description="The models the provider answers for, in place of its own list; "
        "the first is its default.",
    )
    rpm: int | None = Field(default=None, ge=1, description="Requests per minute, at most.")
    tpm: int | None = Field(
        default=None, ge=1, description="Tokens per minute (reported usage), at most."
    )

    @field_validator("models")
    @classmethod
    def _check_models(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not all(model.strip() for model in value):
            raise ValueError("model names must not be empty")
        return value

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(_URL_SCHEMES):
            raise ValueError("must start with http:// or https://")
        return _masked(value.rstrip("/") if value else value)

    @field_validator("proxy")
    @classmethod
    def _check_proxy(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(_PROXY_SCHEMES):
            raise ValueError(f"must start with one of {', '.join(_PROXY_SCHEMES)}")
        return _masked(value)

    @field_serializer("base_url", "proxy", when_used="json")
    def _mask_in_json(self, value: str | None) -> str | None:
        # JSON is for showing (CLI, HTTP, files): credentials stay out of it.
        return None if value is None else mask_url(value)

    @field_validator("api_key_env")
    @classmethod
    def _check_env_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError("must be an environment variable name such as OPENAI_API_KEY")
        return value

    def resolve_api_key(self) -> SecretStr | None:
        """The API key: ``api_key`` if set, else the value of ``$api_key_env`` right now."""
        if self.api_key is not None:
            return self.api_key
        if self.api_key_env:
            value = os.environ.get(self.api_key_env)
            if value:
                return SecretStr(value)
        return None

    def class_overrides(self, provider: type[BaseProvider]) -> dict[str, Any]:
        """The class attributes of ``provider`` this table replaces (empty: none).

        ``models`` (and with it ``default_model``, the first of them); and
        ``api_key_env`` for a provider that reads its key from a variable of
        its own (an ``api_key_env`` class attribute), so that its credential
        check and its requests use the configured variable, never the one
        it was registered with (whose key may belong to another service).
        """
        overrides: dict[str, Any] = {}
        if self.models is not None and tuple(self.models) != provider.models:
            overrides["models"] = tuple(self.models)
            overrides["default_model"] = self.models[0] if self.models else None
        own_env = getattr(provider, "api_key_env", _UNSET)
        if self.api_key_env is not None and own_env is not _UNSET and own_env != self.api_key_env:
            overrides["api_key_env"] = self.api_key_env
            if getattr(provider, "api_key_fallback_envs", ()):
                # Gemini's GOOGLE_API_KEY too: the configured variable is the only one.
                overrides["api_key_fallback_envs"] = ()
        return overrides

    def call_options(self) -> dict[str, Any]:
        """The keyword arguments to pass to the provider on every call.

        Only options the table sets are included. ``api_key`` stays a
        :class:`~pydantic.SecretStr` (providers of this package accept one),
        so that a logged dict of call options never reveals it.
        """
        options: dict[str, Any] = {}
        if self.base_url is not None:
            options["base_url"] = self.base_url
        api_key = self.resolve_api_key()
        if api_key is not None:
            options["api_key"] = api_key
        if self.proxy is not None:
            options["proxy"] = self.proxy
        if self.timeout is not None:
            options["timeout"] = self.timeout
        return options


S = TypeVar("S", bound=ProviderSettings)


@dataclass(frozen=True)
class ProviderKind(Generic[S]):
    """A factory of providers that speak one protocol.

    ``options`` is the pydantic model a ``[providers.NAME]`` table with
    ``kind = name`` is validated against (a :class:`ProviderSettings`
    subclass, so the common options keep working); ``factory(name, options)``
    returns the new provider class, which must be called ``name``.
    """

    name: str
    options: type[S]
    factory: Callable[[str, S], type[BaseProvider]]
    description: str = ""

    def create(self, name: str, options: S) -> type[BaseProvider]:
        """Build the provider class ``name`` from validated ``options``."""
        provider = self.factory(name, options)
        if provider.name != name:
            raise TypeError(
                f"provider kind {self.name!r} built a provider called {provider.name!r} "
                f"instead of {name!r}"
            )
        return provider
