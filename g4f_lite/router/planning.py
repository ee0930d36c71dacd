"""Planning: the :class:`Router`, its settings, and the choice of candidates for a request.

:meth:`Router.plan` validates a request and picks the providers that may serve
it, without sending anything; the :class:`~g4f_lite.router.call.RoutedCall` it
returns runs the call. Also here: the keyword arguments each provider is
called with (:meth:`Router.kwargs_for`), the events, and the process-wide
:func:`default_router`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from .. import config as settings_module
from .. import errors
from .._log import get_logger
from ..availability import Availability
from ..clock import Clock, MonotonicClock
from ..events import Listener, RouterEvent
from ..health import (
    ENV_HEALTH_STORE,
    HealthStore,
    RateLimit,
    WindowLimiter,
    default_health_store,
    health_key,
    open_health_store,
    target_health,
)
from ..policies import RetryPolicy, Timeouts, check_non_negative, check_positive
from ..provider import BaseProvider
from ..registry import Registry, check_flag_filter
from ..registry import registry as default_registry
from ..selection import (
    Feature,
    ProvidersArg,
    call_options,
    check_features,
    exclusions,
    lists_models_live,
    no_provider_error,
    request_needs,
    resolve,
)
from ..strategies import StrategyArg, get_strategy
from ..types import Messages, ProviderHealth, ProviderInfo, validate_messages
from .call import RoutedCall, Unprobed

__all__ = ["Router", "default_router", "set_default_router"]

# The package's one logger: its name is the documented one.
logger = get_logger("g4f_lite.router")


class Router:
    """Routes chat requests over providers, with retries, failover and circuit breaking.

    Everything is optional; ``Router()`` picks among every working provider,
    in registry order. See ``docs/router.md``.

    * ``providers``: the candidates (names or classes), used as given, even
      when marked not working; ``None``: choose from the registry per request.
    * ``strategy``: the order to try them (a name or a
      :class:`~g4f_lite.strategies.Strategy`).
    * ``retry``: attempts per provider and the backoff between them.
    * ``timeouts``: connect, first-chunk, idle and total limits.
    * ``max_providers``: at most this many providers tried per call.
    * ``health``: where health lives; defaults to the process-wide store that
      :func:`g4f_lite.providers` reports (its breaker sets the cooldowns).
    * ``wait_for_cooldown`` / ``max_cooldown_wait``: when every candidate is
      benched, wait up to this long for the first to come back, or fail at once.
    * ``clock``: ``now()`` and ``sleep()``; a fake one makes tests instant.
    * ``on_event``: callbacks for every :class:`~g4f_lite.events.RouterEvent`.
    * ``provider_kwargs``: extra keyword arguments per provider name (e.g.
      credentials); they win over the call's own.
    * ``config``: the configuration whose ``[providers.NAME]`` tables apply
      (options, ``enabled``); ``None``: the current one of
      :func:`g4f_lite.configure`, read at each call.
    * ``registry``: where provider names are looked up and candidates found;
      ``None``: the process-wide registry.
    * ``availability``: which local servers answer (see
      :mod:`g4f_lite.availability`); by default a fresh one of this router's own.
    """

    def __init__(
        self,
        providers: ProvidersArg = None,
        *,
        strategy: StrategyArg = "ordered",
        retry: RetryPolicy | None = None,
        timeouts: Timeouts | None = None,
        max_providers: int | None = None,
        health: HealthStore | None = None,
        wait_for_cooldown: bool = True,
        max_cooldown_wait: float = 10.0,
        clock: Clock | None = None,
        on_event: Listener | Sequence[Listener] = (),
        provider_kwargs: Mapping[str, Mapping[str, Any]] | None = None,
        config: settings_module.Config | None = None,
        registry: Registry | None = None,
        availability: Availability | None = None,
    ) -> None:
        if max_providers is not None and max_providers < 1:
            raise errors.ConfigurationError("max_providers must be at least 1 or None")
        check_non_negative("max_cooldown_wait", max_cooldown_wait)
        self.providers = providers
        self.strategy = get_strategy(strategy)
        self.retry = retry or RetryPolicy()
        self.timeouts = timeouts or Timeouts()
        self.max_providers = max_providers
        self.health: HealthStore = health if health is not None else default_health_store()
        self.wait_for_cooldown = wait_for_cooldown
        self.max_cooldown_wait = max_cooldown_wait
        # A shared store needs every instance on one clock (wall time): its own.
        self.clock: Clock = clock or getattr(self.health, "clock", None) or MonotonicClock()
        self.listeners: list[Listener] = [on_event] if callable(on_event) else list(on_event)
        self.provider_kwargs = {
            name.lower(): dict(kwargs) for name, kwargs in (provider_kwargs or {}).items()
        }
        self._config = config
        self.registry: Registry = registry if registry is not None else default_registry
        #: Which providers can be used now (credentials, local servers listening).
        self.availability = availability if availability is not None else Availability()
        #: Rate limits counted here for a health store that does not count them.
        self.limiter = WindowLimiter()
        self._limits: tuple[settings_module.Config | None, dict[str, RateLimit | None]] = (None, {})

    @property
    def config(self) -> settings_module.Config:
        """The configuration this router applies (the current one unless it was given one)."""
        return self._config if self._config is not None else settings_module.current_config()

    def is_enabled(self, name: str) -> bool:
        """Whether provider ``name`` may be used: not ``enabled = false`` in the configuration."""
        current = self.config
        return not current.providers or current.settings(name).enabled

    @classmethod
    def from_settings(
        cls,
        settings: Mapping[str, Any] | settings_module.RouterSettings,
        *,
        source: str = "settings",
        **options: Any,
    ) -> Router:
        """A router from a ``[router]`` configuration table, or those settings validated.

        Keys: ``strategy``, ``max_providers``, ``wait_for_cooldown``,
        ``max_cooldown_wait``, a ``retry`` table (the fields of
        :class:`RetryPolicy`) and a ``timeouts`` table (those of
        :class:`Timeouts`). A table is validated by the configuration layer
        (:func:`g4f_lite.router_settings.validate_router_table`); any mistake is
        a :class:`~g4f_lite.errors.ConfigurationError` naming ``source``, the
        table and the key. Keys the table leaves out keep the router's defaults.
        Other keyword arguments (``health``, ``config``, ``registry``...) go
        to the constructor.
        """
        validated = settings_module.validate_router_table(settings, source=source)
        chosen = validated.router_options()
        store = chosen.pop("health_store", None)
        url = store.url if store is not None else os.environ.get(ENV_HEALTH_STORE, "").strip()
        if url and "health" not in options:
            try:
                chosen["health"] = open_health_store(
                    url,
                    prefix=store.prefix if store is not None else "g4f_lite:",
                    timeout=store.timeout if store is not None else 0.05,
                )
            except ImportError:
                raise errors.ConfigurationError(
                    f"{source}: a redis health_store needs the redis package "
                    "(pip install 'g4f-lite[redis]')"
                ) from None
        return cls(**{**chosen, **options})

    # -- planning ----------------------------------------------------------

    def plan(
        self,
        model: str,
        messages: object,
        *,
        provider: ProvidersArg = None,
        stream: bool = False,
        strategy: StrategyArg | None = None,
        timeout: float | Timeouts | None = None,
        **kwargs: Any,
    ) -> RoutedCall:
        """Validate a request and choose its candidates, without sending anything.

        ``provider`` overrides the router's providers; ``strategy`` and
        ``timeout`` (a number: the total deadline; a :class:`Timeouts`: all
        limits) override the router's for this call. Other keyword arguments
        go to the provider: request options such as ``tools``,
        ``response_format`` or ``temperature`` only to providers that take
        them (see :func:`~g4f_lite.selection.call_options`). Without
        ``provider``, only providers with the capabilities the request needs
        (tools, images, JSON mode) are candidates; a named provider without
        one raises :class:`~g4f_lite.errors.UnsupportedFeatureError`. Raises
        :class:`~g4f_lite.errors.NoProviderAvailableError` naming what
        excluded each provider when none qualifies.

        ``model="Provider/model-id"`` names one provider's model when
        ``Provider`` is a registered provider's name (case-insensitive; among
        ``provider``'s, when given): that provider is called with
        ``model-id``. Other ids with ``/`` (``meta-llama/llama-3.1-8b``) are
        model ids. A model named in the configuration's ``[aliases]`` is
        routed over its entries, each provider called with its own model.
        """
        if not isinstance(model, str):
            raise errors.ConfigurationError(f"model must be a string, got {type(model).__name__}")
        checked = validate_messages(messages)
        chosen_strategy = self.strategy if strategy is None else get_strategy(strategy)
        if timeout is None:
            timeouts = self.timeouts
        elif isinstance(timeout, Timeouts):
            timeouts = timeout
        else:
            check_positive("timeout", timeout)
            timeouts = replace(self.timeouts, total=timeout)
        needs = request_needs(checked, kwargs)
        spec = provider if provider is not None else self.providers
        current = self._config if self._config is not None else settings_module.current_config()
        routes: dict[type[BaseProvider], str] | None = None
        if "/" in model:
            spec, model = self._addressed(model, spec)
        elif current.aliases and model in current.aliases:
            routes = self._alias_routes(
                model, current.aliases[model], spec, checked, stream, kwargs, needs
            )
        unprobed: Unprobed | None = None
        if routes is not None:
            candidates = list(routes)
            unprobed = self._unprobed(candidates, kwargs)
        elif spec is not None:
            candidates = resolve(spec, self.registry)
            # Only a configuration with provider tables can disable one, and only
            # a request with needs can be refused: most calls check nothing.
            if needs or current.providers:
                for candidate in candidates:
                    if not self.is_enabled(candidate.name):
                        raise errors.ConfigurationError(
                            f"provider {candidate.name} is disabled in "
                            f"{self.config.source} (enabled = false)"
                        )
                    check_features(candidate, needs)
        else:
            candidates, unprobed = self._select(model, checked, stream, kwargs, needs)
        call = RoutedCall(
            self,
            candidates,
            model,
            checked,
            kwargs,
            chosen_strategy,
            timeouts,
            spec is not None and len(candidates) == 1,
            routes,
        )
        # Local servers nobody has probed yet: the call probes them before its
        # first attempt, so that a server nobody started is skipped, not tried.
        call.unprobed = unprobed
        return call

    def _unprobed(
        self, candidates: list[type[BaseProvider]], kwargs: Mapping[str, Any]
    ) -> Unprobed | None:
        """The candidates on local servers not probed (or asked for models) lately."""
        listening = self.availability.listening
        unknown = []
        for provider in candidates:
            options = self.kwargs_for(provider, kwargs)
            address = provider.probe_address(options)
            if address is not None and (
                listening(address) is None
                or (
                    lists_models_live(provider, options)
                    and provider.known_models(**options) is None
                )
            ):
                unknown.append(provider)
        return (unknown, {}) if unknown else None

    def _addressed(self, model: str, spec: ProvidersArg) -> tuple[ProvidersArg, str]:
        """``Provider/model-id`` split into the provider and its model, if it names one.

        Only a registered provider's name (and, when ``spec`` names
        providers, one of those) counts: ``meta-llama/llama-3.1-8b`` stays
        whole, as does ``openai/gpt-4o`` sent to ``provider="OpenRouter"``.
        """
        prefix, _, rest = model.partition("/")
        wanted = prefix.lower()
        named = next(
            (e.provider for e in self.registry.entries() if e.provider.name.lower() == wanted),
            None,
        )
        if named is None:
            return spec, model
        if spec is not None and named not in resolve(spec, self.registry):
            return spec, model
        return named, rest

    def _alias_routes(
        self,
        alias: str,
        targets: Sequence[settings_module.AliasTarget],
        spec: ProvidersArg,
        messages: Messages,
        stream: bool,
        kwargs: Mapping[str, Any],
        needs: frozenset[Feature],
    ) -> dict[type[BaseProvider], str]:
        """The candidates of an alias, in its order, each with the model it is called with.

        A provider appears once, with its first entry's model. Without
        ``spec``, entries whose provider could not serve the request
        (disabled, no credentials, a missing capability...) are left out, as
        ``provider=None`` would leave them out; a bare model expands to every
        provider serving it. With ``spec``, only its providers are used.
        """
        routes: dict[type[BaseProvider], str] = {}
        if spec is not None:
            allowed = resolve(spec, self.registry)
            for target in targets:
                named = [self.registry.get(target.provider)] if target.provider else allowed
                for candidate in named:
                    if candidate in allowed:
                        routes.setdefault(candidate, target.model)
            if not routes:
                raise errors.ConfigurationError(
                    f"alias {alias!r} names none of the providers given "
                    f"({', '.join(p.name for p in allowed)})"
                )
            for candidate in routes:
                if not self.is_enabled(candidate.name):
                    raise errors.ConfigurationError(
                        f"provider {candidate.name} is disabled in "
                        f"{self.config.source} (enabled = false)"
                    )
                check_features(candidate, needs)
            return routes
        excluded: dict[str, list[str]] = {}
        usable: list[type[BaseProvider]] | None = None
        excluded_any: dict[str, list[str]] = {}
        for target in targets:
            if target.provider is None:
                chosen, why = self.screen(
                    target.model, messages, stream=stream, needs=needs, **kwargs
                )
            else:
                if usable is None:
                    # The entry names the model: any model passes the screen.
                    usable, excluded_any = self.screen(
                        "", messages, stream=stream, needs=needs, **kwargs
                    )
                candidate = self.registry.get(target.provider)
                chosen = [candidate] if candidate in usable else []
                why = {} if chosen else {candidate.name: excluded_any.get(candidate.name, [])}
            for candidate in chosen:
                routes.setdefault(candidate, target.model)
            for name, reasons in why.items():
                excluded.setdefault(name, reasons)
        if not routes:
            detail = "; ".join(f"{name}: {', '.join(why)}" for name, why in excluded.items())
            raise errors.NoProviderAvailableError(
                f"no provider can serve alias {alias!r} "
                f"({detail or 'none of its entries is registered'}); "
                "name one explicitly with model='Provider/model' to bypass these checks",
                excluded,
            )
        return routes

    def screen(
        self,
        model: str,
        messages: Messages | None = None,
        *,
        stream: bool = False,
        needs: frozenset[Feature] = frozenset(),
        **kwargs: Any,
    ) -> tuple[list[type[BaseProvider]], dict[str, list[str]]]:
        """Which registered providers could serve a request, and why each other one cannot.

        Returns the candidates ``provider=None`` would choose from (in
        registry order) and, for every provider left out, the reasons (e.g.
        ``"disabled in the configuration"``, ``"does not support model ..."``,
        ``"nothing listening at 127.0.0.1:11434"``). A local server not probed
        yet counts as a candidate. ``messages`` defaults to one user turn.
        Sends nothing.
        """
        chosen, excluded, _ = self._screen(model, messages, stream, kwargs, needs)
        return chosen, excluded

    def _screen(
        self,
        model: str,
        messages: Messages | None,
        stream: bool,
        kwargs: Mapping[str, Any],
        needs: frozenset[Feature],
    ) -> tuple[list[type[BaseProvider]], dict[str, list[str]], list[type[BaseProvider]]]:
        turns = messages if messages is not None else [{"role": "user", "content": ""}]
        chosen: list[type[BaseProvider]] = []
        excluded: dict[str, list[str]] = {}
        unprobed: list[type[BaseProvider]] = []
        availability = self.availability
        for entry in self.registry.entries():
            provider = entry.provider
            if not self.is_enabled(provider.name):
                excluded[provider.name] = ["disabled in the configuration"]
                continue
            options = self.kwargs_for(provider, kwargs)
            # A local server's own list decides its models, once it is asked.
            live = bool(model) and lists_models_live(provider, options)
            reasons = exclusions(provider, "" if live else model, turns, stream, options, needs)
            address = provider.probe_address(options)
            if address is not None:
                listening = availability.listening(address)
                if listening is None:
                    unprobed.append(provider)
                elif not listening:
                    reasons.append(f"not available: {availability.why_not(provider, options)}")
                elif live:
                    known = provider.known_models(**options)
                    if known is None:
                        unprobed.append(provider)
                    elif model not in known:
                        reasons.append(f"does not serve model {model!r} (its server said)")
            if reasons:
                excluded[provider.name] = reasons
            else:
                chosen.append(provider)
        return chosen, excluded, unprobed

    def _select(
        self,
        model: str,
        messages: Messages,
        stream: bool,
        kwargs: Mapping[str, Any],
        needs: frozenset[Feature],
    ) -> tuple[list[type[BaseProvider]], Unprobed | None]:
        chosen, excluded, unprobed = self._screen(model, messages, stream, kwargs, needs)
        if not chosen and not unprobed:
            raise no_provider_error(model, excluded)
        # The call probes these before its first attempt. With no candidate
        # left, the excluded ones too: whether any is up decides which error
        # helps ("start a server" or "that model is not served").
        return chosen, (unprobed, excluded) if unprobed else None

    async def check_availability(
        self, providers: Sequence[type[BaseProvider]] | None = None
    ) -> dict[str, bool]:
        """Probe the local servers of ``providers`` (default: all registered) not probed lately.

        Returns whether each is available now (see :meth:`available`). The
        probes run concurrently, each bounded by ``availability.timeout``.
        """
        if providers is None:
            providers = [entry.provider for entry in self.registry.entries()]
        options = {provider: self.kwargs_for(provider, {}) for provider in providers}
        addresses = [provider.probe_address(kw) for provider, kw in options.items()]
        await self.availability.probe(address for address in addresses if address is not None)
        return {
            provider.name: self.availability.of(provider, kw) is True
            for provider, kw in options.items()
        }

    def rate_limit(self, provider: type[BaseProvider]) -> RateLimit | None:
        """``provider``'s ``rpm``/``tpm`` limits from its configuration table (``None``: none)."""
        current = self._config if self._config is not None else settings_module.current_config()
        if not current.providers:
            return None
        known = self._limits
        if known[0] is not current:
            known = self._limits = (current, {})
        name = provider.name
        try:
            return known[1][name]
        except KeyError:
            table = current.settings(name)
            rpm, tpm = getattr(table, "rpm", None), getattr(table, "tpm", None)
            limit = known[1][name] = RateLimit(rpm, tpm) if rpm or tpm else None
            return limit

    def kwargs_for(self, provider: type[BaseProvider], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """The keyword arguments ``provider`` is called with.

        Layered, later winning: the options of its ``[providers.NAME]``
        configuration table, the call's own (those left unset, like
        ``proxy=None``, don't hide configured ones), then this router's
        ``provider_kwargs``; request options the provider does not take are
        dropped (:func:`~g4f_lite.selection.call_options`).
        """
        current = self._config if self._config is not None else settings_module.current_config()
        configured = current.settings(provider.name).call_options() if current.providers else None
        own = self.provider_kwargs.get(provider.name.lower()) if self.provider_kwargs else None
        if not configured and not own:
            return call_options(provider, dict(kwargs))
        merged = dict(configured or {})
        merged.update((key, value) for key, value in kwargs.items() if value is not None)
        merged.update(own or {})
        return call_options(provider, merged)

    # -- running -----------------------------------------------------------

    def stream(self, model: str, messages: object, **options: Any) -> AsyncIterator[str]:
        """Stream the answer's chunks; takes the arguments of :meth:`plan`.

        Planning errors raise here, before iteration starts.
        """
        return self.plan(model, messages, stream=True, **options).stream()

    async def complete(self, model: str, messages: object, **options: Any) -> str:
        """Return the whole answer; takes the arguments of :meth:`plan`."""
        return await self.plan(model, messages, stream=False, **options).text()

    def health_of(
        self, provider: str | type[BaseProvider], base_url: str | None = None
    ) -> ProviderHealth:
        """The live health of one provider in this router's store.

        At the target a call with ``base_url`` would use: by default the
        configured ``base_url``, else the provider's own ``url``.
        """
        cls: type[BaseProvider] | None = provider if isinstance(provider, type) else None
        if cls is None:
            try:
                cls = self.registry.get(str(provider))
            except errors.ProviderNotFoundError:
                return self.health.snapshot(str(provider).lower(), self.clock.now())
        key = health_key(cls, self.kwargs_for(cls, {"base_url": base_url}))
        return self.health.snapshot(key, self.clock.now())

    def describe(self, *, available: bool | None = None, **filters: Any) -> list[ProviderInfo]:
        """Describe the registered providers matching every filter, with this router's health.

        ``filters`` are those of :meth:`g4f_lite.registry.Registry.find`
        (``working=True``, ``supports_tools=True``, ``model="..."``...); an
        unknown one is a ``TypeError``. Each :class:`ProviderInfo` carries
        ``available`` as last probed (``None`` for a local server not probed
        yet: await :meth:`check_availability` first for a fresh answer),
        ``health`` at the target a call would use (the configured
        ``base_url``, else the provider's ``url``) and ``targets``, every
        target called so far; credentials in URLs are masked. ``available``
        keeps only the providers whose availability is that value.
        """
        check_flag_filter("available", available)
        now, current = self.clock.now(), self.config
        result = []
        for entry in self.registry.find(**filters):
            options = (
                current.settings(entry.provider.name).call_options() if current.providers else None
            )
            usable = self.availability.of(entry.provider, self.kwargs_for(entry.provider, {}))
            if available is not None and usable is not available:
                continue
            health, targets = target_health(entry.provider, self.health, now, options)
            result.append(
                entry.info().model_copy(
                    update={"health": health, "targets": targets, "available": usable}
                )
            )
        return result

    async def adescribe(
        self, *, available: bool | None = None, **filters: Any
    ) -> list[ProviderInfo]:
        """:meth:`describe`, after probing the local servers of the matching providers.

        So every :class:`ProviderInfo` has ``available`` set, and
        ``available=True`` lists exactly the providers a call may use now.
        """
        await self.check_availability([entry.provider for entry in self.registry.find(**filters)])
        return self.describe(available=available, **filters)

    def observed(self) -> bool:
        """Whether anything listens to events (so the hot path can skip building them)."""
        return bool(self.listeners) or self.registry.has_hookimpls("router_event")

    def emit(self, event: RouterEvent) -> None:
        """Send ``event`` to the listeners and the ``router_event`` plugin hook."""
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:  # observers must never break a call
                logger.exception("router event listener %r failed", listener)
        hook = self.registry.plugin_manager.hook.router_event
        if hook.get_hookimpls():
            try:
                hook(event=event)
            except Exception:
                logger.exception("a router_event hook implementation failed")


_default: Router | None = None


# The configuration the default router was built from: configure() swaps the
# Config object, and the next call then builds a router from its [router] table.
_default_config: settings_module.Config | None = None


def default_router() -> Router:
    """The router of the default client, which ``ChatCompletion`` uses when given none.

    Built on first use from the ``[router]`` table of the current
    configuration (see :meth:`Router.from_settings`), and rebuilt after
    :func:`g4f_lite.configure` changes it, unless :func:`set_default_router`
    installed one.
    """
    global _default, _default_config
    current = settings_module.current_config()
    if _default is None or (_default_config is not None and _default_config is not current):
        _default = Router.from_settings(current.router, source=current.source)
        _default_config = current
    return _default


def set_default_router(router: Router | None) -> None:
    """Replace the default router (``None``: back to one built from the configuration)."""
    global _default, _default_config
    _default, _default_config = router, None
