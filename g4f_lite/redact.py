"""Keeping secrets out of every text g4f-lite shows: errors, logs, tables, HTTP answers.

Two layers, because neither is enough alone:

* **Known values.** The credentials a call was made with (API keys, tokens,
  cookies, nonces, the user and password of a proxy or ``base_url``) are
  replaced wherever they appear, whatever their shape. An upstream that echoes
  a key back in a 200 body or a mid-stream error event is caught here.
* **Shapes.** Text that looks like a credential is masked even when its value
  is not known here: URL userinfo (``http://user:pass@host``), ``Bearer``
  tokens, ``sk-...`` and ``AIza...`` keys, and ``api_key``/``key``/``token``
  query parameters.

Secrets are wrapped (:class:`pydantic.SecretStr`) where they enter and only
unwrapped where a request is built; this module is the net under that rule.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "MASK",
    "SECRET_KWARGS",
    "SecretFilter",
    "mask_url",
    "scrub",
    "scrub_error",
    "secret_values",
]

#: What a secret is replaced with.
MASK = "***"

#: Keyword arguments whose values are secrets wherever they appear.
SECRET_KWARGS = frozenset(
    {"api_key", "access_token", "auth", "cookies", "token", "nonce", "password", "secret"}
)
# Keyword arguments that are URLs whose userinfo is a secret.
_URL_KWARGS = ("proxy", "base_url", "url")
# Request headers whose values are secrets.
_SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "api-key", "cookie", "x-goog-api-key"}
)
# Shorter values are not masked: replacing every "ab" in a message would
# garble it, and no real credential is that short.
_MIN_SECRET_LENGTH = 4

_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/?#@\s]+@")
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (_USERINFO, rf"\g<scheme>{MASK}@"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}"), rf"\1 {MASK}"),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"), f"sk-{MASK}"),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{20,}"), f"AIza{MASK}"),
    (
        re.compile(
            r"(?i)([?&;](?:api[_-]?key|key|token|access[_-]?token|auth|password|secret)=)"
            r"[^&\s#\"']+"
        ),
        rf"\1{MASK}",
    ),
)

# What each of _PATTERNS cannot match without, in lower case. A replacement
# only removes text or adds "***", so it never creates a marker for a later one.
_MARKERS: tuple[tuple[str, ...], ...] = (("://",), ("bearer", "basic"), ("sk-",), ("aiza",), ("=",))


def mask_url(url: str) -> str:
    """``url`` with any ``user:password@`` replaced by ``***@``."""
    return _USERINFO.sub(rf"\g<scheme>{MASK}@", url)


def _add(found: set[str], value: Any) -> None:
    get = getattr(value, "get_secret_value", None)  # pydantic.SecretStr and friends
    if callable(get):
        value = get()
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        if len(value) >= _MIN_SECRET_LENGTH:
            found.add(value)
    elif isinstance(value, Mapping):  # cookies: every value, and "name=value"
        for key, item in value.items():
            _add(found, item)
            if isinstance(item, str):
                _add(found, f"{key}={item}")
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            _add(found, item)


def _add_userinfo(found: set[str], url: Any) -> None:
    if not isinstance(url, str):
        url = str(url) if url is not None else ""
    match = re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*://([^/?#@\s]+)@", url)
    if match is None:
        return
    userinfo = match.group(1)
    _add(found, userinfo)
    for part in userinfo.split(":", 1):
        _add(found, part)


def secret_values(kwargs: Mapping[str, Any]) -> frozenset[str]:
    """The secret strings among a provider call's keyword arguments.

    The values of :data:`SECRET_KWARGS`, secret request ``headers``, and the
    userinfo of ``proxy`` / ``base_url``.
    """
    found: set[str] = set()
    for key in SECRET_KWARGS.intersection(kwargs):
        _add(found, kwargs[key])
    for key in _URL_KWARGS:
        if kwargs.get(key):
            _add_userinfo(found, kwargs[key])
    headers = kwargs.get("headers")
    if isinstance(headers, Mapping):
        for name, value in headers.items():
            if str(name).lower() in _SECRET_HEADERS:
                _add(found, value)
                if isinstance(value, str) and " " in value:  # "Bearer <token>"
                    _add(found, value.split(" ", 1)[1])
    return frozenset(found)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every known secret and every credential-shaped string masked."""
    # Longest first, so that a secret containing another is masked whole.
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= _MIN_SECRET_LENGTH and secret in text:
            text = text.replace(secret, MASK)
    if text.isascii():
        # Each pattern needs one of its markers (IGNORECASE equals lower() on
        # ASCII): a substring test skips the regexes, which cost microseconds
        # per line of a busy server's access log, on text that cannot match.
        lowered = text.lower()
        for (pattern, replacement), markers in zip(_PATTERNS, _MARKERS, strict=True):
            if any(marker in lowered for marker in markers):
                text = pattern.sub(replacement, text)
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


# String attributes of g4f-lite errors that may carry upstream text.
_TEXT_ATTRIBUTES = ("detail", "server_message", "message", "line", "reason", "code")


def _scrub_one(exc: BaseException, secrets: frozenset[str]) -> None:
    exc.args = tuple(scrub(a, secrets) if isinstance(a, str) else a for a in exc.args)
    for attribute in _TEXT_ATTRIBUTES:
        value = exc.__dict__.get(attribute)
        if isinstance(value, str):
            setattr(exc, attribute, scrub(value, secrets))


def scrub_error(exc: BaseException, secrets: Iterable[str] = ()) -> BaseException:
    """Mask secrets in ``exc``, in place, and in the errors chained to it.

    A chained error from a library (an aiohttp error naming a URL with a
    ``?key=``) whose text would change is replaced by a plain ``Exception``
    with the scrubbed text, so that a logged traceback cannot show it.
    Returns ``exc``.
    """
    known = frozenset(secrets)
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        _scrub_one(current, known)
        cause = current.__cause__ or current.__context__
        if cause is not None and not _is_ours(cause):
            text = f"{type(cause).__name__}: {cause}"
            clean = scrub(text, known)
            if clean != text:
                replacement = Exception(clean)
                if current.__cause__ is not None:
                    current.__cause__ = replacement
                else:
                    current.__context__ = replacement
                break
        current = cause
    return exc


def _is_ours(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("g4f_lite")


class SecretFilter(logging.Filter):
    """A logging filter that masks secrets in every record it sees.

    Attach it to a *handler* (filters on a logger do not see the records its
    children propagate): ``handler.addFilter(SecretFilter(known_secrets))``.
    The message and any formatted traceback are scrubbed.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: set[str] = {s for s in secrets if len(s) >= _MIN_SECRET_LENGTH}

    def add(self, secret: str) -> None:
        """Mask ``secret`` too from now on."""
        if len(secret) >= _MIN_SECRET_LENGTH:
            self.secrets.add(secret)

    def filter(self, record: logging.LogRecord) -> bool:
        """Scrub ``record`` in place; never drops it."""
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: show it unformatted
            message = str(record.msg)
        record.msg = scrub(message, self.secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = scrub(
                logging.Formatter().formatException(record.exc_info), self.secrets
            )
        elif record.exc_text:
            record.exc_text = scrub(record.exc_text, self.secrets)
        return True
