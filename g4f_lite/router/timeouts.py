"""The router's time limits as typed errors: first chunk, idle gap, total deadline.

The limits themselves are enforced by a :class:`g4f_lite._watchdog.Guard` per
request; this module turns the limit that passed into the error the caller
sees, naming the provider and the limit.
"""

from __future__ import annotations

from .. import errors
from .._watchdog import Guard
from ..policies import Timeouts

__all__ = ["PROVIDER_TIMEOUT_SLACK", "interrupted", "timeout_error"]


#: Seconds added to the deadline when it is passed on to the provider as its
#: own total timeout (see :meth:`g4f_lite.router.RoutedCall._attempt`).
PROVIDER_TIMEOUT_SLACK = 1.0


def timeout_error(kind: str, name: str, timeouts: Timeouts) -> errors.ProviderTimeoutError:
    """The error for limit ``kind`` (as :attr:`Guard.fired` names it) of provider ``name``."""
    if kind == "first_chunk":
        return errors.FirstChunkTimeoutError(
            name, f"no text within the {timeouts.first_chunk:g} s first-chunk limit"
        )
    if kind == "idle":
        return errors.IdleTimeoutError(name, f"no text for the {timeouts.idle:g} s idle limit")
    return errors.TotalTimeoutError(name, f"the call's {timeouts.total:g} s deadline ran out")


def interrupted(guard: Guard, name: str, timeouts: Timeouts) -> errors.ProviderTimeoutError:
    """Call in ``except CancelledError``: the guard's timeout error, if the guard cancelled.

    A cancellation that is not the guard's (the caller's own) is re-raised as it is.
    """
    kind = guard.claim()
    if kind is None:
        raise  # re-raises the CancelledError being handled
    return timeout_error(kind, name, timeouts)
