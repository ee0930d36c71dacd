"""The configuration file shared by the library, the CLI and the server.

One TOML file::

    [providers.Opchatgpts]          # options for a provider a plugin registered
    base_url = "http://127.0.0.1:8081"
    timeout = 60

    [providers.Groq]                # a preset: models replace its own list
    models = ["llama-3.1-8b-instant", "my-fine-tune"]

    [providers.MySite]              # a new provider, declared as data
    kind = "aiengine"
    url = "https://example.org"
    bot_id = "default"
    nonce = "auto"

    [providers.LocalLlama]
    kind = "openai"
    base_url = "http://127.0.0.1:11434/v1"
    models = ["llama3.1"]

    [router]                        # the default router's settings
    strategy = "least-failures"
    retry = { max_attempts = 2 }

    [aliases]                       # model="fast" tries these, with failover
    fast = ["Groq/llama-3.1-8b-instant", "Cerebras/llama3.1-8b", "llama3.1"]

The file is found in this order: the path given, else ``$G4F_LITE_CONFIG``,
else ``./g4f-lite.toml`` when it exists. :func:`configure` loads it (or a
mapping of the same shape), registers the declared providers, and makes its
per-provider options available through :func:`provider_options` and
:func:`provider_settings`. A table with an unknown kind, an unknown or
missing field, or a bad value is a :class:`~g4f_lite.errors.ConfigurationError`
naming the file, the table and the field, and never the value (a misplaced
value may be a secret). The ``[router]`` table is validated here too
(:mod:`g4f_lite.router_settings`), strictly: this layer never imports the
router, which builds itself from the validated settings.

Secrets stay wrapped: ``api_key`` is a :class:`~pydantic.SecretStr`, and the
user and password in a ``base_url`` or ``proxy`` are masked in every ``repr``
and JSON dump (see :class:`~g4f_lite.kinds.MaskedURL`).
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

from pydantic import ValidationError

from .errors import ConfigurationError, DuplicateProviderError, ProviderNotFoundError
from .kinds import PROVIDER_NAME_PATTERN, ProviderKind, ProviderSettings
from .provider import BaseProvider
from .registry import Registry, registry
from .router_settings import RouterSettings, plain_message, quote_key, validate_router_table

__all__ = [
    "CONFIG_ENV",
    "CONFIG_PLUGIN",
    "DEFAULT_CONFIG_FILE",
    "AliasTarget",
    "Config",
    "ConfigSource",
    "ProviderTable",
    "RouterSettings",
    "configure",
    "current_config",
    "declare_provider",
    "declared_providers",
    "find_config_file",
    "has_tables",
    "is_enabled",
    "load_config",
    "provider_options",
    "provider_settings",
    "reset",
    "router_settings",
    "validate_router_table",
]

#: Environment variable naming the configuration file.
CONFIG_ENV = "G4F_LITE_CONFIG"
#: The file looked for in the working directory when no other is named.
DEFAULT_CONFIG_FILE = "g4f-lite.toml"
#: The ``plugin`` label of providers declared in a configuration.
CONFIG_PLUGIN = "config"

#: A path to a TOML file, or the parsed mapping itself.
ConfigSource: TypeAlias = "str | os.PathLike[str] | Mapping[str, Any]"

# Top-level tables and what they hold. Anything else is most likely a typo
# ([provider.X] for [providers.X]), which would otherwise be silently ignored.
_TABLES = ("providers", "router", "server", "aliases")


@dataclass(frozen=True)
class AliasTarget:
    """One entry of an ``[aliases]`` list: a model, at one provider or at any."""

    #: The provider's registered name; ``None``: any provider serving ``model``.
    provider: str | None
    #: The model id the provider is called with.
    model: str


@dataclass(frozen=True)
class ProviderTable:
    """One validated ``[providers.NAME]`` table.

    ``kind`` is set when the table declares a new provider; ``settings`` is
    the validated table (the kind's options model, or :class:`ProviderSettings`).
    """

    name: str
    kind: str | None
    settings: ProviderSettings


@dataclass(frozen=True)
class Config:
    """A validated configuration.

    Its ``repr`` shows the validated settings, whose secrets are wrapped or
    masked; the tables as written (which may hold a key or a proxy password)
    are left out of it.
    """

    source: str
    providers: Mapping[str, ProviderTable] = field(default_factory=dict)
    #: The ``[router]`` table as written (see :attr:`router_settings` for it validated).
    router: Mapping[str, Any] = field(default_factory=dict, repr=False)
    #: The ``[server]`` table as written, for ``g4f-lite serve`` to validate.
    server: Mapping[str, Any] = field(default_factory=dict, repr=False)
    #: The ``[router]`` table, validated.
    router_settings: RouterSettings = field(default_factory=RouterSettings)
    #: The ``[aliases]`` table, validated: each alias's entries, in order.
    aliases: Mapping[str, tuple[AliasTarget, ...]] = field(default_factory=dict)

    def table(self, provider: str) -> ProviderTable | None:
        """The table for ``provider`` (case-insensitive), if the configuration has one."""
        wanted = provider.lower()
        for name, table in self.providers.items():
            if name.lower() == wanted:
                return table
        return None

    def settings(self, provider: str) -> ProviderSettings:
        """The settings for ``provider``; defaults (enabled, nothing set) if it has no table."""
        table = self.table(provider)
        return table.settings if table is not None else ProviderSettings()


_EMPTY = Config(source="<defaults>")
_lock = threading.RLock()
_current: Config = _EMPTY
_declared: dict[str, type[BaseProvider]] = {}


def find_config_file(path: str | os.PathLike[str] | None = None) -> Path | None:
    """Locate the configuration file: ``path``, else ``$G4F_LITE_CONFIG``, else ``./g4f-lite.toml``.

    A file named explicitly (argument or environment variable) must exist;
    the default file is optional, so ``None`` means "no configuration".
    """
    if path is not None:
        named, origin = Path(path), "the configuration file"
    elif os.environ.get(CONFIG_ENV):
        named, origin = Path(os.environ[CONFIG_ENV]), f"${CONFIG_ENV}"
    else:
        default = Path(DEFAULT_CONFIG_FILE)
        return default if default.is_file() else None
    if not named.is_file():
        raise ConfigurationError(f"{origin} {str(named)!r} does not exist or is not a file")
    return named


def _read_toml(path: Path) -> dict[str, Any]:
    # Imported here: tomllib/tomli are only needed when a file is read, and
    # `import g4f_lite` must stay cheap.
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]
    try:
        with path.open("rb") as file:
            data: dict[str, Any] = tomllib.load(file)
            return data
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path}: invalid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        # The message names the position only: the bytes around it may be a key.
        raise ConfigurationError(f"{path}: invalid TOML: not UTF-8 (at byte {exc.start})") from None
    except RecursionError:
        # tomllib parses nested arrays and inline tables recursively.
        raise ConfigurationError(f"{path}: invalid TOML: values nested too deeply") from None
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _table(name: str) -> str:
    """``[providers.NAME]`` for an error line; an odd name (control characters, long) quoted."""
    if name.isprintable() and 0 < len(name) <= 64:
        return f"[providers.{name}]"
    return f"[providers.{quote_key(name)}]"


def _describe(exc: ValidationError, allowed: list[str]) -> str:
    """Turn pydantic's errors into one line per field, never echoing the values.

    Values are left out on purpose: a mistyped field may hold an API key.
    """
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in error["loc"])
        message = plain_message(error)
        if error["type"] == "missing":
            problems.append(f"missing required field {quote_key(where)}")
        elif error["type"] == "extra_forbidden":
            problems.append(f"unknown field {quote_key(where)} (allowed: {', '.join(allowed)})")
        elif not where:  # a rule about several fields
            problems.append(message)
        else:
            problems.append(f"field {quote_key(where)}: {message}")
    return "; ".join(problems)


def _validate_table(source: str, name: str, raw: object) -> ProviderTable:
    where = f"{source}: {_table(name)}"
    if not isinstance(raw, Mapping):
        raise ConfigurationError(f"{where} must be a table, got {type(raw).__name__}")
    data = dict(raw)
    bad_keys = [key for key in data if not isinstance(key, str)]
    if bad_keys:
        raise ConfigurationError(f"{where} keys must be strings")
    kind_name = data.pop("kind", None)
    model: type[ProviderSettings] = ProviderSettings
    if kind_name is not None:
        if not isinstance(kind_name, str):
            raise ConfigurationError(f"{where} field 'kind' must be a string")
        if not re.fullmatch(PROVIDER_NAME_PATTERN, name):
            raise ConfigurationError(
                f"{where}: a declared provider's name must start with a letter and hold only "
                "letters, digits, '_', '.' or '-' (at most 64 characters)"
            )
        try:
            model = registry.get_kind(kind_name).options
        except ConfigurationError as exc:
            raise ConfigurationError(f"{where} field 'kind': {exc}") from None
    try:
        settings = model.model_validate(data)
    except ValidationError as exc:
        allowed = sorted(["kind", *model.model_fields]) if kind_name else sorted(model.model_fields)
        raise ConfigurationError(f"{where} {_describe(exc, allowed)}") from None
    return ProviderTable(name, kind_name, settings)


def load_config(source: ConfigSource | None = None) -> Config:
    """Read and validate a configuration without registering anything.

    ``source`` is a path, a mapping shaped like the TOML file, or ``None``
    to look the file up (:func:`find_config_file`); no file means defaults.
    Kinds are looked up in the registry, so plugins are loaded.
    """
    if source is None or isinstance(source, (str, os.PathLike)):
        path = find_config_file(source)
        if path is None:
            return _EMPTY
        data: Mapping[str, Any] = _read_toml(path)
        origin = str(path)
    elif isinstance(source, Mapping):
        data, origin = source, "<configuration>"
    else:
        raise ConfigurationError(
            f"configure() takes a path or a mapping, got {type(source).__name__}"
        )
    unknown = sorted(str(name) for name in set(data) - set(_TABLES))
    if unknown:
        raise ConfigurationError(
            f"{origin}: unknown top-level table(s) {', '.join(quote_key(u) for u in unknown)} "
            f"(known: {', '.join(_TABLES)})"
        )
    tables: dict[str, Any] = {}
    for table in _TABLES:
        value = data.get(table, {})
        if not isinstance(value, Mapping):
            raise ConfigurationError(f"{origin}: [{table}] must be a table")
        tables[table] = dict(value)
    providers: dict[str, ProviderTable] = {}
    seen: dict[str, str] = {}
    for name, raw in tables["providers"].items():
        if not isinstance(name, str):
            raise ConfigurationError(f"{origin}: [providers] table names must be strings")
        other = seen.setdefault(name.lower(), name)
        if other != name:
            raise ConfigurationError(
                f"{origin}: {_table(name)} and {_table(other)} name the same provider "
                "(names are case-insensitive)"
            )
        providers[name] = _validate_table(origin, name, raw)
    router = validate_router_table(tables["router"], source=origin)
    aliases = _validate_aliases(origin, tables["aliases"], providers)
    return Config(origin, providers, tables["router"], tables["server"], router, aliases)


def _validate_aliases(
    source: str, table: Mapping[Any, Any], providers: Mapping[str, ProviderTable]
) -> dict[str, tuple[AliasTarget, ...]]:
    """The ``[aliases]`` table, each entry checked; values are never echoed in errors.

    An entry is ``"Provider/model"`` (the provider must be registered or
    declared in this file), a bare ``"model"`` without ``/``, or a table
    ``{ provider = "...", model = "..." }`` (``provider`` optional), which
    is how a model id containing ``/`` is given for any provider.
    """
    result: dict[str, tuple[AliasTarget, ...]] = {}
    if not table:  # no plugin discovery for a configuration without aliases
        return result
    known = {name.lower(): name for name in providers}
    known.update((entry.provider.name.lower(), entry.provider.name) for entry in registry.entries())
    for alias, raw in table.items():
        if not isinstance(alias, str) or not alias.strip() or "/" in alias:
            raise ConfigurationError(
                f"{source}: [aliases] names must be non-empty and hold no '/', got "
                f"{quote_key(alias)}"
            )
        where = f"{source}: [aliases] {quote_key(alias)}"
        entries = [raw] if isinstance(raw, (str, Mapping)) else raw
        if not isinstance(entries, list) or not entries:
            raise ConfigurationError(
                f'{where} must be a non-empty list of "Provider/model" or "model" entries'
            )
        targets: list[AliasTarget] = []
        for number, entry in enumerate(entries, 1):
            target = _alias_target(f"{where} entry {number}", entry, known)
            if target.provider is not None and any(t.provider == target.provider for t in targets):
                raise ConfigurationError(
                    f"{where} entry {number} names provider {target.provider!r} a second "
                    "time (one model per provider in an alias)"
                )
            targets.append(target)
        result[alias] = tuple(targets)
    return result


def _alias_target(where: str, entry: object, known: Mapping[str, str]) -> AliasTarget:
    provider: object
    model: object
    if isinstance(entry, str):
        provider, slash, model = entry.partition("/")
        if not slash:
            provider, model = None, entry
    elif isinstance(entry, Mapping):
        extra = sorted(str(key) for key in entry if key not in ("provider", "model"))
        if extra:
            raise ConfigurationError(
                f"{where}: unknown field(s) {', '.join(quote_key(e) for e in extra)} "
                "(allowed: model, provider)"
            )
        provider, model = entry.get("provider"), entry.get("model")
    else:
        raise ConfigurationError(f"{where} must be a string or a table, got {type(entry).__name__}")
    if not isinstance(model, str) or not model.strip():
        raise ConfigurationError(f"{where}: the model must be a non-empty string")
    if provider is None:
        return AliasTarget(None, model)
    if not isinstance(provider, str) or provider.lower() not in known:
        hint = (
            " (for a model id that contains '/', write { model = \"...\" })"
            if isinstance(entry, str)
            else ""
        )
        raise ConfigurationError(
            f"{where} names a provider that is not registered nor declared in [providers]"
            f"{hint}; see `g4f-lite providers`"
        )
    return AliasTarget(known[provider.lower()], model)


# Set on a configured copy of a registered provider: the class it copies.
_COPY_OF = "_g4f_lite_configured_from"


def _original(provider: type[BaseProvider]) -> type[BaseProvider]:
    """The registered class ``provider`` is a configured copy of (itself if it is none)."""
    original: type[BaseProvider] = provider.__dict__.get(_COPY_OF, provider)
    return original


def _is_copy(provider: type[BaseProvider]) -> bool:
    return _COPY_OF in provider.__dict__


def _configured(
    provider: type[BaseProvider], settings: ProviderSettings
) -> type[BaseProvider] | None:
    """A copy of ``provider`` with the class attributes ``settings`` replaces, if any.

    The copy is a subclass of the same name that a registry puts in the
    original's place (:meth:`~g4f_lite.registry.Registry.replace`): listed,
    filtered and routed with the configured ``models`` and ``api_key_env``.
    """
    overrides = settings.class_overrides(provider)
    if not overrides:
        return None
    attributes = {
        "__doc__": provider.__doc__,
        "__module__": provider.__module__,
        "__qualname__": provider.__qualname__,
        "name": provider.name,
        _COPY_OF: provider,
        **overrides,
    }
    return type(provider.__name__, (provider,), attributes)


def _build(
    config: Config, against: Registry = registry, replaced: Mapping[str, type[BaseProvider]] = {}
) -> dict[str, type[BaseProvider]]:
    """Create the classes of the providers ``config`` declares or reconfigures, checking names.

    Names are checked against ``against``; those in ``replaced`` may be taken
    again. A table without ``kind`` that changes a registered provider's
    class attributes (``models``, ``api_key_env``) gets a configured copy of
    it (see :func:`_configured`).
    """
    built: dict[str, type[BaseProvider]] = {}
    for name, table in config.providers.items():
        where = f"{config.source}: {_table(name)}"
        existing: type[BaseProvider] | None
        try:
            existing = against.get(name)
        except ProviderNotFoundError:
            existing = None
        if existing is not None and replaced.get(name.lower()) is existing:
            # Declared or copied by the configuration being replaced: a copy
            # is configured afresh from the registered original.
            existing = _original(existing) if _is_copy(existing) else None
        if table.kind is None:
            if existing is None:
                raise ConfigurationError(
                    f"{where}: no provider named {name!r} is registered; to declare a new "
                    'provider, add kind = "aiengine" or kind = "openai" (see '
                    "`g4f-lite providers` for the registered ones)"
                )
            copy = _configured(existing, table.settings)
            if copy is not None:
                built[name.lower()] = copy
            continue
        if existing is not None:
            raise ConfigurationError(
                f"{where}: a provider called {existing.name!r} is already registered by "
                f"{against.plugin_of(existing)!r}; remove 'kind' to configure it, or choose "
                "another name"
            )
        kind: ProviderKind[Any] = registry.get_kind(table.kind)
        try:
            provider = kind.create(name, table.settings)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{where}: {exc}") from None
        # A kind whose options leave `models` to the common settings.
        extra = table.settings.class_overrides(provider)
        if extra:
            provider = type(provider.__name__, (provider,), {"name": name, **extra})
        built[name.lower()] = provider
    return built


def declared_providers(config: Config, against: Registry = registry) -> list[type[BaseProvider]]:
    """Build the providers ``config`` declares (tables with ``kind``) without registering them.

    Names are checked as :func:`configure` checks them, against ``against``,
    except that a provider another configuration declared (origin
    ``config``) may be declared again: a ``Client`` keeps its own in a
    :class:`~g4f_lite.registry.RegistryView` that hides that one. A table
    that changes a registered provider's ``models`` or ``api_key_env`` adds
    a configured copy of it (a subclass of the same name), which the view
    puts in the original's place.
    """
    replaced = {
        entry.provider.name.lower(): entry.provider
        for entry in against.entries()
        if entry.plugin == CONFIG_PLUGIN
    }
    return list(_build(config, against, replaced).values())


def configure(source: ConfigSource | None = None) -> Config:
    """Load a configuration, register the providers it declares, and make it current.

    ``source`` is a path, a mapping shaped like the TOML file, or ``None`` to
    look the file up. Providers declared by the previous configuration are
    unregistered first, so calling this again replaces, never accumulates.
    Nothing changes if the new configuration is invalid.
    """
    global _current
    with _lock:
        config = load_config(source)
        built = _build(config, registry, _declared)
        _forget_declared()
        try:
            for provider in built.values():
                if _is_copy(provider):
                    registry.replace(provider, plugin=CONFIG_PLUGIN)
                else:
                    registry.register(provider, plugin=CONFIG_PLUGIN)
                _declared[provider.name.lower()] = provider
        except DuplicateProviderError as exc:  # pragma: no cover - _build checked names
            _forget_declared()
            raise ConfigurationError(f"{config.source}: {exc}") from None
        _current = config
        return config


def declare_provider(name: str, kind: str, **options: Any) -> type[BaseProvider]:
    """Declare one provider from data, as a ``[providers.NAME]`` table would.

    >>> declare_provider("MySite", "aiengine", url="https://example.org", nonce="auto")

    The provider is registered (origin ``config``) and returned. It is not
    part of the current configuration, so :func:`configure` leaves it alone.
    """
    table = _validate_table("declare_provider()", name, {"kind": kind, **options})
    provider = registry.get_kind(kind).create(name, table.settings)
    try:
        registry.register(provider, plugin=CONFIG_PLUGIN)
    except DuplicateProviderError as exc:
        raise ConfigurationError(f"declare_provider(): {exc}") from None
    return provider


def _forget_declared() -> None:
    for provider in _declared.values():
        registry.unregister(provider)
    _declared.clear()


def current_config() -> Config:
    """The configuration last passed to :func:`configure` (defaults before that)."""
    return _current


def provider_settings(name: str) -> ProviderSettings:
    """The current configuration's settings for provider ``name`` (case-insensitive).

    Includes ``enabled``; a provider without a table gets the defaults.
    """
    return _current.settings(name)


def provider_options(name: str) -> dict[str, Any]:
    """The keyword arguments to pass to provider ``name`` on every call.

    Any of ``base_url``, ``api_key`` (a :class:`~pydantic.SecretStr`),
    ``proxy`` and ``timeout`` that its table sets; ``{}`` without a table.
    """
    return _current.settings(name).call_options()


def is_enabled(name: str) -> bool:
    """Whether provider ``name`` may be used: not ``enabled = false`` in its table.

    Asked on every routed call, so a configuration without tables answers
    without building any settings.
    """
    return not _current.providers or _current.settings(name).enabled


def has_tables() -> bool:
    """Whether the current configuration has any ``[providers.NAME]`` table (a cheap check)."""
    return bool(_current.providers)


def router_settings() -> dict[str, Any]:
    """The ``[router]`` table of the current configuration, as written."""
    return dict(_current.router)


def reset() -> None:
    """Unregister declared providers and return to the default configuration."""
    global _current
    with _lock:
        _forget_declared()
        _current = _EMPTY
