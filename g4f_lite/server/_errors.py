"""g4f-lite errors as OpenAI-shaped HTTP errors: status, body and headers.

Client-facing messages are built from error *types* and statuses, never from
``str()`` of a transport error: those name internal hosts, ports and library
classes. The full (scrubbed) error goes to the server's log under the
request's id, which the client sees in the body and the ``X-Request-Id``
header. Anything unexpected becomes a bare 500.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace

from pydantic import ValidationError

from .. import errors
from .models import ErrorBody, ErrorDetail

__all__ = ["MAX_RETRY_AFTER", "ApiError", "api_error", "public_detail", "validation_error"]

#: The longest ``Retry-After`` the server sends (a day): an upstream's
#: ``Retry-After: 1e400`` or a date far away is clamped to it.
MAX_RETRY_AFTER = 86400

_SAFE_CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")

# Upstream failures that mean "the operator's credentials for that provider
# are wrong": a configuration problem, not an outage.
_AUTH_ERRORS = (
    errors.AuthenticationError,
    errors.PermissionDeniedError,
    errors.MissingCredentialsError,
)


@dataclass(frozen=True)
class ApiError:
    """An HTTP error response: status, OpenAI error object and extra headers."""

    status: int
    message: str
    type: str
    code: str | None = None
    param: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    request_id: str | None = None

    def body(self) -> ErrorBody:
        """The ``{"error": {...}}`` body."""
        return ErrorBody(
            error=ErrorDetail(
                message=self.message,
                type=self.type,
                code=self.code,
                param=self.param,
                request_id=self.request_id,
            )
        )

    def with_request_id(self, request_id: str) -> ApiError:
        """This error, tagged with ``request_id``."""
        return replace(self, request_id=request_id)


def _retry_headers(seconds: float | None) -> dict[str, str]:
    # Retry-After takes whole seconds; round up so a client never comes back
    # early. NaN says nothing (omitted); +-inf or 1e400 is clamped, since
    # math.ceil(inf) raises OverflowError.
    if seconds is None or math.isnan(seconds):
        return {}
    if seconds >= MAX_RETRY_AFTER:
        wait = MAX_RETRY_AFTER
    else:
        wait = 1 if seconds <= 1 else math.ceil(seconds)
    return {"Retry-After": str(wait)}


# Union members pydantic puts in an error's location ("provider.str"): not
# part of the field's path a client knows.
_TYPE_PARTS = frozenset({"str", "int", "float", "bool", "list", "dict", "none"})


def _field_path(loc: tuple[int | str, ...]) -> str:
    parts = [
        str(part)
        for part in loc
        if not isinstance(part, str) or not (part in _TYPE_PARTS or "[" in part)
    ]
    # A tagged union repeats its tag before the field of the same name
    # (content.0.image_url.image_url.url): the client wrote it once.
    return ".".join(part for i, part in enumerate(parts) if i == 0 or parts[i - 1] != part)


def validation_error(exc: ValidationError) -> ApiError:
    """A 400 naming the first invalid field, never echoing its value.

    Of the errors for that field, the deepest is reported: a union such as
    ``content`` (a string or a list of parts) fails on every branch, and the
    branch that got furthest says what is wrong (``content.0.image_url.url``),
    not the first one tried.
    """
    found = exc.errors()
    top = found[0]["loc"][:1]
    first = max((error for error in found if error["loc"][:1] == top), key=lambda e: len(e["loc"]))
    where = _field_path(first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    text = f"invalid request body: {where}: {message}" if where else f"invalid request: {message}"
    return ApiError(400, text, "invalid_request_error", "invalid_value", where or None)


def _ours(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("g4f_lite")


def public_detail(exc: BaseException) -> str:
    """What the client may read about ``exc``: its type and status, no internals.

    Upstream text is shown only for request faults (the client needs to know
    why its request was refused); everything else is in the server's log.
    """
    name = type(exc).__name__ if _ours(exc) else "ProviderError"
    if isinstance(exc, errors.HTTPStatusError):
        detail = f"HTTP {exc.status}"
        if exc.code and _SAFE_CODE.fullmatch(exc.code):
            detail += f" [{exc.code}]"
        if exc.request_fault and exc.server_message:
            detail += f" {exc.server_message}"
        return f"{name}: {detail}"
    if isinstance(exc, errors.RequestRejectedError):
        return f"{name}: {exc.detail}"
    if isinstance(exc, errors.PartialResponseError):
        cause = type(exc.cause).__name__ if _ours(exc.cause) else "ProviderError"
        return f"{name}: the stream failed after {len(exc.partial)} characters: {cause}"
    if isinstance(exc, errors.ProviderBenchedError):
        return f"{name}: benched"
    if isinstance(exc, errors.MissingCredentialsError):
        return f"{name}: no API key is configured for it"
    if isinstance(exc, errors.ProviderConnectionError):
        return f"{name}: could not connect"
    if isinstance(exc, errors.ProviderTimeoutError):
        return f"{name}: timed out"
    return name


def _provider_message(exc: errors.ProviderError) -> str:
    return f"{exc.provider}: {public_detail(exc)}"


def _failed_message(exc: errors.AllProvidersFailedError) -> str:
    # One entry per try, so the client sees why each provider failed.
    lines = [exc.message.rstrip(":")]
    lines += [
        f"{i}. {a.provider} #{a.number}: {public_detail(a.error)}"
        for i, a in enumerate(exc.attempts, 1)
    ]
    return "; ".join(lines)


def _request_fault(exc: BaseException, message: str) -> ApiError:
    if isinstance(exc, errors.UnsupportedFeatureError):
        # The message names the provider and what it cannot do; param the field.
        code = "unsupported_feature"
    elif isinstance(exc, errors.ConfigurationError):
        code = "invalid_value"
    else:
        code = "request_rejected"
    return ApiError(
        400, message, "invalid_request_error", code, getattr(exc, "param", None) or None
    )


def _upstream_auth(message: str) -> ApiError:
    # 502, not 401: the client's key to *this* server is fine, the
    # operator's key for the provider behind it is not.
    return ApiError(502, message, "upstream_error", "upstream_auth_failed")


def _failed(exc: errors.AllProvidersFailedError) -> ApiError:
    """Every provider failed: the status says what the failures have in common."""
    causes = [a.error for a in exc.attempts]
    for cause in causes:
        if getattr(cause, "request_fault", False):
            # The request itself is at fault: the client must change it.
            detail = (
                _provider_message(cause) if isinstance(cause, errors.ProviderError) else str(cause)
            )
            return _request_fault(cause, detail)
    message = _failed_message(exc)
    if causes and all(isinstance(c, errors.RateLimitError) for c in causes):
        waits = [c.retry_after for c in causes if isinstance(c, errors.RateLimitError)]
        known = [w for w in waits if w is not None]
        return ApiError(
            429,
            message,
            "rate_limit_error",
            "rate_limit_exceeded",
            headers=_retry_headers(min(known) if known else None),
        )
    if causes and all(isinstance(c, errors.ProviderTimeoutError) for c in causes):
        return ApiError(504, message, "timeout_error", "upstream_timeout")
    if causes and all(isinstance(c, _AUTH_ERRORS) for c in causes):
        return _upstream_auth(message)
    return ApiError(502, message, "upstream_error", "all_providers_failed")


def api_error(exc: BaseException) -> ApiError:
    """Map an exception raised while answering to its HTTP error."""
    if isinstance(exc, ValidationError):
        return validation_error(exc)
    if isinstance(exc, errors.AllProvidersFailedError):
        return _failed(exc)
    if isinstance(exc, errors.ProviderNotFoundError):
        return ApiError(404, str(exc), "invalid_request_error", "provider_not_found", "provider")
    if isinstance(exc, errors.AllProvidersBenchedError):
        return ApiError(
            503,
            str(exc),
            "service_unavailable",
            "providers_benched",
            headers=_retry_headers(exc.retry_after),
        )
    if isinstance(exc, errors.NoProviderAvailableError):
        return ApiError(503, str(exc), "service_unavailable", "no_provider_available", "model")
    if isinstance(exc, errors.ConfigurationError):  # includes InvalidMessagesError
        return _request_fault(exc, str(exc))
    if not isinstance(exc, errors.ProviderError):
        return ApiError(500, "internal server error", "server_error", "internal_error")
    message = _provider_message(exc)
    if exc.request_fault:
        return _request_fault(exc, message)
    if isinstance(exc, _AUTH_ERRORS):
        return _upstream_auth(message)
    if isinstance(exc, errors.RateLimitError):
        return ApiError(
            429,
            message,
            "rate_limit_error",
            "rate_limit_exceeded",
            headers=_retry_headers(exc.retry_after),
        )
    if isinstance(exc, errors.ProviderBenchedError):
        return ApiError(
            503,
            message,
            "service_unavailable",
            "provider_benched",
            headers=_retry_headers(exc.retry_after),
        )
    if isinstance(exc, errors.ProviderTimeoutError):
        return ApiError(504, message, "timeout_error", "upstream_timeout")
    code = re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()  # server_error
    return ApiError(502, message, "upstream_error", code)
