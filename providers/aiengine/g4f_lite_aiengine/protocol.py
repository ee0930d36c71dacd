"""The AI Engine wire format: paths, request pieces and answer parsing.

Shared by the generic AI Engine provider and by the Opchatgpts reference
provider. Everything here follows ``ai-engine-protocol.md``:

* a stream is SSE-framed JSON events (``live``, ``end``, ``error``) with no
  ``[DONE]`` sentinel; only ``live`` events without a ``subtype`` (or with
  ``subtype == "content"``) carry answer text;
* ``end.data`` is a JSON-*encoded string* whose ``reply`` is the whole
  answer, whose ``usage`` (every plugin generation) holds the site's token
  counts and whose ``new_token``, when present, is the next nonce;
* a stream that closes without ``end`` is truncated, never a success;
* the Content-Type header says little (SSE may come labelled
  ``application/json``), so answers are told apart by their body.
"""

from __future__ import annotations

import json
import logging
import random
import string
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from g4f_lite.errors import (
    BrokenLineError,
    ConfigurationError,
    HTTPStatusError,
    InvalidMessagesError,
    ProtocolError,
    ProviderError,
    RequestRejectedError,
    TruncatedResponseError,
    UnsupportedFeatureError,
    UpstreamError,
)
from g4f_lite.http import (
    DEFAULT_MAX_LINE_BYTES,
    JSONNestingError,
    check_token,
    drain,
    iter_lines,
    loads_json,
    read_body,
    sse_event,
)
from g4f_lite.types import Messages, Usage, has_images, has_tool_turns, text_of

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "NONCE_ERROR_CODES",
    "START_SESSION_PATH",
    "SUBMIT_PATH",
    "USER_AGENT",
    "EndPayload",
    "StreamResult",
    "browser_headers",
    "chat_id",
    "is_nonce_error",
    "is_rejection",
    "iter_text",
    "parse_reply",
    "parse_usage",
    "read_body",  # now g4f_lite.http.read_body; kept importable from here
    "refuse_unsupported",
    "rejected",
    "sampling_fields",
    "split_messages",
]

logger = logging.getLogger("g4f_lite.aiengine")

SUBMIT_PATH = "/wp-json/mwai-ui/v1/chats/submit"
START_SESSION_PATH = "/wp-json/mwai/v1/start_session"

#: WordPress error codes meaning "the nonce is missing or stale": refresh and retry.
#: Other 401/403 answers (e.g. the content filter's 403) are final.
NONCE_ERROR_CODES = frozenset({"rest_forbidden", "rest_cookie_invalid_nonce"})

#: AI Engine sites often sit behind Cloudflare, which turns away clients that
#: do not look like a browser.
USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)


def chat_id(length: int = 10) -> str:
    """A random chat id of lowercase letters and digits, as the seed made them.

    It only names the conversation on the server; it is not a secret.
    """
    return "".join(random.choices(string.ascii_lowercase + string.digits, k=length))


def browser_headers(site: str, referer: str, *, accept: str = "*/*") -> dict[str, str]:
    """The browser-like headers the site's own chat page would send."""
    return {
        "User-Agent": USER_AGENT,
        "Accept": accept,
        "Accept-Language": "en-US,en;q=0.7",
        "Origin": site,
        "Referer": referer,
        "Sec-Fetch-Dest": "empty",
        "Sec-Fetch-Mode": "cors",
        "Sec-Fetch-Site": "same-origin",
    }


def split_messages(messages: Messages, provider: str = "") -> tuple[list[dict[str, str]], str]:
    """Split a conversation into the plugin's ``messages`` (history) and ``newMessage``.

    The server appends ``newMessage`` itself, so the history leaves the new
    turn out. Contents given as text parts are joined (the plugin takes
    text; call :func:`refuse_unsupported` first for anything else). System
    messages are joined into one ``system`` turn placed first: the server
    trims long histories to the first message plus the last 15, so the
    first place is the one that survives trimming.
    """
    system = [text_of(m["content"]) for m in messages if m["role"] == "system"]
    turns = [
        {"role": m["role"], "content": text_of(m["content"])}
        for m in messages
        if m["role"] != "system"
    ]
    if not turns or turns[-1]["role"] != "user":
        who = f"{provider}: " if provider else ""
        raise InvalidMessagesError(
            f"{who}an AI Engine site answers a user message: the last message must have role 'user'"
        )
    history = turns[:-1]
    if system:
        history.insert(0, {"role": "system", "content": "\n\n".join(system)})
    return history, turns[-1]["content"]


