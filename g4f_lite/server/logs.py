"""What ``serve`` writes to its log, with secrets kept out.

* :class:`AccessLogger`: one line per request, with the request id; a query
  string's ``api_key``/``key``/``token`` values are masked (clients of
  other OpenAI-style servers put keys there).
* :func:`install_secret_filter`: a :class:`~g4f_lite.redact.SecretFilter`
  on the root logger's handlers, knowing the server's key and every secret
  of the configured providers, for as long as the server runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from pydantic import SecretStr

from .. import config as config_module
from ..redact import SecretFilter, scrub, secret_values

__all__ = ["REQUEST_ID_KEY", "AccessLogger", "install_secret_filter", "server_secrets"]

#: Where the middleware keeps a request's id (``request[REQUEST_ID_KEY]``).
REQUEST_ID_KEY: web.RequestKey[str] = web.RequestKey("g4f_lite_request_id", str)


class AccessLogger(AbstractAccessLogger):
    """``remote "METHOD path" status size seconds request_id``; query secrets masked."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        """Log one answered request."""
        path = request.raw_path
        if "?" in path:  # the only place a credential can hide in a request line
            path = scrub(path)
        self.logger.info(
            '%s "%s %s" %d %d %.3f %s',
            request.remote,
            request.method,
            path,
            response.status,
            response.body_length,
            time,
            request.get(REQUEST_ID_KEY, "-"),
        )


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
