"""The router: choose providers for a request, retry them, fail over, bench the failing.

>>> router = Router(strategy="fastest", timeouts=Timeouts(first_chunk=20, total=60))
>>> text = await router.complete("gpt-3.5-turbo", [{"role": "user", "content": "Hi"}])

``ChatCompletion.create`` goes through the process-wide :func:`default_router`
for ``provider=None``, a list of providers and a single named provider alike.

One call runs like this:

1. **Plan** (synchronous, raises before any request): the candidates are the
   providers named by the caller, used as given, or else every registered
   provider that is working and supports what the request needs (model,
   streaming, history, system message, credentials).
2. **Order** them with a :mod:`strategy <g4f_lite.strategies>`.
3. For each candidate, skip it without a request if its circuit breaker has
   benched it; otherwise try it, retrying retryable failures with tenacity
   (exponential backoff with jitter, or the latest error's ``Retry-After``).
   Health is kept per target (the provider and the site it is called at,
   see :func:`~g4f_lite.health.health_key`).
4. Fail over to the next candidate, until one answers or the budgets (attempts
   per provider, providers per call, total deadline) run out. If every
   candidate was benched, wait for the earliest cooldown when that fits.

An error the request caused (``request_fault``: a malformed conversation,
HTTP 400/404/413/422, an input the site refuses) goes straight back to the
caller as it is: no retry, no failover, no mark against the provider. Refused
credentials (HTTP 401/403, none configured) are not retried and fail over,
but never bench: they mark the target ``auth_failed`` instead.

A stream fails over only until its first chunk reaches the caller; after that
a failure raises :class:`~g4f_lite.errors.PartialResponseError`, so the caller
never sees text twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exception,
    wait_exponential_jitter,
)
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from . import config, errors
from ._watchdog import Guard
from .clock import Clock, MonotonicClock
from .events import EventKind, Listener, RouterEvent
from .health import Admission, HealthStore, default_health_store, health_key
from .http import connect_limit
from .policies import RetryPolicy, Timeouts, check_non_negative, check_positive
from .provider import BaseProvider, close_stream, run_provider
from .redact import scrub
from .registry import registry
from .selection import ProvidersArg, ProviderSpec, exclusions, resolve
from .strategies import Strategy, StrategyArg, get_strategy
from .types import Messages, ProviderHealth, validate_messages

__all__ = [
    "EventKind",
    "Listener",
    "ProviderSpec",
    "ProvidersArg",
    "RetryPolicy",
    "RoutedCall",
    "Router",
    "RouterEvent",
    "Timeouts",
    "default_router",
    "set_default_router",
]

logger = logging.getLogger(__name__)


# Seconds added to the deadline when it is passed on to the provider as its
# own total timeout (see RoutedCall._attempt).
_PROVIDER_TIMEOUT_SLACK = 1.0


# Refused credentials: a configuration problem, never an outage of the site.
_AUTH_ERRORS = (
    errors.AuthenticationError,
    errors.PermissionDeniedError,
    errors.MissingCredentialsError,
)


def _request_fault(exc: BaseException) -> bool:
    return isinstance(exc, errors.G4FLiteError) and exc.request_fault


# -- tenacity pieces --------------------------------------------------------


def _retry_after(exc: BaseException | None) -> float | None:
    value = getattr(exc, "retry_after", None)
    return float(value) if isinstance(value, (int, float)) else None


class _WaitRetryAfterOr(wait_base):
    """The latest error's ``Retry-After`` (capped) if it has one, else ``fallback``."""

    def __init__(self, fallback: wait_base, cap: float) -> None:
        self.fallback = fallback
        # wait_exception reads retry_state.outcome: the latest error, never the first.
        self.from_error = wait_exception(lambda exc: min(_retry_after(exc) or 0.0, cap))

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        if outcome is not None and _retry_after(outcome.exception()) is not None:
            return self.from_error(retry_state)
        return self.fallback(retry_state)


