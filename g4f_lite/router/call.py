"""The attempt loop: run a planned call over its candidates, recording their health.

:class:`RoutedCall` orders the candidates, skips the benched, tries each
(with retries, see :mod:`~g4f_lite.router.retrying`) and fails over until one
answers; when every candidate is benched it waits once for the first cooldown.
A stream is read on under its :class:`~g4f_lite._watchdog.Guard` (the limits'
errors come from :mod:`~g4f_lite.router.timeouts`). Every attempt's outcome is
recorded in the router's health store here, and only here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import errors
from .._watchdog import Guard
from ..answer import Answer
from ..events import RouterEvent
from ..health import Admission, health_key
from ..http import connect_limit
from ..policies import Timeouts
from ..provider import BaseProvider, close_stream, run_provider
from ..redact import scrub
from ..strategies import Strategy
from ..types import Chunk, Messages, ProviderHealth, text_of
from .retrying import StopBeforeDeadline, retryable, retrying
from .timeouts import PROVIDER_TIMEOUT_SLACK, interrupted, timeout_error

if TYPE_CHECKING:
    from .planning import Router

__all__ = ["RoutedCall"]

# The package's one logger: its name is the documented one.
logger = logging.getLogger("g4f_lite.router")


# Refused credentials: a configuration problem, never an outage of the site.
_AUTH_ERRORS = (
    errors.AuthenticationError,
    errors.PermissionDeniedError,
    errors.MissingCredentialsError,
)


def _request_fault(exc: BaseException) -> bool:
    return isinstance(exc, errors.G4FLiteError) and exc.request_fault


@dataclass
class _Opened:
    """A provider that answered: its first chunk (or whole text) and the rest of the stream."""

    provider: type[BaseProvider]
    key: str
    kwargs: dict[str, Any]
    #: Streaming: the first chunk. A whole answer: ``None`` (see ``parts``).
    first: Chunk | None
    #: A whole answer: every chunk, in order.
    parts: list[Chunk] | None
    chunks: AsyncIterator[Chunk] | None
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
        #: The name of the provider that answered, once one has.
        self.answered_by: str | None = None
        self._text_messages: Messages | None = None

    def stream(self) -> AsyncIterator[str]:
        """The answer's text chunks, as they arrive (events left out)."""
        return self._run(text_only=True)

    def events(self) -> AsyncIterator[Chunk]:
        """The answer's chunks as they arrive: text and events (tool calls, usage...)."""
        return self._run(text_only=False)

    async def text(self) -> str:
        """The whole answer's text."""
        # A coroutine, not a walk over _run(): no async generator per call.
        parts = (await self._open(streaming=False)).parts or ()
        try:
            return "".join(parts)  # type: ignore[arg-type]
        except TypeError:  # events among the text
            return "".join(part for part in parts if type(part) is str)

    async def answer(self) -> Answer:
        """The whole answer: text, tool calls, usage, finish reason and who answered."""
        opened = await self._open(streaming=False)
        return Answer(opened.parts or (), opened.provider.name)

    def messages_for(self, provider: type[BaseProvider]) -> Messages:
        """The conversation as ``provider`` receives it.

        A provider that reads no images gets each list of text parts joined
        into one string, so that text-only providers only ever see strings
        (the router never picks one for a request that has images).
        """
        if provider.supports_vision:
            return self.messages
        if self._text_messages is None:
            if all(type(m.get("content")) is not list for m in self.messages):
                self._text_messages = self.messages
            else:
                self._text_messages = [
                    {**m, "content": text_of(m["content"])} if type(m.get("content")) is list else m
                    for m in self.messages
                ]
        return self._text_messages

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
        self.answered_by = opened.provider.name
        return opened

    async def _run(self, text_only: bool) -> AsyncIterator[Any]:
        """The stream: the first chunk from whichever provider answered, then its rest."""
        opened = await self._open(streaming=True)
        clock = self.router.clock
        if opened.chunks is None:  # an empty stream
            return
        # The rest of the stream, here rather than in a helper generator: one
        # generator less per chunk, and closing this one closes the provider's.
        chunks, name, key = opened.chunks, opened.provider.name, opened.key
        first = opened.first
        delivered: list[Chunk] = [first] if first is not None else []
        failed = False
        guard = opened.guard
        try:
            if first is not None and (not text_only or type(first) is str):
                yield first
            # The rest is read by the task asking now (the first chunk may have been
            # fetched by another, e.g. during failover): that is the one to interrupt.
            guard.rebind()
            while True:
                fired = guard.waiting()
                if fired is not None:  # the deadline passed between chunks
                    raise timeout_error(fired, name, self.timeouts)
                try:
                    chunk = await chunks.__anext__()
                except StopAsyncIteration:
                    break
                except asyncio.CancelledError:
                    raise interrupted(guard, name, self.timeouts) from None
                guard.received()
                delivered.append(chunk)
                if text_only and type(chunk) is not str:
                    continue
                yield chunk
        except Exception as exc:
            # Text has reached the caller: never restart elsewhere (it would repeat).
            failed = True
            self._record_failure(opened.provider, key, opened.kwargs, exc)
            logger.info("provider %s failed mid-stream: %s", name, type(exc).__name__)
            text = "".join(part for part in delivered if type(part) is str)
            raise errors.PartialResponseError(name, text, exc) from exc
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
        router = self.router
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
        at_deadline: StopBeforeDeadline | None = None
        try:
            try:
                return await self._attempt(provider, key, kwargs, streaming, deadline, own, pending)
            except errors.ProviderBenchedError:
                raise
            except Exception as exc:
                if router.retry.max_attempts <= 1 or not retryable(router, key, exc):
                    raise
                first_failure = exc
            # Only a failed first attempt pays for tenacity's machinery (tens of
            # microseconds a call, most of the router's cost on a success).
            # Tenacity then drives every retry; the first failure is replayed
            # to it as attempt 1, so its stop, wait and logging see all attempts.
            at_deadline = StopBeforeDeadline(deadline, router.clock)
            replay = [first_failure]

            async def attempt() -> _Opened:
                if replay:
                    raise replay.pop()
                return await self._attempt(provider, key, kwargs, streaming, deadline, own, pending)

            return await retrying(router, provider, key, at_deadline)(attempt)
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
            remaining = max(deadline - started, 0.0) + PROVIDER_TIMEOUT_SLACK
            kwargs = {**kwargs, "timeout": min(remaining, limit) if limit else remaining}
        if not streaming:
            # The caller wants the whole answer: a provider whose upstream API
            # has a non-streamed request may use it (some servers return tool
            # calls or exact usage only there).
            kwargs = {**kwargs, "stream": False}
        chunks = run_provider(provider, self.model, self.messages_for(provider), **kwargs)
        timeouts = self.timeouts
        guard = Guard(
            first=timeouts.first_chunk,
            idle=timeouts.idle,
            total=deadline - started if deadline is not None else None,
        )
        parts: list[Chunk] = []
        first_chunk: float | None = None
        try:
            with connect_limit(timeouts.connect):
                parts.append(await self._first(chunks, guard, name))
            first_chunk = clock.now() - started
            if streaming:  # the guard goes on watching the rest, in _run
                return _Opened(
                    provider,
                    key,
                    kwargs,
                    parts[0],
                    None,
                    chunks,
                    started,
                    first_chunk,
                    number,
                    guard,
                )
            await self._collect(chunks, guard, name, parts)
        except StopAsyncIteration:
            pass  # an empty answer
        except BaseException as exc:
            guard.close()
            await close_stream(chunks)
            if isinstance(exc, Exception):
                if isinstance(exc, errors.ProviderError) and parts:
                    # nothing received is lost
                    exc.partial = "".join(part for part in parts if type(part) is str)
                own.append(errors.Attempt(name, number, exc, clock.now() - started))
                self._record_failure(provider, key, kwargs, exc)
            else:  # cancelled: no verdict on the provider
                router.health.release(key)
            raise
        guard.close()
        elapsed = clock.now() - started
        self._record_success(name, key, number, elapsed, first_chunk)
        return _Opened(
            provider, key, kwargs, None, parts, None, started, first_chunk, number, guard
        )

    async def _first(self, chunks: AsyncIterator[Chunk], guard: Guard, name: str) -> Chunk:
        """The first chunk, within the first-chunk limit and the deadline."""
        guard.waiting()  # nothing can have fired: no await since the guard was made
        try:
            chunk = await chunks.__anext__()
        except asyncio.CancelledError:
            raise interrupted(guard, name, self.timeouts) from None
        guard.received()
        return chunk

    async def _collect(
        self, chunks: AsyncIterator[Chunk], guard: Guard, name: str, parts: list[Chunk]
    ) -> None:
        """Append the rest of a whole answer to ``parts``, within the idle limit and deadline."""
        while True:
            fired = guard.waiting()
            if fired is not None:
                raise timeout_error(fired, name, self.timeouts)
            try:
                parts.append(await chunks.__anext__())
            except StopAsyncIteration:
                return
            except asyncio.CancelledError:
                raise interrupted(guard, name, self.timeouts) from None
            guard.received()

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
