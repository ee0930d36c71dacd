"""The plugin contract: the hooks a g4f-lite plugin may implement.

A plugin is a module (or object) exposed through the ``g4f_lite`` entry point
group; it implements hooks with the :data:`hookimpl` marker::

    import g4f_lite

    @g4f_lite.hookimpl
    def register_providers(register):
        register(MyProvider)

    @g4f_lite.hookimpl
    def register_provider_kinds(register):
        register(ProviderKind("mykind", MyOptions, make_provider))

Hooks receive a ``register`` callback instead of returning values, so one
plugin can register several things, and new keyword arguments can be added
to a hook later without breaking plugins that do not take them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from typing import Any

    from .events import RouterEvent
    from .kinds import ProviderKind
    from .provider import BaseProvider

__all__ = [
    "PROJECT_NAME",
    "hookimpl",
    "hookspec",
    "register_provider_kinds",
    "register_providers",
    "router_event",
]

#: The pluggy project name, which is also the entry point group plugins use.
PROJECT_NAME = "g4f_lite"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
#: Marker for hook implementations in plugins.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_providers(register: Callable[[type[BaseProvider]], None]) -> None:
    """Register the plugin's provider classes by calling ``register(cls)`` once per class.

    Called once, the first time providers are needed (never at import).
    ``cls`` must be a concrete subclass of :class:`g4f_lite.BaseProvider`;
    anything else is reported with a warning naming the plugin and skipped.
    A name (case-insensitive) that another plugin already registered is
    skipped with a :class:`~g4f_lite.errors.PluginWarning` naming both
    plugins; the first registration keeps the name (plugins load in entry
    point name order). The return value is ignored.
    """


@hookspec
def register_provider_kinds(register: Callable[[ProviderKind[Any]], None]) -> None:
    """Register the plugin's provider kinds by calling ``register(kind)`` once per kind.

    A kind (:class:`g4f_lite.kinds.ProviderKind`) is a factory: it turns a
    ``[providers.NAME]`` table with ``kind = "<kind.name>"`` (or a call to
    :func:`g4f_lite.config.declare_provider`) into a new provider class.
    Called once, together with :func:`register_providers`, the first time
    providers or kinds are needed. Kind names are case-insensitive; a name
    another plugin already registered is skipped with a
    :class:`~g4f_lite.errors.PluginWarning` naming both plugins (the first
    keeps it), and anything that is not a ``ProviderKind`` is reported with a
    warning and skipped. The return value is ignored.
    """


@hookspec
def router_event(event: RouterEvent) -> None:
    """Observe the router: called for every :class:`~g4f_lite.events.RouterEvent`.

    Called synchronously on the event loop running the call, for each attempt
    start, retry, failover, success, cooldown, skip of a benched provider and
    wait for a cooldown; keep it quick (e.g. count metrics). ``event.error``
    is the exception involved, if any. Exceptions are logged, never raised
    into the call. The return value is ignored.
    """