def refuse_unsupported(provider: str, messages: Messages, options: Mapping[str, Any]) -> None:
    """Refuse, before any request, what a chatbot cannot take: images, tools, JSON mode.

    The router never sends these to a provider without the capability; a
    direct caller gets :class:`~g4f_lite.errors.UnsupportedFeatureError` (a
    request fault) instead of an answer that silently ignored them.
    """
    if has_images(messages):
        raise UnsupportedFeatureError(
            provider, "vision", "an AI Engine chatbot takes text only, but the messages hold images"
        )
    if options.get("tools") or has_tool_turns(messages):
        raise UnsupportedFeatureError(
            provider,
            "tools",
            "an AI Engine chatbot cannot call the caller's tools, "
            "but tools or tool turns were given",
        )
    response_format = options.get("response_format")
    if response_format is not None and not (
        isinstance(response_format, Mapping) and response_format.get("type") == "text"
    ):
        raise UnsupportedFeatureError(
            provider, "json_mode", "an AI Engine chatbot has no JSON mode (response_format)"
        )


def sampling_fields(
    provider: str, temperature: float | None, max_tokens: int | None
) -> dict[str, Any]:
    """The request body's ``temperature`` and ``maxTokens``, for the options that were set.

    The plugin merges the body over the chatbot's settings, so these
    override the site's own values for this one answer.
    """
    fields: dict[str, Any] = {}
    if temperature is not None:
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
            raise ConfigurationError(f"{provider}: temperature must be a number")
        fields["temperature"] = temperature
    if max_tokens is not None:
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise ConfigurationError(f"{provider}: max_tokens must be a positive integer")
        fields["maxTokens"] = max_tokens
    return fields


def is_nonce_error(error: HTTPStatusError) -> bool:
    """Whether an HTTP error means a missing or stale nonce (401/403 with a nonce code)."""
    return error.status in (401, 403) and error.code in NONCE_ERROR_CODES


#: How the plugin words its refusal of a request (empty message, content
#: filter, banned word): ``403 {"success": false, "message": "Sorry, your
#: query has been rejected."}``.
_REJECTED = "query has been rejected"


def is_rejection(error: HTTPStatusError) -> bool:
    """Whether an HTTP error is the site refusing this request, not a failure of the site."""
    return error.status == 403 and _REJECTED in error.server_message.lower()


def rejected(provider: str, error: HTTPStatusError) -> RequestRejectedError:
    """The request-fault error for a refusal recognised by :func:`is_rejection`."""
    return RequestRejectedError(provider, f"the site refused the request: {error.server_message}")


@dataclass
class EndPayload:
    """The decoded ``end`` event (or non-stream answer): the authoritative reply.

    ``new_token`` is the next nonce when the site rotates it (plugin >= 2.8.5);
    it is kept out of ``repr``. ``usage`` is the site's token count, when it
    reported a well-formed one (see :func:`parse_usage`).
    """

    reply: str
    new_token: str | None = field(default=None, repr=False)
    usage: Usage | None = None


def parse_usage(provider: str, data: object) -> Usage | None:
    """The token counts of a reply's ``usage``, or ``None`` when there are none to trust.

    The plugin reports ``{"prompt_tokens", "completion_tokens",
    "total_tokens", "price", "queries", "accuracy"}`` (older versions the
    three counts alone); the extra keys are ignored. Counts that are missing,
    not integers or negative are ignored with a debug line rather than
    failing an answer that arrived whole, and so are all-zero counts: that is
    the plugin's placeholder when its engine counted nothing, not a count.
    """
    if data is None:
        return None
    try:
        usage = Usage.model_validate(data, strict=True)
    except ValidationError:
        logger.debug("%s: ignored a malformed 'usage' in the reply", provider)
        return None
    if not (usage.prompt_tokens or usage.completion_tokens or usage.total_tokens):
        logger.debug("%s: ignored an all-zero 'usage' (the site counted nothing)", provider)
        return None
    return usage


@dataclass
class StreamResult:
    """Filled in by :func:`iter_text` once the stream has ended."""

    end: EndPayload | None = None


def _payload(provider: str, data: Any, line: bytes | str) -> EndPayload:
    """Read a reply object (``end`` data or a non-stream body)."""
    if not isinstance(data, dict):
        raise BrokenLineError(provider, line, "the answer is not a JSON object")
    if data.get("success") is False:
        message = str(data.get("message") or "the site reported a failure")
        if _REJECTED in message.lower():
            raise RequestRejectedError(provider, f"the site refused the request: {message}")
        raise UpstreamError(provider, message)
    reply = data.get("reply")
    if not isinstance(reply, str):
        raise BrokenLineError(provider, line, "the answer has no 'reply' text")
    token = data.get("new_token")
    if isinstance(token, str) and token:
        # It becomes the next request's X-WP-Nonce header: a CR/LF in it
        # would break every later request to the site.
        check_token(provider, token, "new_token")
    return EndPayload(
        reply,
        token if isinstance(token, str) and token else None,
        parse_usage(provider, data.get("usage")),
    )


def _decode_end(provider: str, event: dict[str, Any], line: bytes) -> EndPayload:
    data = event.get("data")
    if isinstance(data, str):
        # The plugin JSON-encodes the payload into a string, inside the event's JSON.
        try:
            data = loads_json(data)
        except JSONNestingError:
            raise BrokenLineError(provider, line, "'end' data nested too deep") from None
        except ValueError:
            raise BrokenLineError(provider, line, "the 'end' data is not JSON") from None
    return _payload(provider, data, line)


