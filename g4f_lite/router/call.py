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
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, TypeVar

from .. import errors
from .._log import get_logger
from .._watchdog import Guard
from ..answer import Answer
from ..events import RouterEvent
from ..health import Admission, RateLimit, health_key
from ..http import OwnedSession, connect_limit
from ..policies import Timeouts
from ..provider import BaseProvider, close_stream, provider_error
from ..redact import scrub
from ..selection import lists_models_live, no_provider_error
from ..strategies import Ordered, Strategy
from ..types import Chunk, Messages, ProviderHealth, Usage, text_of
from .retrying import StopBeforeDeadline, retryable, retrying
from .timeouts import PROVIDER_TIMEOUT_SLACK, interrupted, timeout_error

if TYPE_CHECKING:
    from .planning import Router

__all__ = ["RoutedCall", "Shaper", "Unprobed"]

T = TypeVar("T")

#: Candidates whose local server was not probed yet, and what planning excluded.
Unprobed: TypeAlias = "tuple[list[type[BaseProvider]], dict[str, list[str]]]"
T_co = TypeVar("T_co", covariant=True)


class Shaper(Protocol[T_co]):
    """Turns a stream's chunks into other objects, for :meth:`RoutedCall.shaped`."""

    def head(self, provider: str) -> Iterable[T_co]:
        """What comes first, once ``provider`` has answered."""
        ...

    def item(self, chunk: Chunk) -> T_co | None:
        """What ``chunk`` becomes (``None``: nothing)."""
        ...

    def tail(self) -> Iterable[T_co]:
        """What comes last, when the stream has ended."""
        ...


# The package's one logger: its name is the documented one.
logger = get_logger("g4f_lite.router")


# Refused credentials: a configuration problem, never an outage of the site.
_AUTH_ERRORS = (
    errors.AuthenticationError,
    errors.PermissionDeniedError,
    errors.MissingCredentialsError,
)


def _request_fault(exc: BaseException) -> bool:
    return isinstance(exc, errors.G4FLiteError) and exc.request_fault


class _Opened:
    """A provider that answered: its first chunk (or whole answer) and the rest of the stream."""

    # A plain class with slots: one is built per call.
    __slots__ = (
        "chunks",
        "first",
        "first_chunk",
        "guard",
        "key",
        "kwargs",
        "number",
        "parts",
        "provider",
        "started",
    )

    def __init__(
        self,
        provider: type[BaseProvider],
        key: str,
        kwargs: dict[str, Any],
        first: Chunk | None,
        chunks: AsyncIterator[Chunk] | None,
        started: float,
        first_chunk: float | None,
        number: int,
        guard: Guard,
        parts: list[Chunk] | None = None,
    ) -> None:
        self.provider = provider
        self.key = key
        self.kwargs = kwargs
        #: Streaming: the first chunk. A whole answer: ``None`` (see ``parts``).
        self.first = first
        #: Streaming: the rest of the provider's stream (``None``: it was empty).
        self.chunks = chunks
        self.started = started
        self.first_chunk = first_chunk
        self.number = number
        self.guard = guard
        #: A whole answer: every chunk, in order.
        self.parts = parts


async def _close(
    chunks: AsyncIterator[Chunk], provider: type[BaseProvider], kwargs: Mapping[str, Any]
) -> None:
    """Close a provider's stream; what it raises meanwhile is typed as any error of it."""
    try:
        await close_stream(chunks)
    except Exception as exc:
        error = provider_error(provider, exc, kwargs)
        if error is exc:
            raise
        raise error from exc