class _StopBeforeDeadline(stop_base):
    """Stop when the coming wait would end at or after the call's deadline."""

    def __init__(self, deadline: float | None, clock: Clock) -> None:
        self.deadline = deadline
        self.clock = clock
        #: Whether this stopped the retries (so the error can say why).
        self.hit = False

    def __call__(self, retry_state: RetryCallState) -> bool:
        if self.deadline is None:
            return False
        self.hit = self.clock.now() + retry_state.upcoming_sleep >= self.deadline
        return self.hit


# -- the router -------------------------------------------------------------


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
        self.clock: Clock = clock or MonotonicClock()
        self.listeners: list[Listener] = [on_event] if callable(on_event) else list(on_event)
        self.provider_kwargs = {
            name.lower(): dict(kwargs) for name, kwargs in (provider_kwargs or {}).items()
        }

    @classmethod
    def from_settings(
        cls, settings: Mapping[str, Any] | config.RouterSettings, *, source: str = "settings"
    ) -> Router:
        """A router from a ``[router]`` configuration table, or those settings validated.

        Keys: ``strategy``, ``max_providers``, ``wait_for_cooldown``,
        ``max_cooldown_wait``, a ``retry`` table (the fields of
        :class:`RetryPolicy`) and a ``timeouts`` table (those of
        :class:`Timeouts`). A table is validated by the configuration layer
        (:func:`g4f_lite.router_settings.validate_router_table`); any mistake is
        a :class:`~g4f_lite.errors.ConfigurationError` naming ``source``, the
        table and the key. Keys the table leaves out keep the router's defaults.
        """
        validated = config.validate_router_table(settings, source=source)
        return cls(**validated.router_options())

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
        go to the provider. Raises :class:`~g4f_lite.errors.NoProviderAvailableError`
        naming what excluded each provider when none qualifies.
        """
        if not isinstance(model, str):
            raise errors.ConfigurationError(f"model must be a string, got {type(model).__name__}")
        checked = validate_messages(messages)
        chosen_strategy = get_strategy(strategy) if strategy is not None else self.strategy
        if isinstance(timeout, Timeouts):
            timeouts = timeout
        elif timeout is not None:
            check_positive("timeout", timeout)
            timeouts = replace(self.timeouts, total=timeout)
        else:
            timeouts = self.timeouts
        spec = provider if provider is not None else self.providers
        if spec is not None:
            candidates = resolve(spec)
            for candidate in candidates:
                if not config.is_enabled(candidate.name):
                    raise errors.ConfigurationError(
                        f"provider {candidate.name} is disabled in "
                        f"{config.current_config().source} (enabled = false)"
                    )
        else:
            candidates = self._select(model, checked, stream, kwargs)
        return RoutedCall(
            self,
            candidates,
            model,
            checked,
            kwargs,
            strategy=chosen_strategy,
            timeouts=timeouts,
            single=spec is not None and len(candidates) == 1,
        )

    def _select(
        self, model: str, messages: Messages, stream: bool, kwargs: Mapping[str, Any]
    ) -> list[type[BaseProvider]]:
        chosen: list[type[BaseProvider]] = []
        excluded: dict[str, list[str]] = {}
        for entry in registry.entries():
            if not config.is_enabled(entry.provider.name):
                excluded[entry.provider.name] = ["disabled in the configuration"]
                continue
            reasons = exclusions(
                entry.provider, model, messages, stream, self.kwargs_for(entry.provider, kwargs)
            )
            if reasons:
                excluded[entry.provider.name] = reasons
            else:
                chosen.append(entry.provider)
        if not chosen:
            detail = "; ".join(f"{name}: {', '.join(why)}" for name, why in excluded.items())
            wanted = f"model {model!r}" if model else "this request"
            raise errors.NoProviderAvailableError(
                f"no working provider can serve {wanted} "
                f"({detail or 'no provider is registered'}); "
                "name one explicitly with provider=... to bypass these checks",
                excluded,
            )
        return chosen

    def kwargs_for(self, provider: type[BaseProvider], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """The keyword arguments ``provider`` is called with.

        Layered, later winning: the options of its ``[providers.NAME]``
        configuration table, the call's own (those left unset, like
        ``proxy=None``, don't hide configured ones), then this router's
        ``provider_kwargs``.
        """
        configured = config.provider_options(provider.name) if config.has_tables() else None
        own = self.provider_kwargs.get(provider.name.lower())
        if not configured and not own:
            return dict(kwargs)
        merged = dict(configured or {})
        merged.update((key, value) for key, value in kwargs.items() if value is not None)
        merged.update(own or {})
        return merged

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
                cls = registry.get(str(provider))
            except errors.ProviderNotFoundError:
                return self.health.snapshot(str(provider).lower(), self.clock.now())
        key = health_key(cls, self.kwargs_for(cls, {"base_url": base_url}))
        return self.health.snapshot(key, self.clock.now())

    def observed(self) -> bool:
        """Whether anything listens to events (so the hot path can skip building them)."""
        return bool(self.listeners) or registry.has_hookimpls("router_event")

    def emit(self, event: RouterEvent) -> None:
        """Send ``event`` to the listeners and the ``router_event`` plugin hook."""
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:  # observers must never break a call
                logger.exception("router event listener %r failed", listener)
        hook = registry.plugin_manager.hook.router_event
        if hook.get_hookimpls():
            try:
                hook(event=event)
            except Exception:
                logger.exception("a router_event hook implementation failed")


@dataclass
class _Opened:
    """A provider that answered: its first chunk (or whole text) and the rest of the stream."""

    provider: type[BaseProvider]
    key: str
    kwargs: dict[str, Any]
    first: str | None
    chunks: AsyncIterator[str] | None
    started: float
    first_chunk: float | None
    number: int
    guard: Guard


class RoutedCall:
    """One planned call: candidates chosen, nothing sent yet. Run it once.

    ``candidates`` are the providers that may be tried, before ordering.
    """

    def __init__(
        self,
        router: Router,
        candidates: list[type[BaseProvider]],
        model: str,
        messages: Messages,
        kwargs: Mapping[str, Any],
        *,
        strategy: Strategy,
        timeouts: Timeouts,
        single: bool,
    ) -> None:
        self.router = router
        self.candidates = candidates
        self.model = model
        self.messages = messages
        self.kwargs = dict(kwargs)
        self.strategy = strategy
        self.timeouts = timeouts
        # One provider the caller named: its own error is more useful than a
        # one-entry AllProvidersFailedError, so that is what is raised.
        self.single = single

    def stream(self) -> AsyncIterator[str]:
        """The answer's chunks, as they arrive."""
        return self._run()

    async def text(self) -> str:
        """The whole answer."""
        # A coroutine, not a walk over _run(): no async generator per call.
        opened = await self._open(streaming=False)
        return opened.first or ""

    # -- the call loop -------------------------------------------------------

    def _health(self, name: str) -> ProviderHealth:
        """The health of candidate ``name`` at the target this call would use."""
        router = self.router
        for provider in self.candidates:
            if provider.name == name:
                key = health_key(provider, router.kwargs_for(provider, self.kwargs))
                return router.health.snapshot(key, router.clock.now())
        return router.health.snapshot(name.lower(), router.clock.now())

    async def _open(self, streaming: bool) -> _Opened:
        """Find a provider that answers: its first chunk when streaming, else its whole answer."""
        clock = self.router.clock
        started = clock.now()
        deadline = started + self.timeouts.total if self.timeouts.total is not None else None
        order = self.strategy.order(self.candidates, self._health)
        attempts: list[errors.Attempt] = []
        benched: dict[str, errors.ProviderBenchedError] = {}
        notes: list[str] = []
        opened: _Opened | None = None
        for waited in (False, True):
            benched.clear()
            opened = await self._pass(order, streaming, deadline, attempts, benched, notes)
            if opened is not None or attempts or not benched:
                break
            # Every candidate is benched: wait once for the first to come back.
            await self._wait_for_cooldown(benched, deadline, waited)
        if opened is None:
            raise self._failure(attempts, benched, notes, clock.now() - started)
        return opened

    async def _run(self) -> AsyncIterator[str]:
        """The stream: the first chunk from whichever provider answered, then its rest."""
        opened = await self._open(streaming=True)
        clock = self.router.clock
        if opened.chunks is None:  # a whole answer, or an empty stream
            if opened.first:
                yield opened.first
            return
        # The rest of the stream, here rather than in a helper generator: one
        # generator less per chunk, and closing this one closes the provider's.
        chunks, name, key = opened.chunks, opened.provider.name, opened.key
        delivered = [opened.first or ""]
        failed = False
        guard = opened.guard
        try:
            yield delivered[0]
            # The rest is read by the task asking now (the first chunk may have been
            # fetched by another, e.g. during failover): that is the one to interrupt.
            guard.rebind()
            while True:
                guard.seq += 1
                if guard.fired is not None:  # the deadline passed between chunks
                    raise self._timeout(guard.fired, name)
                try:
                    chunk = await chunks.__anext__()
                except StopAsyncIteration:
                    break
                except asyncio.CancelledError:
                    raise self._interrupted(guard, name) from None
                guard.seq += 1
                delivered.append(chunk)
                yield chunk
        except Exception as exc:
            # Text has reached the caller: never restart elsewhere (it would repeat).
            failed = True
            self._record_failure(opened.provider, key, opened.kwargs, exc)
            logger.info("provider %s failed mid-stream: %s", name, type(exc).__name__)
            raise errors.PartialResponseError(name, "".join(delivered), exc) from exc
        finally:
            guard.close()
            await close_stream(chunks)
            if not failed:
                # Ended, or the caller stopped reading: either way the provider worked.
                self._record_success(
                    name, key, opened.number, clock.now() - opened.started, opened.first_chunk
                )

    async def _pass(
        self,
        order: list[type[BaseProvider]],
        streaming: bool,
        deadline: float | None,
        attempts: list[errors.Attempt],
        benched: dict[str, errors.ProviderBenchedError],
        notes: list[str],
    ) -> _Opened | None:
        """Try the candidates in order; return the first that answers."""
        router, clock = self.router, self.router.clock
        tried = 0
        for index, provider in enumerate(order):
            if router.max_providers is not None and tried >= router.max_providers:
                notes.append(f"stopped after max_providers={router.max_providers}")
                break
            if deadline is not None and clock.now() >= deadline:
                notes.append(f"the {self.timeouts.total:g} s deadline ran out")
                break
            before = len(attempts)
            try:
                return await self._try(provider, streaming, deadline, attempts, notes)
            except errors.ProviderBenchedError as exc:
                benched[provider.name] = exc
                logger.debug("skipping benched provider %s", provider.name)
                router.emit(RouterEvent("skip", provider.name, error=exc, wait=exc.retry_after))
            except Exception as exc:
                if _request_fault(exc):
                    # The request is wrong: every other provider would refuse it
                    # too, and the caller needs this error, not a failover summary.
                    raise
                tried += 1
                if len(attempts) == before:  # failed outside any request: still report it
                    attempts.append(errors.Attempt(provider.name, 0, exc, 0.0))
                if index + 1 < len(order):
                    following = order[index + 1].name
                    logger.info(
                        "provider %s failed (%s); failing over to %s",
                        provider.name,
                        type(exc).__name__,
                        following,
                    )
                    router.emit(
                        RouterEvent("failover", provider.name, error=exc, next_provider=following)
                    )
        return None

    async def _wait_for_cooldown(
        self, benched: dict[str, errors.ProviderBenchedError], deadline: float | None, waited: bool
    ) -> None:
        router = self.router
        first = min(benched, key=lambda name: benched[name].retry_after)
        wait = benched[first].retry_after
        why = ""
        if waited:
            why = "they were still benched after waiting for the first cooldown"
        elif not router.wait_for_cooldown:
            why = "waiting is turned off (wait_for_cooldown=False)"
        elif wait > router.max_cooldown_wait:
            why = f"that is longer than max_cooldown_wait={router.max_cooldown_wait:g} s"
        elif deadline is not None and router.clock.now() + wait >= deadline:
            why = f"that is beyond the call's {self.timeouts.total:g} s deadline"
        if why:
            listing = "; ".join(
                f"{name} for {exc.retry_after:.1f} s" + (f" ({exc.reason})" if exc.reason else "")
                for name, exc in benched.items()
            )
            raise errors.AllProvidersBenchedError(
                f"every candidate provider is benched by its circuit breaker: {listing}. "
                f"The first is probed again in {wait:.1f} s, but not waiting: {why}",
                {name: exc.retry_after for name, exc in benched.items()},
                wait,
            )
        logger.info("every candidate is benched; waiting %.1f s for %s", wait, first)
        router.emit(RouterEvent("wait", first, wait=wait))
        await router.clock.sleep(wait)

    def _failure(
        self,
        attempts: list[errors.Attempt],
        benched: dict[str, errors.ProviderBenchedError],
        notes: list[str],
        elapsed: float,
    ) -> BaseException:
        if self.single and attempts:
            return attempts[-1].error
        if not attempts and not benched:
            notes.append("no provider was tried")
        if benched:
            notes.append(
                "skipped as benched: "
                + ", ".join(
                    f"{name} ({exc.retry_after:.1f} s left)" for name, exc in benched.items()
                )
            )
        error = errors.AllProvidersFailedError(
            attempts, elapsed, f"; {'; '.join(notes)}" if notes else ""
        )
        if attempts:
            error.__cause__ = attempts[-1].error
        return error

    # -- one provider ----------------------------------------------------------

    async def _try(
        self,
        provider: type[BaseProvider],
        streaming: bool,
        deadline: float | None,
        attempts: list[errors.Attempt],
        notes: list[str],
    ) -> _Opened:
        """Try one provider, with retries; raise its last error if it never answers."""
        router, policy = self.router, self.router.retry
        kwargs = router.kwargs_for(provider, self.kwargs)
        key = health_key(provider, kwargs)
        admission = router.health.admit(key, router.clock.now())
        if not admission.allowed:
            # Benched: skipped before any request, and before any retry machinery.
            raise errors.ProviderBenchedError(
                provider.name, admission.retry_after, admission.reason
            )
        # The first attempt uses this admission; _attempt asks again for later ones.
        pending = [admission]
        own: list[errors.Attempt] = []
        at_deadline: _StopBeforeDeadline | None = None
        try:
            try:
                return await self._attempt(provider, key, kwargs, streaming, deadline, own, pending)
            except errors.ProviderBenchedError:
                raise
            except Exception as exc:
                if policy.max_attempts <= 1 or not self._retryable(key, exc):
                    raise
                first_failure = exc
            # Only a failed first attempt pays for tenacity's machinery (tens of
            # microseconds a call, most of the router's cost on a success).
            # Tenacity then drives every retry; the first failure is replayed
            # to it as attempt 1, so its stop, wait and logging see all attempts.
            at_deadline = _StopBeforeDeadline(deadline, router.clock)
            replay = [first_failure]

            async def attempt() -> _Opened:
                if replay:
                    raise replay.pop()
                return await self._attempt(provider, key, kwargs, streaming, deadline, own, pending)

            retrying = AsyncRetrying(
                stop=stop_after_attempt(policy.max_attempts) | at_deadline,
                wait=_WaitRetryAfterOr(
                    wait_exponential_jitter(
                        multiplier=policy.initial, max=policy.max_wait, jitter=policy.jitter
                    ),
                    policy.max_retry_after,
                ),
                retry=retry_if_exception(partial(self._retryable, key)),
                sleep=router.clock.sleep,
                before_sleep=partial(self._before_sleep, provider),
                reraise=True,
            )
            return await retrying(attempt)
        except errors.ProviderBenchedError:
            if not own:
                raise
            # Benched between two of its attempts (e.g. by a concurrent call's
            # failures): its last real error says more. Raised below, outside
            # this handler, so that the error's own context is left untouched.
        finally:
            if pending:  # admitted but never attempted: give a half-open probe back
                router.health.release(key)
            attempts.extend(own)
            if at_deadline is not None and at_deadline.hit:
                notes.append(
                    f"retries of {provider.name} stopped: the next wait would pass "
                    f"the {self.timeouts.total:g} s deadline"
                )
        raise own[-1].error

    def _retryable(self, key: str, exc: BaseException) -> bool:
        """Whether to try the target of health key ``key`` again after ``exc``."""
        router = self.router
        if not (isinstance(exc, errors.G4FLiteError) and exc.retryable) or exc.request_fault:
            return False
        retry_after = _retry_after(exc)
        # A long Retry-After is better spent on the next provider.
        if retry_after is not None and retry_after > router.retry.max_retry_after:
            return False
        # Failures during this call may just have benched it: move on.
        return not router.health.snapshot(key, router.clock.now()).benched

    def _before_sleep(self, provider: type[BaseProvider], state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        logger.info(
            "provider %s attempt %d failed (%s); retrying in %.2f s",
            provider.name,
            state.attempt_number,
            type(exc).__name__,
            state.upcoming_sleep,
        )
        self.router.emit(
            RouterEvent(
                "retry",
                provider.name,
                attempt=state.attempt_number,
                wait=state.upcoming_sleep,
                error=exc,
            )
        )

    async def _attempt(
        self,
        provider: type[BaseProvider],
        key: str,
        kwargs: dict[str, Any],
        streaming: bool,
        deadline: float | None,
        own: list[errors.Attempt],
        pending: list[Admission],
    ) -> _Opened:
        """One request: up to the first chunk when streaming, else the whole answer."""
        router, clock, name = self.router, self.router.clock, provider.name
        admission = pending.pop() if pending else router.health.admit(key, clock.now())
        if not admission.allowed:
            raise errors.ProviderBenchedError(name, admission.retry_after, admission.reason)
        number = len(own) + 1
        started = clock.now()
        logger.debug(
            "attempt %d of provider %s%s", number, name, " (probe)" if admission.probe else ""
        )
        if router.observed():
            router.emit(RouterEvent("attempt", name, attempt=number))
        if deadline is not None:
            # The provider's own (aiohttp) total timeout follows the deadline as a
            # backstop, a little later, so that the router's typed error wins.
            limit = kwargs.get("timeout")
            remaining = max(deadline - started, 0.0) + _PROVIDER_TIMEOUT_SLACK
            kwargs = {**kwargs, "timeout": min(remaining, limit) if limit else remaining}
        chunks = run_provider(provider, self.model, self.messages, **kwargs)
        timeouts = self.timeouts
        guard = Guard(
            first=timeouts.first_chunk,
            idle=timeouts.idle,
            total=deadline - started if deadline is not None else None,
        )
        parts: list[str] = []
        first_chunk: float | None = None
        try:
            with connect_limit(timeouts.connect):
                parts.append(await self._first(chunks, guard, name))
            first_chunk = clock.now() - started
            if streaming:  # the guard goes on watching the rest, in _run
                return _Opened(
                    provider, key, kwargs, parts[0], chunks, started, first_chunk, number, guard
                )
            await self._collect(chunks, guard, name, parts)
        except StopAsyncIteration:
            pass  # an empty answer
        except BaseException as exc:
            guard.close()
            await close_stream(chunks)
            if isinstance(exc, Exception):
                if isinstance(exc, errors.ProviderError) and parts:
                    exc.partial = "".join(parts)  # nothing received is lost
                own.append(errors.Attempt(name, number, exc, clock.now() - started))
                self._record_failure(provider, key, kwargs, exc)
            else:  # cancelled: no verdict on the provider
                router.health.release(key)
            raise
        guard.close()
        elapsed = clock.now() - started
        self._record_success(name, key, number, elapsed, first_chunk)
        return _Opened(
            provider, key, kwargs, "".join(parts), None, started, first_chunk, number, guard
        )

    async def _first(self, chunks: AsyncIterator[str], guard: Guard, name: str) -> str:
        """The first chunk, within the first-chunk limit and the deadline."""
        guard.seq += 1
        try:
            chunk = await chunks.__anext__()
        except asyncio.CancelledError:
            raise self._interrupted(guard, name) from None
        guard.seq += 1
        return chunk

    async def _collect(
        self, chunks: AsyncIterator[str], guard: Guard, name: str, parts: list[str]
    ) -> None:
        """Append the rest of a whole answer to ``parts``, within the idle limit and deadline."""
        while True:
            guard.seq += 1
            if guard.fired is not None:
                raise self._timeout(guard.fired, name)
            try:
                parts.append(await chunks.__anext__())
            except StopAsyncIteration:
                return
            except asyncio.CancelledError:
                raise self._interrupted(guard, name) from None
            guard.seq += 1

    def _interrupted(self, guard: Guard, name: str) -> errors.ProviderTimeoutError:
        """Call in ``except CancelledError``: the guard's timeout error, if the guard cancelled.

        A cancellation that is not the guard's (the caller's own) is re-raised as it is.
        """
        kind = guard.claim()
        if kind is None:
            raise  # re-raises the CancelledError being handled
        return self._timeout(kind, name)

    def _timeout(self, kind: str, name: str) -> errors.ProviderTimeoutError:
        t = self.timeouts
        if kind == "first_chunk":
            return errors.FirstChunkTimeoutError(
                name, f"no text within the {t.first_chunk:g} s first-chunk limit"
            )
        if kind == "idle":
            return errors.IdleTimeoutError(name, f"no text for the {t.idle:g} s idle limit")
        return errors.TotalTimeoutError(name, f"the call's {t.total:g} s deadline ran out")

    def _record_success(
        self, name: str, key: str, number: int, elapsed: float, first_chunk: float | None
    ) -> None:
        router = self.router
        router.health.record_success(
            key, router.clock.now(), elapsed=elapsed, first_chunk=first_chunk
        )
        logger.debug("provider %s answered in %.3f s", name, elapsed)
        if router.observed():
            router.emit(RouterEvent("success", name, attempt=number, elapsed=elapsed))

    def _record_failure(
        self, provider: type[BaseProvider], key: str, kwargs: Mapping[str, Any], exc: Exception
    ) -> None:
        router, store = self.router, self.router.health
        if _request_fault(exc):
            # The request was at fault, not the provider: no mark against it,
            # and a half-open probe it held is given back for the next call.
            store.release(key)
            return
        detail = getattr(exc, "detail", None) or str(exc)
        # Errors from run_provider are scrubbed already; the router's own and a
        # custom store's text are not guaranteed to be, and health is public.
        text = scrub(f"{type(exc).__name__}: {detail}", provider.secret_values(kwargs))
        if isinstance(exc, _AUTH_ERRORS):
            # Wrong credentials are no outage: benching would only hide the
            # configuration problem behind "benched" for the next half hour.
            mark = getattr(store, "record_auth_failure", None)
            if mark is not None:
                mark(key, router.clock.now(), text)
            else:
                store.release(key)
            return
        cooldown = store.record_failure(key, router.clock.now(), text)
        if cooldown is not None:
            router.emit(RouterEvent("cooldown", provider.name, wait=cooldown, error=exc))


_default: Router | None = None


# The configuration the default router was built from: configure() swaps the
# Config object, and the next call then builds a router from its [router] table.
_default_config: config.Config | None = None


def default_router() -> Router:
    """The router ``ChatCompletion`` uses when it is given none.

    Built on first use from the ``[router]`` table of the current
    configuration (see :meth:`Router.from_settings`), and rebuilt after
    :func:`g4f_lite.configure` changes it, unless :func:`set_default_router`
    installed one.
    """
    global _default, _default_config
    current = config.current_config()
    if _default is None or (_default_config is not None and _default_config is not current):
        _default = Router.from_settings(current.router, source=current.source)
        _default_config = current
    return _default


def set_default_router(router: Router | None) -> None:
    """Replace the default router (``None``: back to one built from the configuration)."""
    global _default, _default_config
    _default, _default_config = router, None
