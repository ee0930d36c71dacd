"""The provider registry: plugin discovery, runtime registration and queries.

Plugins are found through the ``g4f_lite`` entry point group the first time a
provider (or a provider kind) is needed, never at import. First-party providers (the distributions
under ``providers/``) go through exactly the same path as third-party ones.

``G4F_LITE_PLUGINS`` (a comma-separated list of entry point or distribution
names; empty means none) restricts which plugins load.

Name clashes: a plugin registering a provider (or kind) name another plugin
already registered (names are case-insensitive) is skipped with a
:class:`~g4f_lite.errors.PluginWarning` naming both plugins; the first keeps
the name and the registry keeps working. An explicit :meth:`Registry.register`
(or :meth:`Registry.register_kind`) of a taken name after discovery still
raises :class:`~g4f_lite.errors.DuplicateProviderError`
(:class:`~g4f_lite.errors.DuplicateKindError`) at once: the caller is there to
handle it. A runtime registration made before discovery, whose name a plugin
then turns out to use, is skipped with a warning like a plugin's.
"""

from __future__ import annotations

import difflib
import inspect
import os
import threading
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata
from typing import Any, TypeVar

import pluggy

from . import hookspecs
from .errors import (
    ConfigurationError,
    DuplicateKindError,
    DuplicateProviderError,
    PluginWarning,
    ProviderNotFoundError,
)
from .kinds import ProviderKind
from .provider import BaseProvider
from .redact import mask_url
from .types import ProviderInfo

__all__ = [
    "ENV_PLUGINS",
    "RUNTIME_PLUGIN",
    "Entry",
    "KindEntry",
    "Registry",
    "RegistryView",
    "check_flag_filter",
    "get_provider",
    "register",
    "registry",
]

ENV_PLUGINS = "G4F_LITE_PLUGINS"
#: The ``plugin`` label of providers registered with :func:`register`.
RUNTIME_PLUGIN = "runtime"

P = TypeVar("P", bound=type[BaseProvider])
# config.CONFIG_PLUGIN (config imports this module, not the other way round).
_CONFIG_PLUGIN = "config"


@dataclass(frozen=True)
class Entry:
    """A registered provider class and the plugin that registered it."""

    provider: type[BaseProvider]
    plugin: str

    def info(self) -> ProviderInfo:
        """The provider's :class:`ProviderInfo`, with credentials in its ``url`` masked."""
        info = self.provider.get_info(self.plugin)
        # A declared provider's url is its configured base_url, which may carry
        # "user:password@": every listing (CLI table, --json, /v1/providers) shows this.
        masked = mask_url(info.url)
        return info if masked == info.url else info.model_copy(update={"url": masked})


@dataclass(frozen=True)
class KindEntry:
    """A registered provider kind and the plugin that registered it."""

    kind: ProviderKind[Any]
    plugin: str


def _warn_taken(what: str, name: str, plugin: str, other_plugin: str) -> None:
    warnings.warn(
        f"g4f-lite plugin {plugin!r} registered a {what} called {name!r}, a name plugin "
        f"{other_plugin!r} already registered; {plugin!r}'s was skipped (uninstall one of "
        f"them or restrict loading with {ENV_PLUGINS})",
        PluginWarning,
        stacklevel=4,  # the plugin's hook, when a plugin registered it
    )


def _normalise(name: str) -> str:
    return name.strip().lower().replace("_", "-")


class _PluginManager(pluggy.PluginManager):
    """Counts registrations, so that what depends on the set of plugins can be cached."""

    version = 0

    def register(self, plugin: object, name: str | None = None) -> str | None:
        """Register ``plugin`` (see :meth:`pluggy.PluginManager.register`)."""
        self.version += 1
        return super().register(plugin, name)

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any | None:
        """Unregister ``plugin`` (see :meth:`pluggy.PluginManager.unregister`)."""
        self.version += 1
        return super().unregister(plugin, name)


