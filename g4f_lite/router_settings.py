"""The ``[router]`` table: validated in the configuration layer, consumed by the router.

::

    [router]
    strategy = "fastest"             # ordered, shuffle, least-failures, fastest
    max_providers = 3
    wait_for_cooldown = true
    max_cooldown_wait = 10
    retry = { max_attempts = 3, initial = 0.5, max_wait = 8, jitter = 0.5, max_retry_after = 30 }
    timeouts = { connect = 30, first_chunk = 120, idle = 120, total = 300 }
    health_store = "redis://127.0.0.1:6379/0"   # or { url = "...", prefix = "...", timeout = 0.05 }

Types are strict (``strategy = 0`` or ``wait_for_cooldown = "no"`` is an
error, not a coercion), numbers are finite (``inf``/``nan`` are refused:
leaving a limit out, or ``None`` from Python, means "no limit"), and unknown
keys are errors listing the allowed ones. :func:`validate_router_table` turns
every problem into one :class:`~g4f_lite.errors.ConfigurationError` naming the
source, the table and the key, and never the value given (a misplaced value
may be a secret). This module does not import the router: the router imports
the configuration, and builds itself from a :class:`RouterSettings`
(:meth:`g4f_lite.router.Router.from_settings`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from .errors import ConfigurationError
from .policies import RetryPolicy, Timeouts
from .redact import scrub
from .strategies import STRATEGIES

__all__ = [
    "HealthStoreSettings",
    "RetrySettings",
    "RouterSettings",
    "TimeoutSettings",
    "describe_errors",
    "plain_message",
    "quote_key",
    "validate_router_table",
]

#: A wait in seconds: finite, zero or more.
Wait = Annotated[float, Field(ge=0, allow_inf_nan=False)]
#: A time limit in seconds: finite and positive (``None``: no limit).
Limit = Annotated[float, Field(gt=0, allow_inf_nan=False)]

_STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)


class RetrySettings(BaseModel):
    """The ``[router.retry]`` table: the fields of :class:`~g4f_lite.policies.RetryPolicy`."""

    model_config = _STRICT

    max_attempts: int = Field(default=RetryPolicy.max_attempts, ge=1)
    initial: Wait = RetryPolicy.initial
    max_wait: Wait = RetryPolicy.max_wait
    jitter: Wait = RetryPolicy.jitter
    max_retry_after: Wait = RetryPolicy.max_retry_after

    def policy(self) -> RetryPolicy:
        """The :class:`~g4f_lite.policies.RetryPolicy` these settings describe."""
        return RetryPolicy(**self.model_dump())


class TimeoutSettings(BaseModel):
    """The ``[router.timeouts]`` table: the fields of :class:`~g4f_lite.policies.Timeouts`."""

    model_config = _STRICT

    connect: Limit | None = Timeouts.connect
    first_chunk: Limit | None = Timeouts.first_chunk
    idle: Limit | None = Timeouts.idle
    total: Limit | None = Timeouts.total

    def timeouts(self) -> Timeouts:
        """The :class:`~g4f_lite.policies.Timeouts` these settings describe."""
        return Timeouts(**self.model_dump())


_STORE_SCHEMES = ("memory://", "redis://", "rediss://", "unix://")


class HealthStoreSettings(BaseModel):
    """``[router] health_store``: where provider health and rate limits live.

    A URL alone (``"redis://127.0.0.1:6379/0"``), or a table with ``url``,
    ``prefix`` (the start of every Redis key: instances sharing health use
    the same) and ``timeout`` (seconds a Redis command may take before the
    store falls back to the process's memory). ``memory://`` is the default,
    per-process store.
    """

    model_config = _STRICT

    url: str
    prefix: str = Field(default="g4f_lite:", min_length=1, max_length=200)
    timeout: Limit = 0.05

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.strip().lower().startswith(_STORE_SCHEMES):
            # The value is left out: a Redis URL may hold a password.
            raise ValueError(f"must start with one of {', '.join(_STORE_SCHEMES)}")
        return value.strip()


def _strategy_key(name: str) -> str:
    # The spelling strategies.get_strategy accepts.
    return name.strip().lower().replace("_", "-")


class RouterSettings(BaseModel):
    """The ``[router]`` table, validated; see :mod:`g4f_lite.router_settings`.

    The defaults are the router's own. Only the keys the table sets are
    passed on (:meth:`router_options`), so a ``Router`` built from an empty
    table is ``Router()``.
    """

    model_config = _STRICT

    strategy: str = Field(default="ordered", description=", ".join(sorted(STRATEGIES)))
    max_providers: int | None = Field(default=None, ge=1)
    wait_for_cooldown: bool = True
    max_cooldown_wait: Wait = 10.0
    retry: RetrySettings = Field(default_factory=RetrySettings)
    timeouts: TimeoutSettings = Field(default_factory=TimeoutSettings)
    health_store: HealthStoreSettings | None = None

    @field_validator("health_store", mode="before")
    @classmethod
    def _store_url(cls, value: object) -> object:
        # The URL alone is the common spelling.
        return {"url": value} if isinstance(value, str) else value

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        key = _strategy_key(value)
        if key not in STRATEGIES:
            # The value is left out on purpose: it may be a misplaced secret.
            raise ValueError(f"must be one of {', '.join(sorted(STRATEGIES))}")
        return key

    def router_options(self) -> dict[str, Any]:
        """Keyword arguments for :class:`~g4f_lite.router.Router`: only the keys set."""
        options: dict[str, Any] = {}
        for key in self.model_fields_set:
            value = getattr(self, key)
            if isinstance(value, RetrySettings):
                value = value.policy()
            elif isinstance(value, TimeoutSettings):
                value = value.timeouts()
            options[key] = value
        return options


# Where each nested table's model is, to list the keys it allows.
_NESTED: dict[str, type[BaseModel]] = {
    "retry": RetrySettings,
    "timeouts": TimeoutSettings,
    "health_store": HealthStoreSettings,
}

# Plain words for pydantic's error types; anything else keeps pydantic's
# message (it never holds the value), minus its "Value error, " prefix.
_MESSAGES = {
    "string_type": "must be a string",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "finite_number": "must be a finite number",
    "greater_than": "must be more than {gt}",
    "greater_than_equal": "must be at least {ge}",
    "model_type": "must be a table",
    "dict_type": "must be a table",
    "invalid_key": "keys must be strings",
}

# A key from the file is shown to say which one is wrong; a long or odd one
# is cut, so that an error line stays an error line.
_KEY_LIMIT = 40


def quote_key(part: object) -> str:
    """A key (or table name) from the file, scrubbed, quoted and cut short for an error line."""
    text = scrub(str(part))
    if len(text) > _KEY_LIMIT:
        text = text[: _KEY_LIMIT - 3] + "..."
    return repr(text)


def plain_message(error: ErrorDetails) -> str:
    """What is wrong, in plain words and without the value, for one pydantic error."""
    template = _MESSAGES.get(error["type"])
    if template is not None:
        ctx = {
            name: f"{value:g}" if isinstance(value, float) else value
            for name, value in (error.get("ctx") or {}).items()
        }
        return template.format(**ctx)
    return str(error["msg"]).removeprefix("Value error, ")


def _table_of(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[type[BaseModel], int]:
    """The model holding the last part of ``loc``, and how many parts name its table."""
    depth = 0
    while depth < len(loc) - 1 and model is RouterSettings and loc[depth] in _NESTED:
        model = _NESTED[str(loc[depth])]
        depth += 1
    return model, depth


def describe_errors(
    exc: ValidationError, table: str, model: type[BaseModel], allowed_extra: tuple[str, ...] = ()
) -> str:
    """One clause per problem: which table and key, and what is wrong; never the value."""
    problems: list[str] = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = tuple(error["loc"])
        where_model, depth = _table_of(model, loc)
        where = table + "".join(f".{part}" for part in loc[:depth])
        key = loc[depth] if depth < len(loc) else None
        kind = error["type"]
        if kind == "extra_forbidden" and key is not None:
            allowed = ", ".join(sorted([*where_model.model_fields, *allowed_extra]))
            problems.append(f"[{where}] unknown key {quote_key(key)} (allowed: {allowed})")
            continue
        message = plain_message(error)
        if key is None or kind == "invalid_key":
            problems.append(f"[{where}] {message}")
        elif kind in ("model_type", "dict_type") and isinstance(key, str) and key in _NESTED:
            problems.append(f"[{where}.{key}] {message}")
        else:
            problems.append(f"[{where}] key {quote_key(key)} {message}")
    return "; ".join(problems)


def _plain(value: object) -> object:
    # Strict models take dicts only; any other Mapping (a MappingProxyType,
    # a TOML library's table type) is as good a table.
    return dict(value) if isinstance(value, Mapping) and not isinstance(value, dict) else value


def validate_router_table(table: object, *, source: str = "settings") -> RouterSettings:
    """Validate a ``[router]`` table (a mapping shaped like the TOML table).

    Raises :class:`~g4f_lite.errors.ConfigurationError` naming ``source``,
    the table and each bad key, listing the allowed keys for an unknown one.
    """
    if isinstance(table, RouterSettings):
        return table
    if not isinstance(table, Mapping):
        raise ConfigurationError(f"{source}: [router] must be a table")
    data = {key: _plain(value) if key in _NESTED else value for key, value in table.items()}
    try:
        return RouterSettings.model_validate(data)
    except ValidationError as exc:
        raise ConfigurationError(
            f"{source}: {describe_errors(exc, 'router', RouterSettings)}"
        ) from None