class RoutedCall:
    """One planned call: candidates chosen, nothing sent yet. Run it once.

    ``candidates`` are the providers that may be tried, before ordering.
    ``routes`` (an alias's plan) gives some of them their own model id;
    the others are called with ``model``.
    """

    # One is made per request: slots make that, and every attribute read, cheaper.
    __slots__ = (
        "_debug",
        "_observed",
        "_text_messages",
        "_tpm",
        "answered_by",
        "candidates",
        "kwargs",
        "messages",
        "model",
        "router",
        "routes",
        "session",
        "single",
        "strategy",
        "timeouts",
        "unprobed",
    )

    def __init__(
        self,
        router: Router,
        candidates: list[type[BaseProvider]],
        model: str,
        messages: Messages,
        kwargs: Mapping[str, Any],
        strategy: Strategy,
        timeouts: Timeouts,
        single: bool,
        routes: Mapping[type[BaseProvider], str] | None = None,
    ) -> None:
        self.router = router
        self.candidates = candidates
        self.model = model
        self.routes = routes
        self.messages = messages
        self.kwargs = dict(kwargs)
        self.strategy = strategy
        self.timeouts = timeouts
        # One provider the caller named: its own error is more useful than a
        # one-entry AllProvidersFailedError, so that is what is raised.
        self.single = single
        #: The name of the provider that answered, once one has.
        self.answered_by: str | None = None
        #: The session providers use for this call (a ``Client``'s own), else
        #: the event loop's shared one.
        self.session: OwnedSession | None = None
        self._text_messages: Messages | None = None
        #: Set by planning when candidates run on local servers not probed yet.
        self.unprobed: Unprobed | None = None
        # Set once a call by _open: whether anyone listens to events, and logs debug lines.
        self._observed = False
        self._debug = False
        # Set when a candidate has a tokens-per-minute limit: its usage is counted.
        self._tpm = False

    def stream(self) -> AsyncIterator[str]:
        """The answer's text chunks, as they arrive (events left out)."""
        return self._run(True)

    def events(self) -> AsyncIterator[Chunk]:
        """The answer's chunks as they arrive: text and events (tool calls, usage...)."""
        return self._run(False)

    def shaped(self, shaper: Shaper[T]) -> AsyncIterator[T]:
        """The answer's chunks as ``shaper`` turns them into other objects, as they arrive.

        What ``shaper.head(provider)`` returns comes first, once a provider
        has answered; then ``shaper.item(chunk)`` of every chunk (``None``:
        nothing for this one); then, if the stream ended, ``shaper.tail()``.
        Done inside the stream rather than by a generator wrapped around
        :meth:`events`, which would cost a generator step per chunk.
        """
        return self._run(False, shaper)

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

    def model_for(self, provider: type[BaseProvider]) -> str:
        """The model id ``provider`` is called with (an alias gives each its own)."""
        return self.model if self.routes is None else self.routes.get(provider, self.model)

    def messages_for(self, provider: type[BaseProvider]) -> Messages:
        """The conversation as ``provider`` receives it.

        A provider that reads no images gets each list of text parts joined
        into one string, so that text-only providers only ever see strings
        (the router never picks one for a request that has images).
        """
        if provider.supports_vision:
            return self.messages
        if self._text_messages is None:
            self._text_messages = self.messages
            for m in self.messages:  # a loop, not all(...): no generator per call
                if type(m.get("content")) is list:
                    self._text_messages = [
                        {**m, "content": text_of(m["content"])}
                        if type(m.get("content")) is list
                        else m
                        for m in self.messages
                    ]
                    break
        return self._text_messages

    # -- the call loop -------------------------------------------------------
    #
    # Every routed request passes here, so the common case (the first
    # candidate answers at its first attempt) is kept short: one coroutine per
    # layer that has a reason to exist, the provider's generator read
    # directly (not through run_provider: a generator less per chunk), and
    # nothing built that nobody reads (events, debug lines, copies).

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
        if self.session is None:
            return await self._find(streaming)
        # Providers open their request (and fail over) here: with the owner's session.
        with self.session.active():
            return await self._find(streaming)

    async def probe(self) -> None:
        """Probe the candidates' local servers now, rather than before the first attempt.

        Drops the candidates where nothing listens; raises
        :class:`~g4f_lite.errors.NoProviderAvailableError` when none is left.
        Planning only knows what was probed lately; this is how a caller
        learns the rest before it commits to an answer (``serve`` does,
        before it picks a status code).
        """
        if self.unprobed is not None:
            await self._probe(self.unprobed)

    async def _probe(self, unprobed: Unprobed) -> None:
        """Probe the candidates' local servers; drop those where nothing listens.

        When none is left, the local servers planning excluded are probed
        too, so that the error says whether any is up at all.
        """
        self.unprobed = None
        providers, excluded = unprobed
        candidates = [provider for provider in providers if provider in self.candidates]
        if candidates:
            await self._drop_unreachable(candidates, excluded)
        if not self.candidates:
            others = [provider for provider in providers if provider not in candidates]
            await self._drop_unreachable(others, excluded)
            raise no_provider_error(self.model, excluded)

    async def _drop_unreachable(
        self, providers: list[type[BaseProvider]], excluded: dict[str, list[str]]
    ) -> None:
        router, availability = self.router, self.router.availability
        options = {provider: router.kwargs_for(provider, self.kwargs) for provider in providers}
        addresses = (provider.probe_address(kwargs) for provider, kwargs in options.items())
        await availability.probe(address for address in addresses if address is not None)
        down = set()
        for provider, kwargs in options.items():
            why = availability.why_not(provider, kwargs)
            if why is not None:
                down.add(provider)
                excluded.setdefault(provider.name, []).append(f"not available: {why}")
        # A local server that is up serves what it lists: ask it (cached).
        asked = {
            provider: model
            for provider, kwargs in options.items()
            if provider not in down
            and (model := self.model_for(provider))
            and lists_models_live(provider, kwargs)
        }
        served = await asyncio.gather(*(p.list_models(**options[p]) for p in asked))
        for (provider, model), models in zip(asked.items(), served, strict=True):
            if model not in models:
                down.add(provider)
                excluded.setdefault(provider.name, []).append(
                    f"does not serve model {model!r} (its server said)"
                )
        if down:
            self.candidates = [c for c in self.candidates if c not in down]

    async def _find(self, streaming: bool) -> _Opened:
        if self.unprobed is not None:
            await self._probe(self.unprobed)
        router = self.router
        clock = router.clock
        started = clock.now()
        total = self.timeouts.total
        deadline = started + total if total is not None else None
        strategy = self.strategy
        # The default strategy keeps the order: no call, no copy (nothing below changes it).
        order = (
            self.candidates
            if type(strategy) is Ordered
            else strategy.order(self.candidates, self._health)
        )
        # Asked once a call, not once an event or log line.
        self._observed = router.observed()
        self._debug = logger.isEnabledFor(logging.DEBUG)
        attempts: list[errors.Attempt] = []
        benched: dict[str, errors.ProviderBenchedError] = {}
        notes: list[str] = []
        opened: _Opened | None = None
        max_providers = router.max_providers
        for waited in (False, True):
            benched.clear()
            # One pass: try the candidates in order, until one answers.
            tried = 0
            for index, provider in enumerate(order):
                if max_providers is not None and tried >= max_providers:
                    notes.append(f"stopped after max_providers={max_providers}")
                    break
                if deadline is not None and clock.now() >= deadline:
                    notes.append(f"the {total:g} s deadline ran out")
                    break
                before = len(attempts)
                try:
                    opened = await self._try(
                        provider,
                        streaming,
                        deadline,
                        attempts,
                        notes,
                        started if index == 0 and not waited else clock.now(),
                    )
                    break
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
                            RouterEvent(
                                "failover", provider.name, error=exc, next_provider=following
                            )
                        )
            if opened is not None or attempts or not benched:
                break
            # Every candidate is benched: wait once for the first to come back.
            await self._wait_for_cooldown(benched, deadline, waited)
        if opened is None:
            raise self._failure(attempts, benched, notes, clock.now() - started)
        self.answered_by = opened.provider.name
        return opened

    async def _run(self, text_only: bool, shaper: Shaper[Any] | None = None) -> AsyncIterator[Any]:
        """The stream: the first chunk from whichever provider answered, then its rest."""
        opened = await self._open(streaming=True)
        chunks, first = opened.chunks, opened.first
        if chunks is None or first is None:  # an empty stream
            if shaper is not None:
                for shape in (*shaper.head(opened.provider.name), *shaper.tail()):
                    yield shape
            return
        # The rest of the stream, here rather than in a helper generator: one
        # generator less per chunk, and closing this one closes the provider's.
        delivered = [first]
        ended = failed = False
        guard = opened.guard
        try:
            if shaper is not None:
                for shape in shaper.head(opened.provider.name):
                    yield shape
                shape = shaper.item(first)
                if shape is not None:
                    yield shape
            elif not text_only or type(first) is str:
                yield first
            # The rest is read by the task asking now (the first chunk may have been
            # fetched by another, e.g. during failover): that is the one to interrupt.
            guard.rebind()
            # The guard's sequence is bumped inline (Guard.waiting and .received,
            # without a call per chunk): odd while the provider is awaited.
            guard.seq += 1
            if guard.fired is not None:  # the deadline passed before the first wait
                raise timeout_error(guard.fired, opened.provider.name, self.timeouts)
            try:
                # `async for`, not awaits of __anext__() in a try: a third of
                # the loop's cost per chunk. A cancellation arrives only while
                # the provider is awaited (never at a yield): it is the guard's
                # or the caller's, as interrupted() tells.
                async for chunk in chunks:
                    guard.seq += 1  # received: the caller holds the stream
                    delivered.append(chunk)
                    if shaper is not None:
                        shape = shaper.item(chunk)
                        if shape is not None:
                            yield shape
                    elif not text_only or type(chunk) is str:
                        yield chunk
                    guard.seq += 1  # waiting again
                    if guard.fired is not None:  # the deadline passed between chunks
                        raise timeout_error(guard.fired, opened.provider.name, self.timeouts)
            except asyncio.CancelledError:
                raise interrupted(guard, opened.provider.name, self.timeouts) from None
            ended = True
            if shaper is not None:
                for shape in shaper.tail():
                    yield shape
        except Exception as exc:
            # Text has reached the caller: never restart elsewhere (it would repeat).
            failed = True
            provider, name = opened.provider, opened.provider.name
            error = provider_error(provider, exc, opened.kwargs)
            if error is not exc:
                error.__cause__ = exc
            self._record_failure(provider, opened.key, opened.kwargs, error)
            logger.info("provider %s failed mid-stream: %s", name, type(error).__name__)
            text = "".join(part for part in delivered if type(part) is str)
            raise errors.PartialResponseError(name, text, error) from error
        finally:
            guard.close()
            try:
                if not ended:  # an ended stream has nothing left to close
                    await _close(chunks, opened.provider, opened.kwargs)
            finally:
                if not failed:
                    # Ended, or the caller stopped reading: either way the provider worked.
                    now = self.router.clock.now()
                    if self._tpm:
                        self._count_tokens(opened.provider, delivered, now)
                    self._record_success(
                        opened.provider.name,
                        opened.key,
                        opened.number,
                        now,
                        now - opened.started,
                        opened.first_chunk,
                    )

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
        now: float,
    ) -> _Opened:
        """Try one provider, with retries; raise its last error if it never answers.

        ``now``: the router's clock as the provider is admitted.
        """
        router = self.router
        kwargs = router.kwargs_for(provider, self.kwargs)
        key = health_key(provider, kwargs)
        admission = router.health.admit(key, now)
        limit = router.rate_limit(provider)
        if admission.remote or limit is not None:
            admission = await self._admit(provider, key, now, admission, limit)
        if not admission.allowed:
            # Benched (or at its rate limit): skipped before any request, and
            # before any retry machinery.
            raise errors.ProviderBenchedError(
                provider.name, admission.retry_after, admission.reason
            )
        own: list[errors.Attempt] = []
        at_deadline: StopBeforeDeadline | None = None
        try:
            try:
                # The first attempt uses this admission; _attempt asks for later ones.
                return await self._attempt(
                    provider, key, kwargs, streaming, deadline, own, admission, now
                )
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
                return await self._attempt(provider, key, kwargs, streaming, deadline, own)

            return await retrying(router, provider, key, at_deadline)(attempt)
        except errors.ProviderBenchedError:
            if not own:
                raise
            # Benched between two of its attempts (e.g. by a concurrent call's
            # failures): its last real error says more. Raised below, outside
            # this handler, so that the error's own context is left untouched.
        finally:
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
        admission: Admission | None = None,
        started: float | None = None,
    ) -> _Opened:
        """One request: up to the first chunk when streaming, else the whole answer.

        ``admission`` (and the ``started`` time it was asked at): the health
        store's answer for this attempt, if the caller asked already.
        """
        router, name = self.router, provider.name
        clock = router.clock
        if admission is None or started is None:
            started = clock.now()
            admission = router.health.admit(key, started)
            limit = router.rate_limit(provider)
            if admission.remote or limit is not None:
                admission = await self._admit(provider, key, started, admission, limit)
            if not admission.allowed:
                raise errors.ProviderBenchedError(name, admission.retry_after, admission.reason)
        number = len(own) + 1
        if self._debug:
            logger.debug(
                "attempt %d of provider %s%s", number, name, " (probe)" if admission.probe else ""
            )
        if self._observed:
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
        timeouts = self.timeouts
        # An alias's candidates each have their own model id.
        model = self.model_for(provider)
        left = deadline - started if deadline is not None else None
        guard = Guard(timeouts.first_chunk, timeouts.idle, left)
        chunks: AsyncIterator[Chunk] | None = None
        parts: list[Chunk] = []
        first_chunk: float | None = None
        try:
            with connect_limit(timeouts.connect):
                # Called here, not through run_provider: its error mapping is
                # done below (provider_error), without a generator per chunk.
                chunks = aiter(
                    provider.create_async_generator(model, self.messages_for(provider), **kwargs)
                )
                guard.waiting()  # nothing can have fired: no await since the guard was made
                try:
                    parts.append(await chunks.__anext__())
                except asyncio.CancelledError:
                    raise interrupted(guard, name, timeouts) from None
                guard.received()
            first_chunk = clock.now() - started
            if streaming:  # the guard goes on watching the rest, in _run
                return _Opened(
                    provider, key, kwargs, parts[0], chunks, started, first_chunk, number, guard
                )
            # The whole answer: the rest, within the idle limit and the deadline.
            while True:
                fired = guard.waiting()
                if fired is not None:
                    raise timeout_error(fired, name, timeouts)
                try:
                    parts.append(await chunks.__anext__())
                except StopAsyncIteration:
                    break
                except asyncio.CancelledError:
                    raise interrupted(guard, name, timeouts) from None
                guard.received()
        except StopAsyncIteration:
            pass  # an empty answer
        except BaseException as exc:
            guard.close()
            if chunks is not None:
                await _close(chunks, provider, kwargs)
            if isinstance(exc, Exception):
                error = provider_error(provider, exc, kwargs)
                if isinstance(error, errors.ProviderError) and parts:
                    # nothing received is lost
                    error.partial = "".join(part for part in parts if type(part) is str)
                own.append(errors.Attempt(name, number, error, clock.now() - started))
                self._record_failure(provider, key, kwargs, error)
                if error is not exc:
                    raise error from exc
            else:  # cancelled: no verdict on the provider
                router.health.release(key)
            raise
        guard.close()
        now = clock.now()
        if self._tpm:
            self._count_tokens(provider, parts, now)
        self._record_success(name, key, number, now, now - started, first_chunk)
        return _Opened(
            provider, key, kwargs, None, None, started, first_chunk, number, guard, parts
        )

    async def _admit(
        self,
        provider: type[BaseProvider],
        key: str,
        now: float,
        admission: Admission,
        limit: RateLimit | None,
    ) -> Admission:
        """The rarer admissions: a shared store's remote verdict, a rate-limit slot."""
        router = self.router
        store: Any = router.health
        if admission.remote:
            admission = await store.admit_remote(key, now)
        if not admission.allowed or limit is None:
            return admission
        if limit.tpm is not None:
            self._tpm = True
        acquire = getattr(store, "acquire", None)
        if acquire is not None:
            slot: Admission = await acquire(provider.name.lower(), now, limit)
        else:
            refused = router.limiter.acquire(provider.name.lower(), now, limit)
            slot = (
                admission
                if refused is None
                else Admission(False, retry_after=refused[0], reason=refused[1])
            )
        if slot.allowed:
            return admission
        if admission.probe:  # the probe it claimed is not used: the next call's
            store.release(key)
        return slot

    def _count_tokens(
        self, provider: type[BaseProvider], chunks: Iterable[Chunk], now: float
    ) -> None:
        """Count the usage ``provider`` reported against its tokens per minute."""
        limit = self.router.rate_limit(provider)
        if limit is None or limit.tpm is None:
            return
        tokens = sum(chunk.total_tokens for chunk in chunks if type(chunk) is Usage)
        if tokens:
            store: Any = self.router.health
            record = getattr(store, "record_usage", None)
            if record is not None:
                record(provider.name.lower(), now, tokens)
            else:
                self.router.limiter.record_usage(provider.name.lower(), now, tokens)

    def _record_success(
        self,
        name: str,
        key: str,
        number: int,
        now: float,
        elapsed: float,
        first_chunk: float | None,
    ) -> None:
        router = self.router
        router.health.record_success(key, now, elapsed=elapsed, first_chunk=first_chunk)
        if self._debug:
            logger.debug("provider %s answered in %.3f s", name, elapsed)
        if self._observed:
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