def _error_message(event: dict[str, Any]) -> str:
    data = event.get("data")
    message = data if isinstance(data, str) and data else "the site reported an error"
    return f"{message} (over the site's limit)" if event.get("overLimit") else message


def _error_event(provider: str, event: dict[str, Any], refused: bool) -> ProviderError:
    """The error for an ``error`` event; ``refused``: it came before any answer, as a refusal."""
    message = _error_message(event)
    if refused or _REJECTED in message.lower():
        # The plugin refusing this input (too long, filtered): the same
        # request fails anywhere, and the site is not to blame.
        return RequestRejectedError(provider, f"the site refused the request: {message}")
    return UpstreamError(provider, message)


def _event(provider: str, line: bytes) -> dict[str, Any]:
    """The JSON event of a ``data:`` line, which must be an object with a ``type``."""
    event = sse_event(provider, line)
    if "type" not in event:
        raise BrokenLineError(provider, line, "no 'type'")
    return event


async def iter_text(
    response: aiohttp.ClientResponse,
    provider: str,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    result: StreamResult | None = None,
) -> AsyncIterator[str]:
    """Yield the answer text of a ``stream: true`` answer, as it arrives.

    Raises :class:`~g4f_lite.errors.UpstreamError` for an ``error`` event,
    :class:`~g4f_lite.errors.BrokenLineError` for a ``data:`` line that is not
    a JSON event with a ``type``, and
    :class:`~g4f_lite.errors.TruncatedResponseError` when the stream closes
    without ``end``. The decoded ``end`` payload is stored in ``result``.
    A plain JSON body (some setups ignore ``stream``) is read as a whole answer.
    """
    plain: list[bytes] | None = None
    seen_event = False
    # A lone `error` event in an application/json answer is the plugin
    # refusing the request before streaming (e.g. a message over the input
    # limit): asking the same site again cannot help.
    json_labelled = response.content_type == "application/json"
    async for line in iter_lines(response, provider, max_line_bytes):
        if plain is not None:
            plain.append(line)
            continue
        if not line.startswith(b"data:"):
            if not seen_event and line.lstrip().startswith(b"{"):
                plain = [line]
            continue
        first_event = not seen_event
        seen_event = True
        event = _event(provider, line)
        kind = event["type"]
        if kind == "live":
            # Newer plugins interleave status/thinking/tool events: not answer text.
            if event.get("subtype") in (None, "content"):
                text = event.get("data")
                if not isinstance(text, str):
                    raise BrokenLineError(provider, line, "a 'live' event without text")
                yield text
        elif kind == "end":
            end = _decode_end(provider, event, line)
            if result is not None:
                result.end = end
            await drain(response)  # so that the connection goes back to the pool
            return
        elif kind == "error":
            raise _error_event(provider, event, refused=first_event and json_labelled)
        # Unknown event types are newer plugins' business: skip them.
    if plain is not None:
        end = parse_reply(provider, b"\n".join(plain))
        if result is not None:
            result.end = end
        yield end.reply
        return
    raise TruncatedResponseError(provider, "the stream closed without an 'end' event")


def parse_reply(provider: str, body: bytes) -> EndPayload:
    """Read a ``stream: false`` answer: ``{"success": true, "reply": ...}``.

    An SSE-framed body (the plugin rejects some requests that way even when
    asked for JSON) is read event by event; ``success: false`` raises
    :class:`~g4f_lite.errors.UpstreamError`.
    """
    text = body.strip()
    if text.startswith(b"data:"):
        parts: list[str] = []
        for line in text.splitlines():
            if not line.startswith(b"data:"):
                continue
            event = _event(provider, line)
            if event["type"] == "error":
                # SSE framing in a JSON answer: refused before answering.
                raise _error_event(provider, event, refused=not parts)
            if event["type"] == "end":
                return _decode_end(provider, event, line)
            if event["type"] == "live" and event.get("subtype") in (None, "content"):
                parts.append(str(event.get("data", "")))
        error = TruncatedResponseError(provider, "the answer ended without an 'end' event")
        error.partial = "".join(parts)
        raise error
    try:
        data = loads_json(text)
    except JSONNestingError:
        raise ProtocolError(provider, "the answer is JSON nested too deep") from None
    except ValueError as exc:
        if text.startswith(b"{") and _ends_early(exc):
            # PHP stopped mid-output (a time limit, a fatal error): the body
            # ended cleanly, but the reply in it is cut short.
            raise TruncatedResponseError(provider, "the JSON answer ended midway") from None
        raise ProtocolError(
            provider, f"the answer is neither JSON nor SSE: {text[:80]!r}"
        ) from None
    return _payload(provider, data, text)


def _ends_early(error: ValueError) -> bool:
    """Whether a JSON error is the text running out, rather than text that is wrong."""
    if not isinstance(error, json.JSONDecodeError):
        return False
    return error.msg.startswith("Unterminated string") or error.pos >= len(error.doc.rstrip())
