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

The modules, in the order a call meets them (everything public is
importable from here, ``g4f_lite.router``, which is also the one logger's name):

* :mod:`~g4f_lite.router.planning`: :class:`Router`, its settings
  (:meth:`Router.from_settings`), step 1 (:meth:`Router.plan`, the
  candidates, :meth:`Router.kwargs_for`), events, and :func:`default_router`.
* :mod:`~g4f_lite.router.call`: :class:`RoutedCall`, the attempt loop of
  steps 2 to 4 and the stream after its first chunk; the only place that
  records health.
* :mod:`~g4f_lite.router.retrying`: the tenacity glue of step 3: which errors
  are retried, the wait (``Retry-After`` or backoff), stopping before the deadline.
* :mod:`~g4f_lite.router.timeouts`: the typed errors of the first-chunk, idle
  and total limits, which a :class:`g4f_lite._watchdog.Guard` per request enforces.
"""

from __future__ import annotations

from ..events import EventKind, Listener, RouterEvent
from ..policies import RetryPolicy, Timeouts
from ..selection import ProvidersArg, ProviderSpec
from .call import RoutedCall
from .planning import Router, default_router, set_default_router

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
