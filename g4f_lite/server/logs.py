"""What ``serve`` writes to its log, with secrets kept out.

* :class:`AccessLogger`: one line per request, with the request id (and,
  for a chat completion, the provider that answered and the attempts it
  took); a query string's ``api_key``/``key``/``token`` values are masked
  (clients of other OpenAI-style servers put keys there).
* :class:`JsonAccessLogger` and :class:`JsonFormatter`: the same as one JSON
  object per line (``--log-format json``), for log collectors;
  :func:`install_log_format` puts the formatter on the root logger's handlers.
* :func:`install_secret_filter`: a :class:`~g4f_lite.redact.SecretFilter`
  on the root logger's handlers, knowing the server's key and every secret
  of the configured providers, for as long as the server runs.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, Literal, TypeAlias

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from pydantic import SecretStr

from .. import config as config_module
from ..redact import SecretFilter, scrub, secret_values
from .metrics import Exchange

__all__ = [
    "EXCHANGE_KEY",
    "LOG_FIELDS",
    "REQUEST_ID_KEY",
    "AccessLogger",
    "JsonAccessLogger",
    "JsonFormatter",
    "LogFormat",
    "install_log_format",
    "install_secret_filter",
    "server_secrets",
]

#: How ``serve`` writes its log: ``text`` lines, or one JSON object per line.
LogFormat: TypeAlias = Literal["text", "json"]

#: Where the middleware keeps a request's id (``request[REQUEST_ID_KEY]``).
REQUEST_ID_KEY: web.RequestKey[str] = web.RequestKey("g4f_lite_request_id", str)
#: Where a chat completion keeps what it learnt (provider, attempts...) for the access log.
EXCHANGE_KEY: web.RequestKey[Exchange] = web.RequestKey("g4f_lite_exchange", Exchange)

#: The fields an access-log record carries (``extra``), in the order a JSON line shows them.
LOG_FIELDS = (
    "request_id",
    "method",
    "path",
    "status",
    "latency",
    "bytes",
    "remote",
    "provider",
    "model",
    "attempts",
)


def _path(request: web.BaseRequest) -> str:
    path = request.raw_path
    if "?" in path:  # the only place a credential can hide in a request line
        path = scrub(path)
    return path


class AccessLogger(AbstractAccessLogger):
    """``remote "METHOD path" status size seconds request_id``; query secrets masked.

    A chat completion adds ``provider=NAME attempts=N`` (``-`` when none answered).
    """

    @property
    def enabled(self) -> bool:
        """Whether the line would be written at all (nothing is built otherwise)."""
        return self.logger.isEnabledFor(logging.INFO)

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        """Log one answered request."""
        exchange = request.get(EXCHANGE_KEY)
        line = '%s "%s %s" %d %d %.3f %s'
        args: tuple[Any, ...] = (
            request.remote,
            request.method,
            _path(request),
            response.status,
            response.body_length,
            time,
            request.get(REQUEST_ID_KEY, "-"),
        )
        if exchange is not None:
            line += " provider=%s attempts=%d"
            args += (exchange.provider or "-", exchange.attempts)
        self.logger.info(line, *args)


class JsonAccessLogger(AccessLogger):
    """The access log as fields of the record (:data:`LOG_FIELDS`), for :class:`JsonFormatter`."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        """Log one answered request."""
        exchange = request.get(EXCHANGE_KEY)
        fields = {
            "request_id": request.get(REQUEST_ID_KEY),
            "method": request.method,
            "path": _path(request),
            "status": response.status,
            "latency": round(time, 6),
            "bytes": response.body_length,
            "remote": request.remote,
            "provider": exchange.provider if exchange is not None else None,
            "model": (exchange.model or None) if exchange is not None else None,
            "attempts": exchange.attempts if exchange is not None else None,
        }
        self.logger.info("%s %s %d", request.method, fields["path"], response.status, extra=fields)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line.

    ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, then the
    access-log fields the record carries (:data:`LOG_FIELDS`), then
    ``exception`` (the traceback) if any. The message and traceback are
    scrubbed by the handler's :class:`~g4f_lite.redact.SecretFilter`; string
    fields (the path, the client's model name) are scrubbed here, of
    ``secrets`` and of anything shaped like a credential.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = frozenset(secrets)

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        entry: dict[str, Any] = {
            "time": f"{stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage(), self.secrets),
        }
        fields = record.__dict__
        for name in LOG_FIELDS:
            if name in fields:
                value = fields[name]
                entry[name] = scrub(value, self.secrets) if isinstance(value, str) else value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = scrub(record.exc_text, self.secrets)
        return json.dumps(entry, ensure_ascii=False, default=str)


def install_log_format(
    log_format: LogFormat,
    secrets: Iterable[str] = (),
    handlers: Iterable[logging.Handler] | None = None,
) -> Callable[[], None]:
    """Write ``handlers``' records (default: the root logger's) as ``log_format``.

    ``text`` leaves them as they are; ``json`` gives them a
    :class:`JsonFormatter` knowing ``secrets``. Returns a function that puts
    the former formatters back.
    """
    if log_format == "text":
        return lambda: None
    chosen = list(logging.getLogger().handlers if handlers is None else handlers)
    former = [(handler, handler.formatter) for handler in chosen]
    formatter = JsonFormatter(secrets)
    for handler in chosen:
        handler.setFormatter(formatter)

    def restore() -> None:
        for handler, old in former:
            handler.setFormatter(old)

    return restore


def server_secrets(api_key: SecretStr | None) -> frozenset[str]:
    """The server's key and the secrets of every configured provider's options."""
    found: set[str] = set()
    if api_key is not None:
        found.add(api_key.get_secret_value())
    for name in config_module.current_config().providers:
        found |= secret_values(config_module.provider_options(name))
    return frozenset(found)


def install_secret_filter(
    secrets: Iterable[str], handlers: Iterable[logging.Handler] | None = None
) -> Callable[[], None]:
    """Mask ``secrets`` in every record of ``handlers`` (default: the root logger's).

    Returns a function that removes the filter again.
    """
    chosen = list(logging.getLogger().handlers if handlers is None else handlers)
    log_filter = SecretFilter(secrets)
    for handler in chosen:
        handler.addFilter(log_filter)

    def remove() -> None:
        for handler in chosen:
            handler.removeFilter(log_filter)

    return remove