def _run_hook(
    label: str,
    impl: pluggy.HookImpl,
    register_one: Callable[[Any], None],
    what: str,
) -> None:
    """Call one plugin's ``register_*`` hook; a failure warns and the other plugins still load."""
    try:
        # pluggy lets an implementation take a subset of the spec's arguments.
        impl.function(**{arg: register_one for arg in impl.argnames})
    except Exception as exc:
        warnings.warn(
            f"g4f-lite plugin {label!r} failed in {impl.function.__name__} and its {what} "
            f"may be missing: {type(exc).__name__}: {exc}",
            PluginWarning,
            stacklevel=5,
        )


class Registry:
    """Providers and provider kinds by case-insensitive name, loaded lazily from plugins."""

    def __init__(self, group: str = hookspecs.PROJECT_NAME) -> None:
        self.group = group
        self._lock = threading.RLock()
        self._runtime: dict[str, Entry] = {}
        self._runtime_kinds: dict[str, KindEntry] = {}
        self._entries: dict[str, Entry] | None = None
        self._kinds: dict[str, KindEntry] = {}
        self._pm: pluggy.PluginManager | None = None
        self._hooked: dict[tuple[str, int], bool] = {}
        # Providers put aside by replace(), restored by unregister().
        self._replaced: dict[str, Entry] = {}
        #: Counts changes to the set of providers, for views that cache a merge.
        self.version = 0

    # -- loading -----------------------------------------------------------

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        """The pluggy manager, with every allowed plugin loaded."""
        self._load()
        assert self._pm is not None
        return self._pm

    def _load(self) -> dict[str, Entry]:
        if self._entries is not None:
            return self._entries
        with self._lock:
            if self._entries is not None:
                return self._entries
            pm = _PluginManager(self.group)
            pm.add_hookspecs(hookspecs)
            distributions = self._load_entry_points(pm)
            entries: dict[str, Entry] = {}
            for impl in pm.hook.register_providers.get_hookimpls():
                label = distributions.get(impl.plugin_name, impl.plugin_name)
                self._call_plugin(label, impl, entries)
            kinds: dict[str, KindEntry] = {}
            for impl in pm.hook.register_provider_kinds.get_hookimpls():
                label = distributions.get(impl.plugin_name, impl.plugin_name)
                self._call_kind_plugin(label, impl, kinds)
            # Registered at runtime before discovery: a name a plugin took
            # meanwhile is skipped with a warning, not an error on every call.
            for entry in list(self._runtime.values()):
                if not self._add_or_warn(entries, entry):
                    del self._runtime[entry.provider.name.lower()]
            for kind_entry in list(self._runtime_kinds.values()):
                if not self._add_kind_or_warn(kinds, kind_entry):
                    del self._runtime_kinds[_normalise(kind_entry.kind.name)]
            self._pm, self._kinds, self._entries = pm, kinds, entries
            self.version += 1
            return entries

    def _load_entry_points(self, pm: pluggy.PluginManager) -> dict[str, str]:
        """Import and register each allowed plugin; return plugin name -> distribution."""
        allowed = os.environ.get(ENV_PLUGINS)
        wanted = None if allowed is None else {_normalise(n) for n in allowed.split(",") if n}
        found: set[str] = set()
        distributions: dict[str, str] = {}
        # One entry point at a time (not one load_setuptools_entrypoints call)
        # so that a plugin failing to import cannot stop the others loading.
        for ep in sorted(metadata.entry_points(group=self.group), key=lambda e: e.name):
            dist = ep.dist.name if ep.dist is not None else ep.name
            names = {_normalise(ep.name), _normalise(dist)}
            if wanted is not None and not names & wanted:
                continue
            found |= names
            if pm.has_plugin(ep.name):
                continue
            try:
                pm.register(ep.load(), name=ep.name)
            except Exception as exc:
                warnings.warn(
                    f"g4f-lite plugin {ep.name!r} (from {dist}) failed to load and was "
                    f"skipped: {type(exc).__name__}: {exc}",
                    PluginWarning,
                    stacklevel=4,
                )
                continue
            distributions[ep.name] = dist
        for name in sorted((wanted or set()) - found):
            warnings.warn(
                f"{ENV_PLUGINS} names {name!r}, which is not installed", PluginWarning, stacklevel=4
            )
        return distributions

    def _call_plugin(self, label: str, impl: pluggy.HookImpl, entries: dict[str, Entry]) -> None:
        def register_one(cls: type[BaseProvider]) -> None:
            if not (
                isinstance(cls, type)
                and issubclass(cls, BaseProvider)
                and not inspect.isabstract(cls)
            ):
                warnings.warn(
                    f"g4f-lite plugin {label!r} registered {cls!r}, which is not a concrete "
                    "BaseProvider subclass; skipped",
                    PluginWarning,
                    stacklevel=2,
                )
                return
            self._add_or_warn(entries, Entry(cls, label))

        _run_hook(label, impl, register_one, "providers")

    def _call_kind_plugin(
        self, label: str, impl: pluggy.HookImpl, kinds: dict[str, KindEntry]
    ) -> None:
        def register_one(kind: ProviderKind[Any]) -> None:
            if not isinstance(kind, ProviderKind):
                warnings.warn(
                    f"g4f-lite plugin {label!r} registered {kind!r} as a provider kind, "
                    "which is not a g4f_lite.kinds.ProviderKind; skipped",
                    PluginWarning,
                    stacklevel=2,
                )
                return
            self._add_kind_or_warn(kinds, KindEntry(kind, label))

        _run_hook(label, impl, register_one, "kinds")

    @classmethod
    def _add_or_warn(cls, entries: dict[str, Entry], entry: Entry) -> bool:
        """Add a plugin's provider; a name already taken is skipped with a warning.

        The first registration keeps the name (plugins load in entry point
        name order), so one badly named plugin can neither replace another's
        provider nor break the registry for everyone.
        """
        try:
            cls._add(entries, entry)
        except DuplicateProviderError as exc:
            _warn_taken("provider", entry.provider.name, entry.plugin, exc.other_plugin)
            return False
        return True

    @classmethod
    def _add_kind_or_warn(cls, kinds: dict[str, KindEntry], entry: KindEntry) -> bool:
        """Add a plugin's provider kind; a name already taken is skipped with a warning."""
        try:
            cls._add_kind(kinds, entry)
        except DuplicateKindError as exc:
            _warn_taken("provider kind", entry.kind.name, entry.plugin, exc.other_plugin)
            return False
        return True

    @staticmethod
    def _add_kind(kinds: dict[str, KindEntry], entry: KindEntry) -> None:
        key = _normalise(entry.kind.name)
        existing = kinds.get(key)
        if existing is not None and existing.kind is not entry.kind:
            raise DuplicateKindError(entry.kind.name, entry.plugin, existing.plugin)
        kinds[key] = entry

    @staticmethod
    def _add(entries: dict[str, Entry], entry: Entry) -> None:
        key = entry.provider.name.lower()
        existing = entries.get(key)
        if existing is not None and existing.provider is not entry.provider:
            raise DuplicateProviderError(entry.provider.name, entry.plugin, existing.plugin)
        entries[key] = entry

    # -- registration ------------------------------------------------------

    def register(self, provider: P, *, plugin: str = RUNTIME_PLUGIN) -> P:
        """Register a provider class at runtime; usable as a class decorator.

        ``plugin`` is the label shown as the provider's origin (``runtime``
        unless given; providers declared in a configuration file use ``config``).
        """
        entry = Entry(provider, plugin)
        with self._lock:
            if not (isinstance(provider, type) and issubclass(provider, BaseProvider)):
                raise TypeError(f"register() takes a BaseProvider subclass, got {provider!r}")
            if inspect.isabstract(provider):
                raise TypeError(f"{provider.__name__} does not implement create_async_generator")
            self._add(dict(self._runtime), entry)  # validate before mutating
            if self._entries is not None:
                self._add(self._entries, entry)
            self._runtime[provider.name.lower()] = entry
            self.version += 1
        return provider

    def replace(self, provider: P, *, plugin: str = RUNTIME_PLUGIN) -> P:
        """Put ``provider`` in the place of the registered provider it subclasses, by name.

        :meth:`unregister` puts the original back. A configuration that
        changes a registered provider's class attributes (its ``models``)
        registers its copy of the class this way.
        """
        key = provider.name.lower()
        with self._lock:
            entries = self._load()
            existing = entries.get(key)
            if existing is None or not issubclass(provider, existing.provider):
                raise TypeError(
                    f"replace() takes a subclass of a registered provider of the same name, "
                    f"got {provider!r}"
                )
            self._replaced.setdefault(key, existing)
            entries[key] = Entry(provider, plugin)
            self.version += 1
        return provider

    def unregister(self, provider: type[BaseProvider] | str) -> None:
        """Remove a provider registered at runtime (by class or name), or undo :meth:`replace`."""
        key = (provider if isinstance(provider, str) else provider.name).lower()
        with self._lock:
            original = self._replaced.pop(key, None)
            if original is not None:
                if self._entries is not None:
                    self._entries[key] = original
            elif self._runtime.pop(key, None) is not None and self._entries is not None:
                self._entries.pop(key, None)
            self.version += 1

    def register_kind(self, kind: ProviderKind[Any]) -> ProviderKind[Any]:
        """Register a provider kind at runtime (plugins use the hook instead)."""
        if not isinstance(kind, ProviderKind):
            raise TypeError(f"register_kind() takes a ProviderKind, got {kind!r}")
        entry = KindEntry(kind, RUNTIME_PLUGIN)
        with self._lock:
            self._load()
            self._add_kind(dict(self._kinds), entry)  # validate before mutating
            self._add_kind(self._kinds, entry)
            self._runtime_kinds[_normalise(kind.name)] = entry
        return kind

    def unregister_kind(self, name: str) -> None:
        """Remove a provider kind registered at runtime."""
        key = _normalise(name)
        with self._lock:
            if self._runtime_kinds.pop(key, None) is not None:
                self._kinds.pop(key, None)

    def reset(self) -> None:
        """Forget everything, so that plugins are discovered again on next use."""
        with self._lock:
            self._runtime.clear()
            self._replaced.clear()
            self._runtime_kinds.clear()
            self._kinds = {}
            self._entries = None
            self._pm = None
            self._hooked.clear()
            self.version += 1

    def with_providers(
        self, providers: Iterable[type[BaseProvider]] = (), *, plugin: str = RUNTIME_PLUGIN
    ) -> RegistryView:
        """A view of this registry plus ``providers``, which are registered nowhere else.

        The view follows this registry (plugins, later registrations); its
        own providers are seen only through it. A :class:`~g4f_lite.client.Client`
        keeps the providers its configuration declares this way.
        """
        return RegistryView(self, providers, plugin=plugin)

    # -- queries -----------------------------------------------------------

    def has_hookimpls(self, hook: str) -> bool:
        """Whether any plugin implements ``hook`` (asked on every routed call, so cached)."""
        pm = self.plugin_manager
        assert isinstance(pm, _PluginManager)
        key = (hook, pm.version)
        cached = self._hooked.get(key)
        if cached is None:
            self._hooked.clear()
            cached = self._hooked[key] = bool(getattr(pm.hook, hook).get_hookimpls())
        return cached

    def entries(self) -> list[Entry]:
        """Every registered provider, in registration order."""
        return list(self._load().values())

    def get(self, name: str) -> type[BaseProvider]:
        """The provider class called ``name`` (case-insensitive)."""
        entries = self._load()
        entry = entries.get(name.lower())
        if entry is None:
            names = {e.provider.name.lower(): e.provider.name for e in entries.values()}
            close = difflib.get_close_matches(name.lower(), list(names), n=3, cutoff=0.6)
            raise ProviderNotFoundError(name, [names[c] for c in close])
        return entry.provider

    def kinds(self) -> list[KindEntry]:
        """Every registered provider kind, in registration order."""
        self._load()
        return list(self._kinds.values())

    def get_kind(self, name: str) -> ProviderKind[Any]:
        """The provider kind called ``name`` (case-insensitive).

        Raises :class:`~g4f_lite.errors.ConfigurationError` listing the known kinds.
        """
        self._load()
        entry = self._kinds.get(_normalise(name))
        if entry is None:
            known = ", ".join(sorted(e.kind.name for e in self._kinds.values())) or "none"
            # The name given is left out: it comes from a file and may be a misplaced secret.
            raise ConfigurationError(
                f"unknown provider kind (known kinds: {known}; kinds come from "
                "plugins such as g4f-lite-aiengine and g4f-lite-openai)"
            )
        return entry.kind

    def plugin_of(self, provider: type[BaseProvider]) -> str:
        """The label of the plugin that registered ``provider``, or ``runtime``."""
        entry = self._load().get(provider.name.lower())
        return entry.plugin if entry is not None and entry.provider is provider else RUNTIME_PLUGIN

    def find(
        self,
        *,
        working: bool | None = None,
        needs_auth: bool | None = None,
        supports_stream: bool | None = None,
        supports_message_history: bool | None = None,
        supports_system_message: bool | None = None,
        supports_gpt_35_turbo: bool | None = None,
        supports_gpt_4: bool | None = None,
        supports_tools: bool | None = None,
        supports_vision: bool | None = None,
        supports_json_mode: bool | None = None,
        model: str | None = None,
        plugin: str | None = None,
    ) -> list[Entry]:
        """The entries matching every filter given (``None`` means "don't care")."""
        flags = {
            "working": working,
            "needs_auth": needs_auth,
            "supports_stream": supports_stream,
            "supports_message_history": supports_message_history,
            "supports_system_message": supports_system_message,
            "supports_gpt_35_turbo": supports_gpt_35_turbo,
            "supports_gpt_4": supports_gpt_4,
            "supports_tools": supports_tools,
            "supports_vision": supports_vision,
            "supports_json_mode": supports_json_mode,
        }
        for flag, value in flags.items():
            check_flag_filter(flag, value)
        for name, text in (("model", model), ("plugin", plugin)):
            if text is not None and not isinstance(text, str):
                raise TypeError(f"{name} must be a string or None, got {text!r}")
        wanted = {flag: value for flag, value in flags.items() if value is not None}
        return [
            entry
            for entry in self._load().values()
            if all(getattr(entry.provider, flag) == value for flag, value in wanted.items())
            and (model is None or entry.provider.supports_model(model))
            and (plugin is None or _normalise(entry.plugin) == _normalise(plugin))
        ]


