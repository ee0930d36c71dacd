"""A base for providers of an HTTP API that takes a key: OpenAI-compatible, Anthropic, Gemini...

:class:`APIProvider` holds what every such provider does the same way, so
that a protocol's plugin keeps only its protocol: where the key comes from
(a call's ``api_key``, the configured one, an environment variable read at
call time), whether the router may pick the provider (``has_credentials``),
which secrets to mask in errors, and reading answers with bounded size,
JSON that cannot blow the stack, and typed errors for bad statuses whose
text never shows the key, even when a server echoes it.

It imports aiohttp: plugins import it at their own import, never
``import g4f_lite``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar

import aiohttp
from pydantic import SecretStr

from . import __version__
from .errors import (
    BrokenLineError,
    G4FLiteError,
    LineTooLongError,
    MissingCredentialsError,
    ProtocolError,
    error_for_status,
)
from .http import JSONNestingError, get_session, loads_json, parse_retry_after, request_timeout
from .provider import AsyncGeneratorProvider
from .redact import scrub, secret_values

__all__ = ["APIProvider", "plain_secret"]


def plain_secret(value: str | SecretStr | None) -> str | None:
    """The text of a key given as a string or a :class:`~pydantic.SecretStr` (``None`` if empty)."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return value or None


class APIProvider(AsyncGeneratorProvider):
    """A provider of an HTTP API at ``base_url`` that may take a key.

    The key sent is the call's ``api_key=`` (a string or a
    :class:`~pydantic.SecretStr`), else the one configured with the provider
    (``_api_key``, set by the provider's kind from a ``[providers.NAME]``
    table), else the first set of ``api_key_env`` and
    ``api_key_fallback_envs``, read at call time. Subclasses implement the
    protocol; the helpers here raise the :mod:`g4f_lite.errors` types naming
    the provider, with the call's secrets masked.
    """

    #: The API root, where the protocol's paths start.
    base_url: ClassVar[str] = ""
    #: Environment variable read for the key at call time.
    api_key_env: ClassVar[str | None] = None
    #: More variables tried in order after ``api_key_env`` (Gemini's ``GOOGLE_API_KEY``).
    api_key_fallback_envs: ClassVar[tuple[str, ...]] = ()
    # A key given in the configuration; a SecretStr so it never prints.
    _api_key: ClassVar[SecretStr | None] = None
    #: The most of an error answer that is read, in bytes.
    error_body_limit: ClassVar[int] = 64 * 1024
    #: Where the API lists its models (``GET {base_url}{models_path}``,
    #: answered in OpenAI's ``{"data": [{"id": ...}]}`` shape); empty: it has no list.
    models_path: ClassVar[str] = ""

    @classmethod
    def key_variables(cls) -> tuple[str, ...]:
        """The environment variables a key is read from, in order."""
        first = (cls.api_key_env,) if cls.api_key_env else ()
        return first + cls.api_key_fallback_envs

    @classmethod
    def _env_key(cls) -> str | None:
        for variable in cls.key_variables():
            value = os.environ.get(variable)
            if value:
                return value
        return None

    @classmethod
    def resolve_api_key(cls, api_key: str | SecretStr | None = None) -> str | None:
        """The key to send: ``api_key``, else the configured one, else the first set variable.

        Raises :class:`~g4f_lite.errors.MissingCredentialsError` (naming the
        variables to set) when the provider ``needs_auth`` and none is found.
        """
        key = plain_secret(api_key) or plain_secret(cls._api_key) or cls._env_key()
        if key is None and cls.needs_auth:
            where = " or ".join(f"${variable}" for variable in cls.key_variables())
            hint = f" or set {where}" if where else ""
            raise MissingCredentialsError(cls.name, f"needs an API key: pass api_key={hint}")
        return key

    @classmethod
    def has_credentials(cls, kwargs: Mapping[str, Any]) -> bool:
        """Whether a key is at hand: passed, configured with the provider, or in the environment.

        A provider declared with ``api_key=`` carries its key in the class,
        not in each call's arguments: the router must see it to route to the
        provider by model.
        """
        return super().has_credentials(kwargs) or bool(plain_secret(cls._api_key) or cls._env_key())

    @classmethod
    def secret_values(cls, kwargs: Mapping[str, Any]) -> frozenset[str]:
        """The call's secrets, including a key read from the configuration or the environment.

        The framework masks these in every error the call raises, whatever
        text the server echoed.
        """
        found = set(super().secret_values(kwargs))
        try:
            key = cls.resolve_api_key(kwargs.get("api_key"))
        except MissingCredentialsError:
            key = None
        if key:
            found.add(key)
        return frozenset(found)

    @classmethod
    def call_secrets(cls, key: str | None, proxy: str | None, root: str) -> frozenset[str]:
        """The secrets of one request: its key, and any credentials in its proxy or URL."""
        # Masked before any message is cut short: a cut could leave half a
        # key that no later scrubbing recognises.
        return secret_values({"api_key": key, "proxy": proxy, "base_url": root})

    @classmethod
    def request_headers(cls, key: str | None, accept: str) -> dict[str, str]:
        """The headers of a request: ``Accept``, the ``User-Agent``, and the key as a bearer token.

        An API that takes its key in another header overrides this.
        """
        headers = {"Accept": accept, "User-Agent": f"g4f-lite/{__version__}"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    @classmethod
    async def fetch_models(
        cls,
        *,
        base_url: str | None = None,
        api_key: str | SecretStr | None = None,
        proxy: str | None = None,
        timeout: float | None = 30.0,
        **kwargs: Any,
    ) -> list[str] | None:
        """Ask the API for its models now (``GET {base_url}{models_path}``); failures raise.

        ``None`` without a ``models_path``. The first page only: a list
        longer than one page is an API this method is overridden for.
        """
        if not cls.models_path:
            return None
        root = (base_url or cls.base_url).rstrip("/")
        key = cls.resolve_api_key(api_key)
        what = f"GET {cls.models_path}"
        data = await cls.get_json(
            f"{root}{cls.models_path}",
            headers=cls.request_headers(key, "application/json"),
            proxy=proxy,
            timeout=timeout,
            secrets=cls.call_secrets(key, proxy, root),
            what=f"the answer to {what}",
        )
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise ProtocolError(cls.name, f"{what} answered without a 'data' list")
        return [str(item["id"]) for item in items if isinstance(item, dict) and "id" in item]

    # -- reading answers ---------------------------------------------------

    @classmethod
    def parse_json(cls, data: bytes | bytearray, what: str, secrets: frozenset[str]) -> Any:
        """``data`` parsed as JSON; else a ``ProtocolError`` naming ``what``."""
        try:
            return loads_json(data)
        except JSONNestingError:
            raise ProtocolError(cls.name, f"{what} is JSON nested too deep") from None
        except ValueError:
            shown = scrub(bytes(data[:80]).decode("utf-8", "replace"), secrets)
            raise ProtocolError(cls.name, f"{what} is not JSON: {shown!r}") from None

    @classmethod
    def broken_line(cls, line: bytes, reason: str, secrets: frozenset[str]) -> BrokenLineError:
        """The error for a stream line that cannot be read, shown with ``secrets`` masked."""
        return BrokenLineError(cls.name, scrub(line.decode("utf-8", "replace"), secrets), reason)

    @classmethod
    async def read_body(cls, response: aiohttp.ClientResponse, max_bytes: int) -> bytearray:
        """The whole body of ``response``; a ``LineTooLongError`` past ``max_bytes``."""
        body = bytearray()
        while chunk := await response.content.read(64 * 1024):
            body += chunk
            if len(body) > max_bytes:
                raise LineTooLongError(cls.name, max_bytes)
        return body

    @classmethod
    async def raise_for_status(
        cls, response: aiohttp.ClientResponse, secrets: frozenset[str]
    ) -> None:
        """Raise the typed error for a non-2xx answer (see :meth:`status_error`)."""
        if response.status < 400:
            return
        body = await response.content.read(cls.error_body_limit)
        # Scrubbed before parsing and shortening: a cut could leave half a key.
        text = scrub(body.decode("utf-8", "replace"), secrets)
        try:
            data = loads_json(text)
        except ValueError:  # JSONNestingError too: a hostile body is shown as text
            data = None
        raise cls.status_error(
            response.status,
            data,
            text,
            response.reason or "",
            parse_retry_after(response.headers.get("Retry-After")),
        )

    @classmethod
    def status_error(
        cls, status: int, data: Any, text: str, reason: str, retry_after: float | None
    ) -> G4FLiteError:
        """The error for an answer with HTTP ``status``: its body parsed (``data``) and as text.

        The default reads the common ``{"error": {"message": ..., "code" or
        "type": ...}}`` shape (also ``{"error": "..."}`` and
        ``{"message": ...}``); a protocol with another shape overrides this.
        """
        message, code = text, None
        if isinstance(data, dict):
            error = data.get("error")
            if isinstance(error, dict):
                message = str(error.get("message") or "")
                raw_code = error.get("code") or error.get("type")
                code = str(raw_code) if raw_code else None
            elif isinstance(error, str):  # llama.cpp and some proxies
                message = error
            elif "message" in data:
                message = str(data["message"])
        return error_for_status(
            cls.name, status, message or reason, code=code, retry_after=retry_after
        )

    @classmethod
    async def get_json(
        cls,
        url: str,
        *,
        headers: Mapping[str, str],
        proxy: str | None,
        timeout: float | None,
        secrets: frozenset[str],
        what: str,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        """``GET url`` (with query ``params``) and its JSON answer, with typed errors."""
        session = await get_session()
        async with session.get(
            url, params=params, headers=headers, proxy=proxy, timeout=request_timeout(timeout)
        ) as response:
            await cls.raise_for_status(response, secrets)
            body = await cls.read_body(response, cls.error_body_limit * 16)
        return cls.parse_json(body, what, secrets)
