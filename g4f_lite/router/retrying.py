"""The tenacity glue: when to retry a provider, how long to wait, when to stop.

Only a failed first attempt builds any of this (see
:meth:`g4f_lite.router.RoutedCall._try`): tenacity's machinery costs tens of
microseconds a call, most of the router's cost on a success.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

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

from .. import errors
from .._log import get_logger
from ..clock import Clock
from ..events import RouterEvent
from ..provider import BaseProvider

if TYPE_CHECKING:
    from .planning import Router

__all__ = ["StopBeforeDeadline", "WaitRetryAfterOr", "retry_after", "retryable", "retrying"]

# The package's one logger: its name is the documented one.
logger = get_logger("g4f_lite.router")


def retry_after(exc: BaseException | None) -> float | None:
    """The seconds ``exc`` asks to wait before the next request (its ``Retry-After``), if any."""
    value = getattr(exc, "retry_after", None)
    return float(value) if isinstance(value, (int, float)) else None


class WaitRetryAfterOr(wait_base):
    """The latest error's ``Retry-After`` (capped) if it has one, else ``fallback``."""

    def __init__(self, fallback: wait_base, cap: float) -> None:
        self.fallback = fallback
        # wait_exception reads retry_state.outcome: the latest error, never the first.
        self.from_error = wait_exception(lambda exc: min(retry_after(exc) or 0.0, cap))

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        if outcome is not None and retry_after(outcome.exception()) is not None:
            return self.from_error(retry_state)
        return self.fallback(retry_state)


class StopBeforeDeadline(stop_base):
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


def retryable(router: Router, key: str, exc: BaseException) -> bool:
    """Whether ``router`` tries the target of health key ``key`` again after ``exc``."""
    if not (isinstance(exc, errors.G4FLiteError) and exc.retryable) or exc.request_fault:
        return False
    wait = retry_after(exc)
    # A long Retry-After is better spent on the next provider.
    if wait is not None and wait > router.retry.max_retry_after:
        return False
    # Failures during this call may just have benched it: move on.
    return not router.health.snapshot(key, router.clock.now()).benched


def retrying(
    router: Router, provider: type[BaseProvider], key: str, at_deadline: StopBeforeDeadline
) -> AsyncRetrying:
    """Tenacity's loop for the retries of ``provider`` at target ``key``, per ``router.retry``.

    It stops after the policy's attempts or before a wait that would pass the
    deadline, whichever comes first, and waits the latest error's
    ``Retry-After`` or else an exponential backoff with jitter.
    """
    policy = router.retry
    return AsyncRetrying(
        stop=stop_after_attempt(policy.max_attempts) | at_deadline,
        wait=WaitRetryAfterOr(
            wait_exponential_jitter(
                multiplier=policy.initial, max=policy.max_wait, jitter=policy.jitter
            ),
            policy.max_retry_after,
        ),
        retry=retry_if_exception(partial(retryable, router, key)),
        sleep=router.clock.sleep,
        before_sleep=partial(_before_sleep, router, provider),
        reraise=True,
    )


def _before_sleep(router: Router, provider: type[BaseProvider], state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome is not None else None
    logger.info(
        "provider %s attempt %d failed (%s); retrying in %.2f s",
        provider.name,
        state.attempt_number,
        type(exc).__name__,
        state.upcoming_sleep,
    )
    router.emit(
        RouterEvent(
            "retry",
            provider.name,
            attempt=state.attempt_number,
            wait=state.upcoming_sleep,
            error=exc,
        )
    )