def check_flag_filter(name: str, value: object) -> None:
    """Refuse a flag filter that is not ``True``, ``False`` or ``None``.

    ``working="yes"`` or ``working=1`` would otherwise compare unequal to
    every flag and silently match nothing.
    """
    if value is not None and not isinstance(value, bool):
        raise TypeError(f"{name} must be True, False or None, got {value!r}")


class RegistryView(Registry):
    """A registry's providers plus some of its own, kept out of the base registry.

    Reads (:meth:`entries`, :meth:`get`, :meth:`find`, kinds, hooks) see the
    base registry's providers followed by the view's; a view's provider
    hides a base provider declared by a configuration (origin ``config``) of
    the same name, and any other clash is a
    :class:`~g4f_lite.errors.DuplicateProviderError`, unless the view's provider
    subclasses the base's (a configured copy of it). :meth:`register` and
    :meth:`unregister` change the view only. Made by :meth:`Registry.with_providers`.
    """

    def __init__(
        self,
        base: Registry,
        providers: Iterable[type[BaseProvider]] = (),
        *,
        plugin: str = RUNTIME_PLUGIN,
    ) -> None:
        super().__init__(base.group)
        self.base = base
        self._own: dict[str, Entry] = {}
        self._merged: dict[str, Entry] | None = None
        self._merged_at = -1
        for provider in providers:
            self.register(provider, plugin=plugin)

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        """The base registry's pluggy manager."""
        return self.base.plugin_manager

    def has_hookimpls(self, hook: str) -> bool:
        """Whether any plugin of the base registry implements ``hook``."""
        return self.base.has_hookimpls(hook)

    def _load(self) -> dict[str, Entry]:
        base = self.base._load()
        merged = self._merged
        # Asked on every routed call: rebuilt only when the base has changed.
        if merged is not None and self._merged_at == self.base.version:
            return merged
        with self._lock:
            merged = dict(base)
            for key, entry in self._own.items():
                self._check(merged, entry)
                merged[key] = entry
            self._merged, self._merged_at = merged, self.base.version
            return merged

    @staticmethod
    def _check(entries: dict[str, Entry], entry: Entry) -> None:
        existing = entries.get(entry.provider.name.lower())
        if (
            existing is not None
            and existing.provider is not entry.provider
            and existing.plugin != _CONFIG_PLUGIN
            # a configured copy of the base's provider (see Registry.replace)
            and not issubclass(entry.provider, existing.provider)
        ):
            raise DuplicateProviderError(entry.provider.name, entry.plugin, existing.plugin)

    def register(self, provider: P, *, plugin: str = RUNTIME_PLUGIN) -> P:
        """Register a provider in this view only."""
        if not (isinstance(provider, type) and issubclass(provider, BaseProvider)):
            raise TypeError(f"register() takes a BaseProvider subclass, got {provider!r}")
        if inspect.isabstract(provider):
            raise TypeError(f"{provider.__name__} does not implement create_async_generator")
        entry = Entry(provider, plugin)
        with self._lock:
            self._check(self.base._load(), entry)
            self._add(dict(self._own), entry)
            self._own[provider.name.lower()] = entry
            self._merged = None
            self.version += 1
        return provider

    def replace(self, provider: P, *, plugin: str = RUNTIME_PLUGIN) -> P:
        """Put ``provider`` in the place of the base's provider it subclasses, in this view only."""
        return self.register(provider, plugin=plugin)

    def unregister(self, provider: type[BaseProvider] | str) -> None:
        """Remove a provider this view registered (by class or name)."""
        key = (provider if isinstance(provider, str) else provider.name).lower()
        with self._lock:
            self._own.pop(key, None)
            self._merged = None
            self.version += 1

    def kinds(self) -> list[KindEntry]:
        """The base registry's provider kinds."""
        return self.base.kinds()

    def get_kind(self, name: str) -> ProviderKind[Any]:
        """The base registry's provider kind called ``name``."""
        return self.base.get_kind(name)

    def register_kind(self, kind: ProviderKind[Any]) -> ProviderKind[Any]:
        """Register a provider kind in the base registry (kinds are not per view)."""
        return self.base.register_kind(kind)

    def unregister_kind(self, name: str) -> None:
        """Remove a provider kind from the base registry."""
        self.base.unregister_kind(name)

    def reset(self) -> None:
        """Forget the view's own providers (the base registry is left alone)."""
        with self._lock:
            self._own.clear()
            self._merged = None
            self.version += 1


registry = Registry()


def register(provider: P) -> P:
    """Register a provider class at runtime; usable as a class decorator.

    >>> @g4f_lite.register
    ... class MyProvider(g4f_lite.AsyncGeneratorProvider): ...
    """
    return registry.register(provider)


def get_provider(name: str) -> type[BaseProvider]:
    """Return the provider class called ``name`` (case-insensitive).

    Raises :class:`~g4f_lite.errors.ProviderNotFoundError`, listing close names.
    """
    return registry.get(name)
