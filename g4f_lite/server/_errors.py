"""g4f-lite errors as OpenAI-shaped HTTP errors: status, body and headers.

Only messages g4f-lite built itself reach the client (they never hold
secrets, see :mod:`g4f_lite.errors`); anything unexpected becomes a bare
500 and its traceback goes to the server's log only.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from pydantic import ValidationError

from .. import errors
from .models import ErrorBody, ErrorDetail

__all__ = ["ApiError", "api_error", "validation_error"]


@dataclass(frozen=True)
class ApiError:
    """An HTTP error response: status, OpenAI error object and extra headers."""

    status: int
    message: str
    type: str
    code: str | None = None
    param: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> ErrorBody:
        """The ``{"error": {...}}`` body."""
        return ErrorBody(
            error=ErrorDetail(
                message=self.message, type=self.type, code=self.code, param=self.param
            )
        )


def _retry_headers(seconds: float | None) -> dict[str, str]:
    # Retry-After takes whole seconds; round up so a client never comes back early.
    return {} if seconds is None else {"Retry-After": str(max(1, math.ceil(seconds)))}


def validation_error(exc: ValidationError) -> ApiError:
    """A 400 naming the first invalid field, never echoing its value."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    text = f"invalid request body: {where}: {message}" if where else f"invalid request: {message}"
    return ApiError(400, text, "invalid_request_error", "invalid_value", where or None)


def _failed(exc: errors.AllProvidersFailedError) -> ApiError:
    """Every provider failed: the status says what the failures have in common."""
    # One line per try, so the client sees why each provider failed.
    message = "; ".join(line.strip() for line in str(exc).splitlines())
    causes = [a.error for a in exc.attempts]
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
        param = "messages" if isinstance(exc, errors.InvalidMessagesError) else None
        return ApiError(400, str(exc), "invalid_request_error", "invalid_value", param)
    if isinstance(exc, errors.RateLimitError):
        return ApiError(
            429,
            str(exc),
            "rate_limit_error",
            "rate_limit_exceeded",
            headers=_retry_headers(exc.retry_after),
        )
    if isinstance(exc, errors.ProviderBenchedError):
        return ApiError(
            503,
            str(exc),
            "service_unavailable",
            "provider_benched",
            headers=_retry_headers(exc.retry_after),
        )
    if isinstance(exc, errors.ProviderTimeoutError):
        return ApiError(504, str(exc), "timeout_error", "upstream_timeout")
    if isinstance(exc, errors.ProviderError):
        # Includes the upstream's own 401/403: the client's key to *this*
        # server is fine, the provider behind it is not, hence 502, not 401.
        code = re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()  # server_error
        return ApiError(502, str(exc), "upstream_error", code)
    return ApiError(500, "internal server error", "server_error", "internal_error")
